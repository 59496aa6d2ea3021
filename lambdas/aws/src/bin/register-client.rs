//! register-client: a REST control-plane function (routes in `tunnel_aws::functions::rest::ROUTES`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tunnel_aws::functions::rest::run("register-client").await
}
