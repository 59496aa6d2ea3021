//! replay-request: sends a captured request again through its tunnel.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tunnel_aws::functions::rest::run("replay-request").await
}
