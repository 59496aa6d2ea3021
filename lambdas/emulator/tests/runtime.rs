//! The Runtime API emulator against a real `lambda_runtime` bootstrap (the
//! `echo_function` example), at AWS's limits and through its failure modes.

#[path = "common/echo.rs"]
mod echo;

use std::time::{Duration, Instant};

use echo::{echo_binary, is_pattern, spec, wait_for_stats};
use serde_json::{Value, json};
use tunnel_emulator::limits::{
    MAX_BUFFERED_RESPONSE_BYTES, MAX_REQUEST_BYTES, MAX_STREAMED_RESPONSE_BYTES,
};
use tunnel_emulator::{
    FunctionSpec, Functions, Head, Invocation, InvokeError, StreamError, ThrottleReason,
};

async fn start(specs: Vec<FunctionSpec>) -> Functions {
    Functions::start(specs).await.expect("valid specs")
}

/// Invokes and expects a buffered JSON answer.
async fn call(functions: &Functions, name: &str, event: Value) -> Result<Value, InvokeError> {
    match functions
        .invoke(name, event.to_string().into_bytes())
        .await?
    {
        Invocation::Buffered(body) => Ok(serde_json::from_slice(&body).expect("JSON answer")),
        Invocation::Streamed { .. } => panic!("expected a buffered answer"),
    }
}

/// The body of a streamed answer: its length, whether it was the pattern, and how it
/// ended.
async fn read_stream(
    mut body: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, StreamError>>,
) -> (u64, bool, Option<StreamError>) {
    let (mut len, mut pattern) = (0u64, true);
    while let Some(chunk) = body.recv().await {
        match chunk {
            Ok(chunk) => {
                pattern &= is_pattern(len, &chunk);
                len += chunk.len() as u64;
            }
            Err(e) => {
                assert!(body.recv().await.is_none(), "nothing follows an error");
                return (len, pattern, Some(e));
            }
        }
    }
    (len, pattern, None)
}

fn streamed(
    invocation: Invocation,
) -> (
    Head,
    tokio::sync::mpsc::Receiver<Result<bytes::Bytes, StreamError>>,
) {
    match invocation {
        Invocation::Streamed {
            prelude: Some(prelude),
            body,
        } => (Head::prelude(&prelude).expect("valid prelude"), body),
        other => panic!("expected a Function URL stream, got {other:?}"),
    }
}

