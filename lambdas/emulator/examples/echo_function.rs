//! A Lambda function for the emulator's tests, built on `lambda_runtime` like the
//! project's real functions, so the tests exercise the Runtime API as a real bootstrap
//! uses it. The event's `mode` picks the behaviour:
//!
//! | mode | does |
//! | --- | --- |
//! | `echo` (default) | returns the event, its context and the Lambda environment |
//! | `size` | returns the length of the event's `pad` string |
//! | `big` | returns a JSON string whose encoding is exactly `bytes` long |
//! | `stream` | streams `bytes` bytes of a known pattern, Function URL style, with `status` (and `x-echo` twice with `repeat`) |
//! | `stream_error` | streams `bytes` bytes, then fails mid-stream |
//! | `sleep` | sleeps `ms` milliseconds, then answers |
//! | `log` | prints `lines` lines to stdout and stderr, then answers |
//! | `error` | returns an error |
//! | `panic` | panics (the runtime catches it and reports an error) |
//! | `exit` | exits the process with `code` |
//!
//! With `ECHO_FAIL_INIT` set, the process reports `/runtime/init/error` and exits
//! before serving anything.
//!
//! With `ECHO_RAW_RUNTIME` set, it skips `lambda_runtime` and speaks the Runtime API by
//! hand, to send what that crate never does: a streamed response that ends in real
//! HTTP error trailers (event `{"raw": "trailers"}`), or one whose prelude has no
//! delimiter (`{"raw": "no_delimiter"}`).

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::{HeaderMap, HeaderValue, StatusCode};
use lambda_runtime::{
    Error, FunctionResponse, LambdaEvent, MetadataPrelude, StreamResponse, service_fn,
};
use serde_json::{Value, json};

/// Byte `i` of a streamed body is `i % PATTERN_PERIOD`, so a reader can check any
/// chunk without holding the whole body.
const PATTERN_PERIOD: usize = 251;

/// A multiple of the period, so every full chunk is the same bytes.
const CHUNK: usize = PATTERN_PERIOD * 256;

/// The body of a streamed answer.
type Chunks = BoxStream<'static, Result<Bytes, Error>>;

type Answer = FunctionResponse<Value, Chunks>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    if std::env::var_os("ECHO_FAIL_INIT").is_some() {
        report_init_error()?;
        std::process::exit(1);
    }
    if std::env::var_os("ECHO_RAW_RUNTIME").is_some() {
        return raw_runtime();
    }
    println!("echo_function: ready");
    lambda_runtime::run(service_fn(handle)).await
}

async fn handle(event: LambdaEvent<Value>) -> Result<Answer, Error> {
    let (payload, context) = event.into_parts();
    let number = |key: &str| payload.get(key).and_then(Value::as_u64).unwrap_or(0);
    match payload
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("echo")
    {
        "echo" => {
            let env: serde_json::Map<String, Value> = std::env::vars()
                .filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("ECHO_") || k == "TZ")
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            Ok(FunctionResponse::BufferedResponse(json!({
                "event": payload,
                "request_id": context.request_id,
                "arn": context.invoked_function_arn,
                "deadline_ms": context.deadline,
                "trace_id": context.xray_trace_id,
                "env": env,
            })))
        }
        "size" => {
            let len = payload
                .get("pad")
                .and_then(Value::as_str)
                .map_or(0, str::len);
            Ok(FunctionResponse::BufferedResponse(
                json!({ "pad_len": len }),
            ))
        }
        "big" => {
            // The two quotes make the encoding exactly `bytes` long.
            let len = usize::try_from(number("bytes"))
                .unwrap_or(0)
                .saturating_sub(2);
            Ok(FunctionResponse::BufferedResponse(Value::String(
                "a".repeat(len),
            )))
        }
        mode @ ("stream" | "stream_error") => {
            let bytes = usize::try_from(number("bytes")).unwrap_or(0);
            let status = match number("status") {
                0 => 200,
                n => u16::try_from(n)?,
            };
            let fail = mode == "stream_error";
            let mut headers = HeaderMap::new();
            headers.insert(
                "content-type",
                HeaderValue::from_static("application/x-pattern"),
            );
            headers.insert("x-echo", HeaderValue::from_static("yes"));
            if payload.get("repeat") == Some(&Value::Bool(true)) {
                // A header given twice: lambda_runtime writes its values as a list.
                headers.append("x-echo", HeaderValue::from_static("again"));
            }
            Ok(FunctionResponse::StreamingResponse(StreamResponse {
                metadata_prelude: MetadataPrelude {
                    status_code: StatusCode::from_u16(status)?,
                    headers,
                    cookies: vec!["session=abc; Path=/".into()],
                },
                stream: pattern(bytes, fail),
            }))
        }
        "sleep" => {
            tokio::time::sleep(Duration::from_millis(number("ms"))).await;
            Ok(FunctionResponse::BufferedResponse(
                json!({ "slept_ms": number("ms") }),
            ))
        }
        "log" => {
            for i in 0..number("lines") {
                println!("stdout line {i}");
                eprintln!("stderr line {i}");
            }
            Ok(FunctionResponse::BufferedResponse(
                json!({ "logged": number("lines") }),
            ))
        }
        "error" => Err("failure on request".into()),
        "panic" => panic!("panic on request"),
        "exit" => std::process::exit(i32::try_from(number("code")).unwrap_or(1)),
        other => Err(format!("unknown mode {other:?}").into()),
    }
}

