//! One HTTP request over the browser's `fetch`, for client-core's sans-IO calls.

use client_core::api::{HttpRequest, HttpResponse};
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

/// The request never got an answer (server down, network error, refused by CORS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkError(pub String);

impl std::fmt::Display for NetworkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "could not reach the server ({}); check that it is running and reload",
            self.0
        )
    }
}

fn js_text(v: &JsValue) -> String {
    v.as_string()
        .or_else(|| {
            v.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{v:?}"))
}

/// Sends `request` and reads the whole answer.
pub async fn send(request: &HttpRequest) -> Result<HttpResponse, NetworkError> {
    send_inner(request)
        .await
        .map_err(|e| NetworkError(js_text(&e)))
}

async fn send_inner(request: &HttpRequest) -> Result<HttpResponse, JsValue> {
    let init = RequestInit::new();
    init.set_method(request.method);
    let headers = web_sys::Headers::new()?;
    for (name, value) in &request.headers {
        headers.append(name, value)?;
    }
    init.set_headers(&headers);
    if let Some(body) = &request.body {
        init.set_body(&Uint8Array::from(body.as_slice()));
    }
    let req = Request::new_with_str_and_init(&request.url, &init)?;
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let resp: Response = JsFuture::from(window.fetch_with_request(&req))
        .await?
        .dyn_into()?;
    let buf = JsFuture::from(resp.array_buffer()?).await?;
    Ok(HttpResponse {
        status: resp.status(),
        body: Uint8Array::new(&buf).to_vec(),
    })
}
