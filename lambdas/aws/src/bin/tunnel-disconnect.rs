//! tunnel-disconnect: the WebSocket `$disconnect` route.

use tunnel_aws::functions::websocket::{Lifecycle, run};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run(Lifecycle::Disconnect).await
}