/// `bytes` bytes of the pattern, then, if `fail`, a mid-stream error.
fn pattern(bytes: usize, fail: bool) -> Chunks {
    let chunk: Bytes = (0..CHUNK).map(|i| (i % PATTERN_PERIOD) as u8).collect();
    futures_util::stream::unfold(Some(0), move |sent: Option<usize>| {
        let chunk = chunk.clone();
        async move {
            let sent = sent?;
            if sent < bytes {
                let n = CHUNK.min(bytes - sent);
                Some((Ok(chunk.slice(..n)), Some(sent + n)))
            } else if fail {
                Some((Err("stream failed on request".into()), None))
            } else {
                None
            }
        }
    })
    .boxed()
}

/// Reports an init error the way a runtime must when it cannot start.
fn report_init_error() -> Result<(), Error> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")?;
    let body = r#"{"errorType":"EchoInitError","errorMessage":"init failed on request"}"#;
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: Runtime.InitError\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(&api)?;
    stream.write_all(request.as_bytes())?;
    // Read the answer so the report is known to have arrived before the exit.
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    Ok(())
}

/// One HTTP/1.1 exchange with the Runtime API on a fresh connection; returns the
/// response head and body.
fn exchange(request: &[u8]) -> Result<(String, Vec<u8>), Error> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")?;
    let mut stream = std::net::TcpStream::connect(&api)?;
    stream.write_all(request)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of head")?;
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    Ok((head, answer[split + 4..].to_vec()))
}

/// A hand-written runtime loop (see the module docs).
fn raw_runtime() -> Result<(), Error> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")?;
    loop {
        let next = format!(
            "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n"
        );
        let (head, event) = exchange(next.as_bytes())?;
        let id = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("lambda-runtime-aws-request-id")
                    .then(|| value.trim().to_owned())
            })
            .ok_or("no request id")?;
        let event: Value = serde_json::from_slice(&event)?;
        let mut chunk = br#"{"statusCode":202}"#.to_vec();
        let trailers = match event.get("raw").and_then(Value::as_str) {
            Some("no_delimiter") => "",
            _ => {
                chunk.extend_from_slice(&[0; 8]);
                chunk.extend_from_slice(b"partial body");
                // base64("raw failure")
                "Lambda-Runtime-Function-Error-Type: Custom.Failure\r\n\
                 Lambda-Runtime-Function-Error-Body: cmF3IGZhaWx1cmU=\r\n"
            }
        };
        let mut post = format!(
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: {api}\r\n\
             Lambda-Runtime-Function-Response-Mode: streaming\r\n\
             Content-Type: application/vnd.awslambda.http-integration-response\r\n\
             Transfer-Encoding: chunked\r\n\
             Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\
             Connection: close\r\n\r\n{:x}\r\n",
            chunk.len()
        )
        .into_bytes();
        post.extend_from_slice(&chunk);
        post.extend_from_slice(format!("\r\n0\r\n{trailers}\r\n").as_bytes());
        exchange(&post)?;
    }
}
