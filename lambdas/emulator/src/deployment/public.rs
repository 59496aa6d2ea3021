//! Public ingress: what CloudFront does to a viewer's request (its Host, address and
//! the origin secret in headers), and the Function URL that gives it to tunnel-proxy
//! and reads its answer, buffered or streamed, as strictly as AWS does.

use std::net::SocketAddr;

use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, Incoming};
use tunnel_server::{Body, full};

use super::{EDGE_ADDRESS, Emulator, append_headers, events, from_proxy_response};
use crate::runtime::Invocation;
use crate::{Buffered, Head, ResponseError};

impl Emulator {
    pub(super) async fn function_url(
        &self,
        req: Request<Incoming>,
        host: &str,
        remote: SocketAddr,
    ) -> Response<Body> {
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().map(str::to_owned);
        let (mut parts, body) = req.into_parts();
        // What CloudFront does (infra/functions/tunnel-host.js and the origin's custom
        // header): the viewer's Host in x-tunnel-host and address in x-tunnel-viewer,
        // each replacing a caller's, and the secret origin header; the Function URL
        // then sees the edge as its caller.
        use tunnel_aws::functions::proxy::{
            ORIGIN_SECRET_HEADER, TUNNEL_HOST_HEADER, TUNNEL_VIEWER_HEADER,
        };
        parts.headers.remove(TUNNEL_HOST_HEADER);
        if let Ok(v) = HeaderValue::from_str(host) {
            parts
                .headers
                .insert(HeaderName::from_static(TUNNEL_HOST_HEADER), v);
        }
        if let Ok(v) = HeaderValue::from_str(&remote.ip().to_string()) {
            parts
                .headers
                .insert(HeaderName::from_static(TUNNEL_VIEWER_HEADER), v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.origin_secret) {
            parts
                .headers
                .insert(HeaderName::from_static(ORIGIN_SECRET_HEADER), v);
        }
        let Ok(body) = Limited::new(body, crate::limits::MAX_REQUEST_BYTES)
            .collect()
            .await
        else {
            return url_error(
                413,
                "the request body is larger than a Lambda invocation accepts (6 MB)",
            );
        };
        let event = events::function_url_event(
            &method,
            &path,
            query.as_deref(),
            &parts.headers,
            &body.to_bytes(),
            EDGE_ADDRESS,
        );
        let Ok(payload) = serde_json::to_vec(&event) else {
            return url_error(500, "the request could not be encoded as an event");
        };
        match self.functions.invoke("tunnel-proxy", payload).await {
            Ok(Invocation::Streamed { prelude, body }) => {
                let Some(prelude) = prelude else {
                    return invalid_response(&ResponseError::NotJson(
                        "the stream is not an http-integration-response (no prelude)".into(),
                    ));
                };
                let head = match Head::prelude(&prelude) {
                    Ok(head) => head,
                    Err(e) => return invalid_response(&e),
                };
                note_ignored(&head);
                let stream = futures_util::stream::unfold(body, |mut rx| async move {
                    let item = rx.recv().await?;
                    let item = item
                        .map(Frame::data)
                        .map_err(|e| std::io::Error::other(e.to_string()));
                    Some((item, rx))
                });
                let mut resp =
                    Response::new(http_body_util::StreamBody::new(stream).boxed_unsync());
                *resp.status_mut() =
                    StatusCode::from_u16(head.status_code).unwrap_or(StatusCode::BAD_GATEWAY);
                append_headers(resp.headers_mut(), head.lines());
                resp
            }
            Ok(Invocation::Buffered(b)) => match Buffered::parse(&b) {
                Ok(r) => {
                    note_ignored(&r.head);
                    from_proxy_response(events::ProxyResponse {
                        status: r.head.status_code,
                        headers: r.head.lines(),
                        body: r.body,
                    })
                }
                Err(e) => invalid_response(&e),
            },
            Err(e) => {
                let status = match e.invoke_status() {
                    413 => 413,
                    429 => 429,
                    _ => 502,
                };
                url_error(status, &e.to_string())
            }
        }
    }
}

/// A Function URL's own answer when the function gave none it could use: the
/// status AWS documents, its reason phrase as the whole body, and the cause in the
/// log only (on AWS the viewer sees nothing of it; it shows in the function's logs and
/// the URL's 4xx/5xx metrics).
fn url_error(status: u16, cause: &str) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    tracing::warn!(status = status.as_u16(), cause, "Function URL error answer");
    let mut r = Response::new(full(
        status
            .canonical_reason()
            .unwrap_or("Error")
            .as_bytes()
            .to_vec(),
    ));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// 502 for a function response outside the Function URL's contract, as AWS answers
/// one it cannot use.
fn invalid_response(error: &ResponseError) -> Response<Body> {
    url_error(
        502,
        &format!("tunnel-proxy's answer is not a valid Function URL response: {error}"),
    )
}

/// Logs the fields of a Function URL answer that AWS ignores (`multiValueHeaders`,
/// say), which the viewer will not see.
fn note_ignored(head: &Head) {
    if !head.ignored.is_empty() {
        tracing::warn!(
            fields = ?head.ignored,
            "tunnel-proxy's answer has fields outside payload format 2.0; ignored, as on AWS"
        );
    }
}
