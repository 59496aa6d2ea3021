//! tunnel-relay: the WebSocket routes after CONNECT (`$default`, response, body,
//! error, ping, channel): passes answers to the proxy that asked.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tunnel_aws::functions::relay::run().await
}
