//! inspect-requests: the request log's REST routes (list, show, clear, live feed).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tunnel_aws::functions::rest::run("inspect-requests").await
}
