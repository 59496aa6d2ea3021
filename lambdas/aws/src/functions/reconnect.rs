//! tunnel-proxy's patience with a client that is reconnecting (after a drop, or
//! renewing ahead of the WebSocket API's age cap): admission, and the choice of a
//! new connection after the one a request was sent to was found closed, are asked
//! again with growing pauses until the request's deadline.

use std::time::{Duration, Instant};

use client_core::clock::now_ms;
use tunnel_backend::Backend;
use tunnel_backend::handlers::admission::{
    Admission, Admitted, Head, Refusal, Refused, Rules, Source, admit, reroute,
};

/// The first pause; each one after is twice the last, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);

/// The longest pause between two looks.
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// Growing pauses that end by a deadline.
struct Patience {
    pause: Duration,
    deadline: Instant,
}

impl Patience {
    fn until(deadline: Instant) -> Self {
        Self {
            pause: FIRST_PAUSE,
            deadline,
        }
    }

    /// Sleeps the next pause if it ends by the deadline; `false`, at once, if not.
    async fn wait(&mut self) -> bool {
        if Instant::now() + self.pause > self.deadline {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        true
    }
}

/// [`admit`], asked again while the tunnel is offline and not logged until
/// `deadline`. Offline is refused before the rate limit, so the rounds take no
/// tokens; a served tunnel costs one round.
pub(super) async fn admit_waiting(
    backend: &Backend,
    head: &Head<'_>,
    source: Source,
    rules: Rules,
    deadline: Instant,
) -> Admission {
    let mut patience = Patience::until(deadline);
    loop {
        let admission = admit(backend, head, source, rules, now_ms()).await;
        let offline = matches!(
            admission,
            Admission::Refuse(Refused {
                refusal: Refusal::Offline { .. },
                logged: None,
                ..
            })
        );
        if !offline || !patience.wait().await {
            return admission;
        }
    }
}

/// Where `admitted` goes after its connection `gone` was found closed
/// ([`reroute`]), asked again until `deadline` for a client that is reconnecting.
pub(super) async fn reroute_waiting(
    backend: &Backend,
    admitted: Admitted,
    gone: &str,
    source: Source,
    deadline: Instant,
) -> Admission {
    let mut patience = Patience::until(deadline);
    loop {
        if let Some(a) = reroute(backend, &admitted, gone, source, now_ms()).await {
            return a;
        }
        if !patience.wait().await {
            return admitted.connection_gone(source, false);
        }
    }
}
