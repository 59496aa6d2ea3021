//! authorize-connection: the WebSocket API's `$connect` REQUEST authorizer.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tunnel_aws::functions::websocket::run_authorizer().await
}
