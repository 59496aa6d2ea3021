//! tunnel-connect: the WebSocket `connect` route (a client's CONNECT frame).

use tunnel_aws::functions::websocket::{Lifecycle, run};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run(Lifecycle::Connect).await
}
