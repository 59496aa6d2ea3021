//! What tunnel-proxy (and a replay) answers with: a Function URL's streamed response.
//! Most answers stream the client's body as it comes (`answer`); the ones the function
//! makes itself (a refusal's page, an inbox receipt) are whole, built here.

use bytes::Bytes;
use client_core::protocol::Headers;
use http::StatusCode;
use lambda_runtime::MetadataPrelude;
use lambda_runtime::streaming::Response;
use tunnel_backend::handlers::admission::Refusal;

use super::url_head;

/// A Function URL's streamed response.
pub(super) type Outcome = Response<
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
>;

/// A whole answer: `lines` become the Function URL's head (`url_head::prelude`).
pub(super) fn whole(status: StatusCode, lines: Headers, body: Vec<u8>) -> Outcome {
    whole_with(url_head::prelude(status, lines), body)
}

/// A whole answer under a head already made.
pub(super) fn whole_with(metadata_prelude: MetadataPrelude, body: Vec<u8>) -> Outcome {
    let stream = futures_util::stream::once(async move { Ok(Bytes::from(body)) });
    Response {
        metadata_prelude,
        stream: Box::pin(stream),
    }
}

/// The answer to `refusal` ([`Refusal::page`]).
pub(super) fn answer(refusal: &Refusal) -> Outcome {
    let page = refusal.page();
    let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::BAD_GATEWAY);
    whole(status, page.headers, page.body)
}
