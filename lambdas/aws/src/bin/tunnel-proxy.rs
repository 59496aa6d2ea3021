//! tunnel-proxy: public traffic, through a Function URL in RESPONSE_STREAM mode.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tunnel_aws::functions::proxy::run().await
}
