//! The sans-IO exchange: the [`HttpRequest`] a driver sends, the [`HttpResponse`] it
//! hands back, and a [`Call`] that knows which status means success and how to read
//! the body.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use super::ApiError;
use super::error::error_from;

/// An HTTP request for the driver to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method.
    pub method: &'static str,
    /// Absolute URL.
    pub url: String,
    /// Headers to set.
    pub headers: Vec<(String, String)>,
    /// JSON body, if any.
    pub body: Option<Vec<u8>>,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// A request together with how to read its answer.
#[derive(Debug)]
pub struct Call<T> {
    /// The request to send.
    pub request: HttpRequest,
    expect: u16,
    _out: PhantomData<fn() -> T>,
}

impl<T> Call<T> {
    /// `request`, whose success is `expect` (201 also takes 200).
    pub(super) fn new(request: HttpRequest, expect: u16) -> Self {
        Self {
            request,
            expect,
            _out: PhantomData,
        }
    }
}

/// Marker output for calls whose success has no body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoContent;

/// Outputs a [`Call`] can produce from a success body.
pub trait FromBody: Sized {
    /// Reads the body.
    fn from_body(body: &[u8]) -> Result<Self, String>;
}

impl<T: DeserializeOwned> FromBody for T {
    fn from_body(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }
}

impl<T: FromBody> Call<T> {
    /// Reads the answer to [`Self::request`].
    pub fn parse(&self, response: &HttpResponse) -> Result<T, ApiError> {
        parse_response(self.expect, response)
    }
}

impl Call<NoContent> {
    /// Reads the answer to a call that returns no body.
    pub fn parse_empty(&self, response: &HttpResponse) -> Result<NoContent, ApiError> {
        if response.status == self.expect {
            Ok(NoContent)
        } else {
            Err(error_from(response))
        }
    }
}

fn parse_response<T: FromBody>(expect: u16, response: &HttpResponse) -> Result<T, ApiError> {
    // 200 for a resumed resource where 201 is usual for a new one: both are success.
    if response.status != expect && !(expect == 201 && response.status == 200) {
        return Err(error_from(response));
    }
    T::from_body(&response.body).map_err(|detail| ApiError::Unexpected {
        status: response.status,
        detail,
    })
}
