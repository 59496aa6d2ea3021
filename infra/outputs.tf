output "api_url" {
  description = "Base URL of the REST API: tunnel --api-url <this> register"
  value       = "https://${local.api_domain}"
}

output "api_invoke_url" {
  description = "The REST API's execute-api URL (works before the custom domain's DNS has propagated)"
  value       = aws_api_gateway_stage.api.invoke_url
}

output "websocket_url" {
  description = "The WebSocket API URL handed to clients with their session tokens"
  value       = "wss://${local.ws_domain}"
}

output "console_url" {
  description = "The web console"
  value       = "https://${local.console_domain}"
}

output "console_bucket" {
  description = "Bucket to upload the console's build into (aws s3 sync dist/ s3://<this>/)"
  value       = aws_s3_bucket.console.bucket
}

output "console_distribution_id" {
  description = "The console's CloudFront distribution: invalidate it after uploading a build"
  value       = aws_cloudfront_distribution.console.id
}

output "tunnel_base_domain" {
  description = "Tunnels are https://<name>.<this>"
  value       = local.base_domain
}

output "proxy_function_url" {
  description = "tunnel-proxy's Function URL (CloudFront's origin; refuses requests without the origin secret)"
  value       = aws_lambda_function_url.proxy.function_url
}