#[tokio::test]
async fn buffered_round_trip_with_the_lambda_context_and_environment() {
    let mut eu = spec("echo-eu");
    eu.env.push(("AWS_REGION".into(), "eu-west-3".into()));
    let functions = start(vec![spec("echo"), eu]).await;

    let before_ms = client_core::clock::now_ms();
    let answer = call(&functions, "echo", json!({"mode": "echo", "n": 1}))
        .await
        .unwrap();
    assert_eq!(answer["event"], json!({"mode": "echo", "n": 1}));
    assert_eq!(answer["request_id"].as_str().unwrap().len(), 36);
    assert_eq!(
        answer["arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:echo"
    );
    let deadline = answer["deadline_ms"].as_u64().unwrap();
    assert!(
        deadline >= before_ms + 4_000 && deadline <= before_ms + 6_000,
        "{deadline}"
    );
    assert!(answer["trace_id"].as_str().unwrap().starts_with("Root=1-"));
    let env = &answer["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "echo");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/echo");
    assert!(
        env["AWS_LAMBDA_LOG_STREAM_NAME"]
            .as_str()
            .unwrap()
            .contains("/[$LATEST]")
    );
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert_eq!(env["ECHO_MARK"], "marked");
    assert_eq!(env["TZ"], ":UTC");

    // A second call reuses the warm instance.
    let again = call(&functions, "echo", json!({"n": 2})).await.unwrap();
    assert_ne!(again["request_id"], answer["request_id"]);
    let stats = &functions.stats()["echo"];
    assert_eq!(
        (stats.invocations, stats.cold_starts, stats.errors),
        (2, 1, 0)
    );

    // The spec's region wins over the default, in the environment and the ARN.
    let answer = call(&functions, "echo-eu", json!({})).await.unwrap();
    assert_eq!(answer["env"]["AWS_REGION"], "eu-west-3");
    assert_eq!(
        answer["arn"],
        "arn:aws:lambda:eu-west-3:123456789012:function:echo-eu"
    );

    let err = functions.invoke("nope", b"{}".to_vec()).await.unwrap_err();
    assert!(matches!(err, InvokeError::UnknownFunction(_)), "{err}");
    functions.shutdown().await;
}

#[tokio::test]
async fn a_streamed_response_is_byte_exact_with_its_prelude() {
    let functions = start(vec![spec("stream")]).await;
    // Past the 6 MB buffered limit, which streaming exists to lift.
    let size = 7 * 1024 * 1024 + 13;
    let event = json!({"mode": "stream", "bytes": size, "status": 201});
    let invocation = functions
        .invoke("stream", event.to_string().into_bytes())
        .await
        .unwrap();
    let (prelude, body) = streamed(invocation);
    assert_eq!(prelude.status_code, 201);
    assert_eq!(
        prelude.header("content-type"),
        Some("application/x-pattern")
    );
    assert_eq!(prelude.header("x-echo"), Some("yes"));
    assert_eq!(prelude.cookies, ["session=abc; Path=/"]);
    let (len, pattern, error) = read_stream(body).await;
    assert_eq!((len, pattern, error), (size, true, None));

    // The instance is idle again once the runtime has finished its POST.
    let stats = wait_for_stats(&functions, "stream", |s| s.busy == 0).await;
    assert_eq!(
        (stats.invocations, stats.errors, stats.instances),
        (1, 0, 1)
    );
    // The instance is given back once the stream is over, and serves again.
    let (_, body) = streamed(
        functions
            .invoke(
                "stream",
                json!({"mode": "stream", "bytes": 0})
                    .to_string()
                    .into_bytes(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(read_stream(body).await, (0, true, None));
    assert_eq!(functions.stats()["stream"].cold_starts, 1);
    functions.shutdown().await;
}

/// `lambda_runtime` writes a header appended twice as a JSON list in the prelude; a
/// Function URL takes one string per header (payload format 2.0), so the contract
/// refuses that prelude, and says to join the values or use `cookies`.
#[tokio::test]
async fn a_prelude_listing_a_headers_values_breaks_the_function_url_contract() {
    let functions = start(vec![spec("repeat")]).await;
    let event = json!({"mode": "stream", "bytes": 10, "repeat": true});
    match functions
        .invoke("repeat", event.to_string().into_bytes())
        .await
        .unwrap()
    {
        Invocation::Streamed {
            prelude: Some(prelude),
            body,
        } => {
            let text = String::from_utf8_lossy(&prelude).into_owned();
            assert!(text.contains(r#""x-echo":["yes","again"]"#), "{text}");
            let err = Head::prelude(&prelude).unwrap_err();
            assert_eq!(
                err,
                tunnel_emulator::ResponseError::HeaderNotString {
                    name: "x-echo".into(),
                    kind: "an array"
                }
            );
            drop(body);
        }
        other => panic!("expected a Function URL stream, got {other:?}"),
    }
    functions.shutdown().await;
}

#[tokio::test]
async fn a_mid_stream_error_ends_the_body_with_the_function_error() {
    let functions = start(vec![spec("stream-error")]).await;
    let event = json!({"mode": "stream_error", "bytes": 100_000});
    let (prelude, body) = streamed(
        functions
            .invoke("stream-error", event.to_string().into_bytes())
            .await
            .unwrap(),
    );
    assert_eq!(prelude.status_code, 200);
    let (len, pattern, error) = read_stream(body).await;
    assert_eq!((len, pattern), (100_000, true));
    match error {
        Some(StreamError::Function { error_type, body }) => {
            assert_eq!(error_type, "Runtime.StreamError");
            assert!(body.contains("stream failed on request"), "{body}");
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    let stats = wait_for_stats(&functions, "stream-error", |s| s.busy == 0).await;
    assert_eq!((stats.invocations, stats.errors), (1, 1));
    // The instance stays warm: a stream error is the function's, not the sandbox's.
    call(&functions, "stream-error", json!({})).await.unwrap();
    assert_eq!(functions.stats()["stream-error"].cold_starts, 1);
    functions.shutdown().await;
}

#[tokio::test]
async fn error_trailers_and_a_missing_prelude_delimiter_per_the_runtime_api() {
    let mut raw = spec("raw");
    raw.env.push(("ECHO_RAW_RUNTIME".into(), "1".into()));
    let functions = start(vec![raw]).await;

    // AWS's documented form: the error in HTTP trailers after the last chunk.
    let event = json!({"raw": "trailers"}).to_string().into_bytes();
    let (prelude, body) = streamed(functions.invoke("raw", event).await.unwrap());
    assert_eq!(prelude.status_code, 202);
    let mut body = body;
    assert_eq!(
        body.recv().await,
        Some(Ok(bytes::Bytes::from_static(b"partial body")))
    );
    assert_eq!(
        body.recv().await,
        Some(Err(StreamError::Function {
            error_type: "Custom.Failure".into(),
            body: "raw failure".into()
        }))
    );
    assert_eq!(body.recv().await, None);

    // A Function URL stream must have its 8-NUL delimiter.
    let event = json!({"raw": "no_delimiter"}).to_string().into_bytes();
    let err = functions.invoke("raw", event).await.unwrap_err();
    assert!(matches!(err, InvokeError::InvalidResponse(_)), "{err}");
    let stats = wait_for_stats(&functions, "raw", |s| s.busy == 0).await;
    assert_eq!(
        (stats.invocations, stats.errors, stats.cold_starts),
        (2, 2, 1)
    );
    functions.shutdown().await;
}

#[tokio::test]
async fn a_streamed_response_is_capped_at_200_mb() {
    let functions = start(vec![spec("stream-cap")]).await;
    let stream = |bytes: u64| {
        json!({"mode": "stream", "bytes": bytes})
            .to_string()
            .into_bytes()
    };

    let (_, body) = streamed(
        functions
            .invoke("stream-cap", stream(MAX_STREAMED_RESPONSE_BYTES))
            .await
            .unwrap(),
    );
    assert_eq!(
        read_stream(body).await,
        (MAX_STREAMED_RESPONSE_BYTES, true, None)
    );

    let (_, body) = streamed(
        functions
            .invoke("stream-cap", stream(MAX_STREAMED_RESPONSE_BYTES + 1))
            .await
            .unwrap(),
    );
    let (len, pattern, error) = read_stream(body).await;
    assert!(len <= MAX_STREAMED_RESPONSE_BYTES && pattern, "{len}");
    assert_eq!(
        error,
        Some(StreamError::TooLarge {
            limit: MAX_STREAMED_RESPONSE_BYTES
        })
    );
    let stats = wait_for_stats(&functions, "stream-cap", |s| s.busy == 0).await;
    assert_eq!((stats.invocations, stats.errors), (2, 1));
    assert_eq!(
        stats.cold_starts, 1,
        "the runtime was answered 413 and lives on"
    );
    functions.shutdown().await;
}

/// An event of exactly `size` bytes whose `pad` the function measures.
fn padded_event(size: usize) -> Vec<u8> {
    let frame = json!({"mode": "size", "pad": ""}).to_string();
    let pad = size - frame.len();
    let event = json!({"mode": "size", "pad": "p".repeat(pad)})
        .to_string()
        .into_bytes();
    assert_eq!(event.len(), size);
    event
}

#[tokio::test]
async fn the_request_payload_limit_is_6_mb_to_the_byte() {
    let functions = start(vec![spec("payload")]).await;
    let at_limit = padded_event(MAX_REQUEST_BYTES);
    let pad = at_limit.len() - json!({"mode": "size", "pad": ""}).to_string().len();
    match functions.invoke("payload", at_limit).await.unwrap() {
        Invocation::Buffered(body) => {
            let answer: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(answer["pad_len"], pad);
        }
        other => panic!("{other:?}"),
    }

    let err = functions
        .invoke("payload", padded_event(MAX_REQUEST_BYTES + 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, InvokeError::RequestTooLarge { size, limit } if size == 6_291_457 && limit == 6_291_456),
        "{err}"
    );
    assert_eq!(err.invoke_status(), 413);
    // Refused before any instance saw it.
    assert_eq!(functions.stats()["payload"].invocations, 1);
    functions.shutdown().await;
}

#[tokio::test]
async fn the_buffered_response_limit_is_6_mb_to_the_byte() {
    let functions = start(vec![spec("big")]).await;
    let big = |bytes: usize| {
        json!({"mode": "big", "bytes": bytes})
            .to_string()
            .into_bytes()
    };
    match functions
        .invoke("big", big(MAX_BUFFERED_RESPONSE_BYTES))
        .await
        .unwrap()
    {
        Invocation::Buffered(body) => assert_eq!(body.len(), MAX_BUFFERED_RESPONSE_BYTES),
        other => panic!("{other:?}"),
    }
    let err = functions
        .invoke("big", big(MAX_BUFFERED_RESPONSE_BYTES + 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, InvokeError::ResponseTooLarge { limit } if limit == MAX_BUFFERED_RESPONSE_BYTES),
        "{err}"
    );
    assert_eq!(err.error_type(), "Function.ResponseSizeTooLarge");
    // The runtime was answered 413 and keeps serving.
    call(&functions, "big", json!({})).await.unwrap();
    let stats = &functions.stats()["big"];
    assert_eq!(
        (stats.invocations, stats.errors, stats.cold_starts),
        (3, 1, 1)
    );
    functions.shutdown().await;
}

#[tokio::test]
async fn a_timeout_kills_the_instance_and_the_next_call_gets_a_new_one() {
    let mut short = spec("slow");
    short.timeout = Duration::from_secs(1);
    let functions = start(vec![short]).await;
    call(&functions, "slow", json!({})).await.unwrap();

    let started = Instant::now();
    let err = call(&functions, "slow", json!({"mode": "sleep", "ms": 30_000}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, InvokeError::Timeout(t) if t == Duration::from_secs(1)),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The killed process leaves the pool once reaped.
    let stats = wait_for_stats(&functions, "slow", |s| s.instances == 0).await;
    assert_eq!((stats.timeouts, stats.errors), (1, 1));
    assert!(stats.max_duration_ms >= 1_000, "{stats:?}");

    let answer = call(&functions, "slow", json!({"mode": "sleep", "ms": 10}))
        .await
        .unwrap();
    assert_eq!(answer["slept_ms"], 10);
    assert_eq!(functions.stats()["slow"].cold_starts, 2);
    functions.shutdown().await;
}

#[tokio::test]
async fn a_timeout_while_streaming_ends_the_body_with_a_timeout() {
    let mut short = spec("slow-stream");
    short.timeout = Duration::from_secs(1);
    // Slow enough to outlast the timeout: the reader never reads, so the runtime's
    // upload stalls on the bounded queue until the deadline.
    let functions = start(vec![short]).await;
    let event = json!({"mode": "stream", "bytes": 64 * 1024 * 1024});
    let (_, mut body) = streamed(
        functions
            .invoke("slow-stream", event.to_string().into_bytes())
            .await
            .unwrap(),
    );
    let stats = wait_for_stats(&functions, "slow-stream", |s| s.timeouts == 1).await;
    assert_eq!(stats.errors, 1);
    let mut last = None;
    while let Some(chunk) = body.recv().await {
        last = Some(chunk);
    }
    assert_eq!(
        last,
        Some(Err(StreamError::Timeout(Duration::from_secs(1))))
    );
    wait_for_stats(&functions, "slow-stream", |s| s.instances == 0).await;
    functions.shutdown().await;
}

#[tokio::test]
async fn past_max_concurrency_invocations_are_throttled() {
    let mut two = spec("busy");
    two.max_concurrency = 2;
    let functions = std::sync::Arc::new(start(vec![two]).await);
    let sleeper = |f: std::sync::Arc<Functions>| async move {
        call(&f, "busy", json!({"mode": "sleep", "ms": 1_500})).await
    };
    let first = tokio::spawn(sleeper(functions.clone()));
    let second = tokio::spawn(sleeper(functions.clone()));
    // Both have taken an instance once they count as invocations.
    wait_for_stats(&functions, "busy", |s| s.invocations == 2).await;

    let err = call(&functions, "busy", json!({})).await.unwrap_err();
    assert!(
        matches!(
            err,
            InvokeError::Throttled {
                limit: 2,
                reason: ThrottleReason::Function,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.invoke_status(), 429);
    assert_eq!(err.error_type(), "TooManyRequestsException");

    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    call(&functions, "busy", json!({})).await.unwrap();
    let stats = &functions.stats()["busy"];
    assert_eq!(
        (
            stats.invocations,
            stats.throttles,
            stats.cold_starts,
            stats.errors
        ),
        (3, 1, 2, 0)
    );
}

/// The account's concurrency is shared by all functions: at the limit (N invocations
/// across two functions, each under its own cap) the next one is throttled with
/// Lambda's account-level reason, and it passes once one of the N has ended.
#[tokio::test]
async fn the_account_concurrency_is_shared_by_all_functions() {
    const N: usize = 3;
    let limits = tunnel_emulator::Limits {
        account_concurrency: N,
        ..tunnel_emulator::Limits::default()
    };
    let functions = std::sync::Arc::new(
        Functions::start_with_limits(vec![spec("a"), spec("b")], limits)
            .await
            .unwrap(),
    );
    let sleeper = |f: std::sync::Arc<Functions>, name: &'static str| async move {
        call(&f, name, json!({"mode": "sleep", "ms": 1_500})).await
    };
    // N in flight: two of `a` (its own cap) and one of `b`.
    let running = [
        tokio::spawn(sleeper(functions.clone(), "a")),
        tokio::spawn(sleeper(functions.clone(), "a")),
        tokio::spawn(sleeper(functions.clone(), "b")),
    ];
    wait_for_stats(&functions, "a", |s| s.invocations == 2).await;
    wait_for_stats(&functions, "b", |s| s.invocations == 1).await;

    // N + 1: `b` has room of its own, the account has none.
    let err = call(&functions, "b", json!({})).await.unwrap_err();
    match &err {
        InvokeError::Throttled { limit, reason, .. } => {
            assert_eq!((*limit, *reason), (N, ThrottleReason::Account));
        }
        other => panic!("expected a throttle, got {other}"),
    }
    assert_eq!(err.invoke_status(), 429);
    assert!(
        err.to_string()
            .contains("ConcurrentInvocationLimitExceeded")
    );

    for r in running {
        r.await.unwrap().unwrap();
    }
    call(&functions, "b", json!({})).await.unwrap();
    assert_eq!(functions.stats()["b"].throttles, 1);
}

#[tokio::test]
async fn a_caller_that_stops_waiting_does_not_leak_the_instance() {
    let mut one = spec("abandoned");
    one.max_concurrency = 1;
    let functions = start(vec![one]).await;
    let event = json!({"mode": "sleep", "ms": 300}).to_string().into_bytes();
    let gave_up = tokio::time::timeout(
        Duration::from_millis(50),
        functions.invoke("abandoned", event),
    )
    .await;
    assert!(gave_up.is_err(), "the call should still be running");
    // The function runs to its end and its instance goes back to the pool.
    let stats = wait_for_stats(&functions, "abandoned", |s| {
        s.busy == 0 && s.invocations == 1
    })
    .await;
    assert_eq!((stats.errors, stats.instances), (0, 1));
    call(&functions, "abandoned", json!({})).await.unwrap();
    let stats = &functions.stats()["abandoned"];
    assert_eq!((stats.cold_starts, stats.throttles), (1, 0));
    functions.shutdown().await;
}

#[tokio::test]
async fn a_crash_fails_its_invocation_and_the_pool_replaces_the_instance() {
    let functions = start(vec![spec("crash")]).await;
    let err = call(&functions, "crash", json!({"mode": "exit", "code": 3}))
        .await
        .unwrap_err();
    match &err {
        InvokeError::Crashed { status } => assert!(status.contains('3'), "{status}"),
        other => panic!("expected a crash, got {other}"),
    }
    assert_eq!(err.error_type(), "Runtime.ExitError");
    call(&functions, "crash", json!({})).await.unwrap();
    let stats = wait_for_stats(&functions, "crash", |s| s.instances == 1).await;
    assert_eq!(
        (stats.invocations, stats.errors, stats.cold_starts),
        (2, 1, 2)
    );
    functions.shutdown().await;
}

#[tokio::test]
async fn function_errors_and_panics_keep_the_instance() {
    let functions = start(vec![spec("failing")]).await;
    let err = call(&functions, "failing", json!({"mode": "error"}))
        .await
        .unwrap_err();
    match &err {
        InvokeError::Function {
            error_message,
            payload,
            ..
        } => {
            assert_eq!(error_message, "failure on request");
            let doc: Value = serde_json::from_slice(payload).unwrap();
            assert_eq!(doc["errorMessage"], "failure on request");
        }
        other => panic!("expected a function error, got {other}"),
    }
    assert!(err.is_function_error());

    // lambda_runtime catches the panic and reports it on /error.
    let err = call(&functions, "failing", json!({"mode": "panic"}))
        .await
        .unwrap_err();
    match &err {
        InvokeError::Function { error_message, .. } => {
            assert!(
                error_message.contains("panic on request"),
                "{error_message}"
            );
        }
        other => panic!("expected a function error, got {other}"),
    }
    call(&functions, "failing", json!({})).await.unwrap();
    let stats = &functions.stats()["failing"];
    assert_eq!(
        (stats.invocations, stats.errors, stats.cold_starts),
        (3, 2, 1)
    );
    functions.shutdown().await;
}

#[tokio::test]
async fn an_init_error_fails_the_invocation_that_started_the_instance() {
    let mut broken = spec("broken");
    broken.env.push(("ECHO_FAIL_INIT".into(), "1".into()));
    let functions = start(vec![broken]).await;
    let err = call(&functions, "broken", json!({})).await.unwrap_err();
    match &err {
        InvokeError::Init {
            error_type,
            error_message,
            ..
        } => {
            assert_eq!(error_type, "EchoInitError");
            assert_eq!(error_message, "init failed on request");
        }
        other => panic!("expected an init error, got {other}"),
    }
    let stats = wait_for_stats(&functions, "broken", |s| s.instances == 0).await;
    assert_eq!(
        (stats.invocations, stats.errors, stats.cold_starts),
        (1, 1, 1)
    );
    functions.shutdown().await;
}

#[tokio::test]
async fn stats_serialize_per_function() {
    let functions = start(vec![spec("counted"), spec("idle")]).await;
    call(&functions, "counted", json!({"mode": "log", "lines": 3}))
        .await
        .unwrap();
    call(&functions, "counted", json!({"mode": "sleep", "ms": 20}))
        .await
        .unwrap();
    let _ = call(&functions, "counted", json!({"mode": "error"})).await;
    let stats = serde_json::to_value(functions.stats()).unwrap();
    let counted = &stats["counted"];
    assert_eq!(counted["invocations"], 3);
    assert_eq!(counted["errors"], 1);
    assert_eq!(counted["throttles"], 0);
    assert_eq!(counted["cold_starts"], 1);
    assert_eq!(counted["instances"], 1);
    assert_eq!(counted["busy"], 0);
    assert!(counted["max_duration_ms"].as_u64().unwrap() >= 20);
    assert!(
        counted["total_duration_ms"].as_u64().unwrap()
            >= counted["max_duration_ms"].as_u64().unwrap()
    );
    assert_eq!(stats["idle"]["invocations"], 0);
    functions.shutdown().await;
}

/// Processes that are children of this test process and run `binary`'s file name.
fn children_named(name: &str) -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc is readable")
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // "pid (comm) state ppid ...": comm may hold spaces, so split at the ')'.
            let Some((head, rest)) = stat.rsplit_once(") ") else {
                return false;
            };
            let comm = head.split_once(" (").map_or("", |(_, c)| c);
            let ppid = rest.split_whitespace().nth(1).unwrap_or("");
            comm == name && ppid == me
        })
        .count()
}

#[tokio::test]
async fn shutdown_kills_the_children() {
    // A copy under its own name, so that parallel tests' instances are not counted.
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("echo_shutdown");
    std::fs::copy(echo_binary(), &binary).unwrap();
    let mut own = spec("shut");
    own.binary = binary;
    let functions = start(vec![own]).await;
    // Two calls at once need two instances.
    let sleep = || call(&functions, "shut", json!({"mode": "sleep", "ms": 300}));
    let (a, b) = tokio::join!(sleep(), sleep());
    a.unwrap();
    b.unwrap();
    assert_eq!(functions.stats()["shut"].instances, 2);
    assert_eq!(children_named("echo_shutdown"), 2);

    functions.shutdown().await;
    assert_eq!(children_named("echo_shutdown"), 0);
}
