//! The REST control plane: its types and a sans-IO client.
//!
//! [`ApiClient`] builds [`HttpRequest`]s and turns [`HttpResponse`]s into typed results;
//! the CLI sends them with its HTTP stack, the web console with the browser's fetch.

use serde::Serialize;

mod call;
mod error;
mod resources;

pub use call::{Call, FromBody, HttpRequest, HttpResponse, NoContent};
pub use error::{ApiError, ApiErrorCode, ErrorBody, ErrorDetail};
pub use resources::{
    ClientInfo, CreateTunnel, Registration, SessionToken, Tunnel, TunnelList, TunnelStats,
    TunnelStatus, UpdateTunnel,
};

/// Builds control-plane requests for one server and key.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base_url: String,
    api_key: Option<String>,
}

impl ApiClient {
    /// A client for the API at `base_url` (e.g. `http://localhost:8080`).
    pub fn new(base_url: &str, api_key: Option<String>) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
        }
    }

    /// The API's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `POST /v1/clients`: register a new client (no key needed).
    pub fn register(&self) -> Call<Registration> {
        self.call("POST", "/v1/clients", None, 201)
    }

    /// `GET /v1/clients/me`: who the key belongs to.
    pub fn me(&self) -> Call<ClientInfo> {
        self.call("GET", "/v1/clients/me", None, 200)
    }

    /// `POST /v1/clients/me/key`: a new API key; the current one stops working.
    pub fn rotate_key(&self) -> Call<Registration> {
        self.call("POST", "/v1/clients/me/key", None, 201)
    }

    /// `POST /v1/tokens`: a short-lived token for the WebSocket endpoint.
    pub fn session_token(&self) -> Call<SessionToken> {
        self.call("POST", "/v1/tokens", None, 201)
    }

    /// `POST /v1/tunnels`: create a tunnel, on `domain` or a random one.
    pub fn create_tunnel(&self, domain: Option<&str>) -> Call<Tunnel> {
        self.create_tunnel_with(&CreateTunnel {
            domain: domain.map(str::to_owned),
            ..CreateTunnel::default()
        })
    }

    /// `POST /v1/tunnels` with every setting.
    pub fn create_tunnel_with(&self, body: &CreateTunnel) -> Call<Tunnel> {
        self.call("POST", "/v1/tunnels", Some(json(body)), 201)
    }

    /// `PATCH /v1/tunnels/{id}`: changes the tunnel's access policy field by field.
    pub fn update_tunnel(&self, tunnel_id: &str, body: &UpdateTunnel) -> Call<Tunnel> {
        self.call(
            "PATCH",
            &format!("/v1/tunnels/{tunnel_id}"),
            Some(json(body)),
            200,
        )
    }

    /// `GET /v1/tunnels`: the caller's tunnels.
    pub fn list_tunnels(&self) -> Call<TunnelList> {
        self.call("GET", "/v1/tunnels", None, 200)
    }

    /// `GET /v1/tunnels/{id}`.
    pub fn get_tunnel(&self, tunnel_id: &str) -> Call<Tunnel> {
        self.call("GET", &format!("/v1/tunnels/{tunnel_id}"), None, 200)
    }

    /// `GET /v1/tunnels/{id}/stats`.
    pub fn tunnel_stats(&self, tunnel_id: &str) -> Call<TunnelStats> {
        self.call("GET", &format!("/v1/tunnels/{tunnel_id}/stats"), None, 200)
    }

    /// `DELETE /v1/tunnels/{id}`.
    pub fn delete_tunnel(&self, tunnel_id: &str) -> Call<NoContent> {
        self.call("DELETE", &format!("/v1/tunnels/{tunnel_id}"), None, 204)
    }

    /// `GET /v1/tunnels/{id}/requests`: a page of the tunnel's captured exchanges,
    /// newest first, after `cursor` (a previous page's `next_cursor`).
    pub fn list_requests(
        &self,
        tunnel_id: &str,
        filter: &crate::inspect::Filter,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Call<crate::inspect::RequestPage> {
        let mut query = filter.to_query();
        let mut add = |k: &str, v: &str| {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&format!("{k}={v}"));
        };
        if let Some(c) = cursor {
            add("cursor", c);
        }
        if let Some(l) = limit {
            add("limit", &l.to_string());
        }
        let sep = if query.is_empty() { "" } else { "?" };
        self.call(
            "GET",
            &format!("/v1/tunnels/{tunnel_id}/requests{sep}{query}"),
            None,
            200,
        )
    }

    /// `GET /v1/requests/{id}`: one captured exchange.
    pub fn get_request(&self, request_id: &str) -> Call<crate::inspect::Exchange> {
        self.call("GET", &format!("/v1/requests/{request_id}"), None, 200)
    }

    /// `DELETE /v1/tunnels/{id}/requests`: empties the tunnel's log.
    pub fn clear_requests(&self, tunnel_id: &str) -> Call<NoContent> {
        self.call(
            "DELETE",
            &format!("/v1/tunnels/{tunnel_id}/requests"),
            None,
            204,
        )
    }

    /// `POST /v1/requests/{id}/replay`: sends the request again with `edits`.
    pub fn replay(
        &self,
        request_id: &str,
        edits: &crate::inspect::ReplayEdits,
    ) -> Call<crate::inspect::Exchange> {
        self.call(
            "POST",
            &format!("/v1/requests/{request_id}/replay"),
            Some(json(edits)),
            201,
        )
    }

    /// `POST /v1/tunnels/{id}/inbox/take`: the oldest request the offline inbox holds,
    /// removed from it.
    pub fn take_held(&self, tunnel_id: &str) -> Call<crate::inbox::Taken> {
        self.call(
            "POST",
            &format!("/v1/tunnels/{tunnel_id}/inbox/take"),
            None,
            200,
        )
    }

    /// `POST /v1/tunnels/{id}/inbox/deliveries`: records how a held request's delivery
    /// went.
    pub fn report_delivery(
        &self,
        tunnel_id: &str,
        report: &crate::inbox::DeliveryReport,
    ) -> Call<crate::inspect::ExchangeSummary> {
        self.call(
            "POST",
            &format!("/v1/tunnels/{tunnel_id}/inbox/deliveries"),
            Some(json(report)),
            201,
        )
    }

    /// URL of the live feed of `tunnel_id` (server-sent events), authenticated by a
    /// session token in the query string for clients that cannot send headers.
    pub fn live_url(&self, tunnel_id: &str, session_token: Option<&str>) -> String {
        let base = format!("{}/v1/tunnels/{tunnel_id}/requests/live", self.base_url);
        match session_token {
            Some(t) => format!("{base}?access_token={t}"),
            None => base,
        }
    }

    fn call<T>(
        &self,
        method: &'static str,
        path: &str,
        body: Option<Vec<u8>>,
        expect: u16,
    ) -> Call<T> {
        let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
        if let Some(key) = &self.api_key {
            headers.push(("authorization".to_owned(), format!("Bearer {key}")));
        }
        if body.is_some() {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
        }
        Call::new(
            HttpRequest {
                method,
                url: format!("{}{path}", self.base_url),
                headers,
                body,
            },
            expect,
        )
    }
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_authorized_requests() {
        let api = ApiClient::new("http://localhost:8080/", Some("k".into()));
        let call = api.create_tunnel(Some("myapp"));
        assert_eq!(call.request.url, "http://localhost:8080/v1/tunnels");
        assert_eq!(call.request.method, "POST");
        assert!(
            call.request
                .headers
                .contains(&("authorization".into(), "Bearer k".into()))
        );
        assert_eq!(
            call.request.body.as_deref(),
            Some(br#"{"domain":"myapp"}"#.as_slice())
        );
    }

    #[test]
    fn parses_success_and_errors() {
        let api = ApiClient::new("http://x", None);
        let call = api.register();
        let ok = HttpResponse {
            status: 201,
            body: br#"{"client_id":"c","api_key":"k"}"#.to_vec(),
        };
        assert_eq!(call.parse(&ok).unwrap().client_id, "c");
        let err = HttpResponse {
            status: 409,
            body: br#"{"error":{"code":"domain_taken","message":"taken"}}"#.to_vec(),
        };
        let e = call.parse(&err).unwrap_err();
        assert_eq!(e.code(), Some(ApiErrorCode::DomainTaken));
        assert_eq!(e.to_string(), "taken");
        let html = HttpResponse {
            status: 502,
            body: b"<html>bad gateway</html>".to_vec(),
        };
        assert!(matches!(
            call.parse(&html),
            Err(ApiError::Unexpected { status: 502, .. })
        ));
        let newer = HttpResponse {
            status: 418,
            body: br#"{"error":{"code":"teapot","message":"m"}}"#.to_vec(),
        };
        assert_eq!(
            call.parse(&newer).unwrap_err().code(),
            Some(ApiErrorCode::Unknown)
        );
    }

    #[test]
    fn delete_expects_no_content() {
        let call = ApiClient::new("http://x", Some("k".into())).delete_tunnel("t1");
        assert_eq!(
            call.parse_empty(&HttpResponse {
                status: 204,
                body: vec![]
            }),
            Ok(NoContent)
        );
    }
}
