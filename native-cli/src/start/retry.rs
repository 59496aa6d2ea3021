//! Waiting out a server that cannot be reached: API calls retried with backoff, the
//! wait shown on the live screen, and every wait cut short by the stop signal.

use client_core::api::{ApiClient, Call, FromBody};
use client_core::session::Backoff;
use tokio::sync::watch;

use crate::api::{Api, CallError};
use crate::screen::{Connection, Screen};

/// Makes an API call, waiting out an unreachable or failing server. `None` when
/// stopped meanwhile.
pub(super) async fn retrying<T: FromBody>(
    api: &Api,
    backoff: &mut Backoff,
    stop: &mut watch::Receiver<bool>,
    screen: Option<&Screen>,
    build: impl Fn(&ApiClient) -> Call<T>,
) -> Result<Option<T>, CallError> {
    loop {
        let result = tokio::select! {
            result = api.call(&build) => result,
            () = stopped(stop.clone()) => return Ok(None),
        };
        match result {
            Ok(value) => return Ok(Some(value)),
            Err(e) if e.is_transient() => {
                if !pause(backoff, stop, screen, &e.to_string()).await {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The run's first call. A server that has never answered is a wrong URL or one not
/// started: after [`crate::api::STARTUP_TRIES`] tries that ends the command with a
/// hint. Once anything answered, failures are waited out as in [`retrying`]. `None`
/// when stopped meanwhile.
pub(super) async fn first_contact<T: FromBody>(
    api: &Api,
    backoff: &mut Backoff,
    stop: &mut watch::Receiver<bool>,
    screen: Option<&Screen>,
    build: impl Fn(&ApiClient) -> Call<T>,
) -> Result<Option<T>, CallError> {
    let first = tokio::select! {
        result = api.call_at_startup(&build) => result,
        () = stopped(stop.clone()) => return Ok(None),
    };
    match first {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.is_transient() => {
            if !pause(backoff, stop, screen, &e.to_string()).await {
                return Ok(None);
            }
            retrying(api, backoff, stop, screen, build).await
        }
        Err(e) => Err(e),
    }
}

/// Says what went wrong and waits the next backoff delay. False when stopped meanwhile.
pub(super) async fn pause(
    backoff: &mut Backoff,
    stop: &mut watch::Receiver<bool>,
    screen: Option<&Screen>,
    what: &str,
) -> bool {
    let delay = backoff.next_delay(rand::random());
    eprintln!("{what}; retrying in {:.1}s", delay.as_secs_f64());
    if let Some(screen) = screen {
        screen.update(|m, now| {
            m.handle_connection_state(Connection::Reconnecting {
                at: now + delay,
                reason: what.to_owned(),
            });
        });
    }
    let waited = tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = stopped(stop.clone()) => false,
    };
    if let Some(screen) = screen {
        screen.update(|m, _| m.handle_connection_state(Connection::Connecting));
    }
    waited
}

/// Completes once `stop` turns true; never, if its sender is gone without doing so.
pub async fn stopped(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}
