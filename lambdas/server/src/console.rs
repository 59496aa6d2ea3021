//! The web console's static files, served on the bare host at `/`.
//!
//! The console is built once (`scripts/console-build.sh`) into a folder of plain files;
//! this serves that folder (`--console-dir`), or the copy built into the binary by the
//! `console` feature (release builds), plus a `/config.json` made at run time that
//! tells the console where the API is. The same build can therefore be put on any
//! static host (S3 behind CloudFront) with a `config.json` written beside it.

use std::path::{Path, PathBuf};

use http::{HeaderValue, Method, Response, StatusCode, header};

use crate::{Body, full};

/// The file served for `/`.
pub const INDEX: &str = "index.html";

/// A built console: in a folder, or in the binary.
#[derive(Debug, Clone)]
pub struct Console {
    source: Source,
    config: String,
}

#[derive(Debug, Clone)]
enum Source {
    Dir(PathBuf),
    #[cfg(feature = "console")]
    Embedded(&'static include_dir::Dir<'static>),
}

/// The console build the `console` feature put in the binary (see build.rs).
#[cfg(feature = "console")]
static EMBEDDED: include_dir::Dir<'static> = include_dir::include_dir!("$TUNNEL_CONSOLE_EMBED");

/// Whether this binary carries the console (built with the `console` feature).
pub const EMBEDDED_CONSOLE: bool = cfg!(feature = "console");

/// Why a console folder cannot be served.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} has no index.html: build the console into it first (scripts/console-build.sh {})",
    .0.display(),
    .0.display()
)]
pub struct MissingConsole(pub PathBuf);

impl Console {
    /// Serves the console built into `dir`. `api_base_url` goes to `/config.json`;
    /// empty means the API is on the console's own origin.
    pub fn new(dir: &Path, api_base_url: &str) -> Result<Self, MissingConsole> {
        if !dir.join(INDEX).is_file() {
            return Err(MissingConsole(dir.to_owned()));
        }
        Ok(Self {
            source: Source::Dir(dir.to_owned()),
            config: config_json(api_base_url),
        })
    }

    /// The console built into this binary, if it was built with one.
    pub fn embedded(api_base_url: &str) -> Option<Self> {
        #[cfg(feature = "console")]
        {
            Some(Self {
                source: Source::Embedded(&EMBEDDED),
                config: config_json(api_base_url),
            })
        }
        #[cfg(not(feature = "console"))]
        {
            let _ = api_base_url;
            None
        }
    }

    /// The bytes of `name` (a checked relative path), if the build has it.
    async fn read(&self, name: &str) -> Option<Vec<u8>> {
        match &self.source {
            Source::Dir(dir) => tokio::fs::read(dir.join(name)).await.ok(),
            #[cfg(feature = "console")]
            Source::Embedded(dir) => dir.get_file(name).map(|f| f.contents().to_vec()),
        }
    }

    /// The answer for `path`, or `None` when it is not one of the console's files (the
    /// caller answers 404 as for any unknown path).
    pub async fn serve(
        &self,
        method: &Method,
        path: &str,
        accept_encoding: Option<&str>,
    ) -> Option<Response<Body>> {
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        if path == "/config.json" {
            return Some(file_response(
                method,
                self.config.clone().into_bytes(),
                "application/json",
                None,
            ));
        }
        let name = if path == "/" {
            INDEX
        } else {
            safe_relative(path)?
        };
        let mime = mime_of(name)?;
        // Precompressed copies are written by the build; the wasm shrinks to a third.
        if accepts_gzip(accept_encoding)
            && let Some(bytes) = self.read(&format!("{name}.gz")).await
        {
            return Some(file_response(method, bytes, mime, Some("gzip")));
        }
        let bytes = self.read(name).await?;
        Some(file_response(method, bytes, mime, None))
    }
}

fn config_json(api_base_url: &str) -> String {
    serde_json::json!({ "api_base_url": api_base_url }).to_string()
}

/// `path` without its leading `/` when every segment is a plain file name, so no
/// request can reach outside the console's folder.
fn safe_relative(path: &str) -> Option<&str> {
    let rel = path.strip_prefix('/')?;
    let plain = |seg: &str| {
        !seg.is_empty()
            && !seg.starts_with('.')
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    rel.split('/').all(plain).then_some(rel)
}

/// Only the kinds of file a console build holds; anything else is not served.
fn mime_of(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => return None,
    })
}

fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|v| {
        v.split(',').any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or_default().trim();
            let refused = it.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
    })
}

fn file_response(
    method: &Method,
    bytes: Vec<u8>,
    mime: &'static str,
    encoding: Option<&'static str>,
) -> Response<Body> {
    let len = bytes.len();
    let body = if method == Method::HEAD {
        full(Vec::new())
    } else {
        full(bytes)
    };
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    // File names carry no content hash, so the browser must revalidate each load.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(encoding) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(r: Response<Body>) -> Vec<u8> {
        r.into_body().collect().await.unwrap().to_bytes().to_vec()
    }

    #[test]
    fn paths_stay_inside_the_folder() {
        assert_eq!(safe_relative("/app.js"), Some("app.js"));
        assert_eq!(safe_relative("/assets/a-b_c.css"), Some("assets/a-b_c.css"));
        for bad in [
            "/",
            "/../etc/passwd",
            "/a/../../b",
            "/.hidden",
            "/a//b",
            "/a\\b",
            "/%2e%2e/x",
            "relative",
        ] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
        assert_eq!(mime_of("x.wasm"), Some("application/wasm"));
        assert_eq!(mime_of("x.gz"), None);
        assert_eq!(mime_of("Makefile"), None);
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(Some("gzip, deflate, br")));
        assert!(accepts_gzip(Some("br;q=1.0, GZIP;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0, br")));
        assert!(!accepts_gzip(Some("br")));
        assert!(!accepts_gzip(None));
    }

    #[tokio::test]
    async fn serves_files_config_and_precompressed_copies() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Console::new(dir.path(), "").is_err());
        std::fs::write(dir.path().join("index.html"), "<html>").unwrap();
        std::fs::write(dir.path().join("app.wasm"), "raw").unwrap();
        std::fs::write(dir.path().join("app.wasm.gz"), "zipped").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
        let console = Console::new(dir.path(), "http://api.example").unwrap();
        let get = Method::GET;

        let r = console.serve(&get, "/", None).await.unwrap();
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(body(r).await, b"<html>");

        let r = console.serve(&get, "/config.json", None).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body(r).await).unwrap();
        assert_eq!(v["api_base_url"], "http://api.example");

        let r = console
            .serve(&get, "/app.wasm", Some("gzip"))
            .await
            .unwrap();
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(body(r).await, b"zipped");
        let r = console.serve(&get, "/app.wasm", None).await.unwrap();
        assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(body(r).await, b"raw");

        let head = console.serve(&Method::HEAD, "/", None).await.unwrap();
        assert_eq!(head.headers()[header::CONTENT_LENGTH], "6");
        assert!(body(head).await.is_empty());

        assert!(console.serve(&get, "/secret.txt", None).await.is_none());
        assert!(console.serve(&get, "/missing.js", None).await.is_none());
        assert!(console.serve(&Method::POST, "/", None).await.is_none());
    }
}
