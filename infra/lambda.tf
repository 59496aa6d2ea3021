# The thirteen functions of tunnel_aws::functions::FUNCTIONS, one per binary in
# lambdas/aws/src/bin/, from the zips scripts/package-lambdas.sh builds
# (target/lambda/<name>.zip, one `bootstrap` for provided.al2023).

locals {
  # name => size. Everything is I/O bound: 128 MB except the two functions that send
  # requests through a tunnel (tunnel-proxy, replay-request): each holds a request,
  # its own return channel and the exchange it captures (docs/cost.md prices 256 MB),
  # for up to 60 s (10 s for an offline tunnel's client to return, 25 s for the
  # answer to start, then the body). REST functions get 10 s, or API Gateway's 29 s
  # integration timeout where they walk a tunnel's request log (count, list, clear:
  # one Query per MB read). A replay slower than 29 s gets API Gateway's 504 while the
  # function finishes it and records it in the log.
  # reserved_concurrency -1 = draw from the account's unreserved pool. A number both
  # guarantees and caps: tunnel-proxy's (var.proxy_reserved_concurrency) bounds what
  # public traffic, however busy one tunnel is, can take from the account;
  # tunnel-relay's (var.relay_reserved_concurrency) keeps client messages flowing
  # whatever else runs (docs/deploy.md, "Concurrency").
  functions = {
    "register-client"      = { memory_size = 128, timeout = 10, reserved_concurrency = -1, description = "POST /v1/clients: new client id and API key" }
    "get-client"           = { memory_size = 128, timeout = 10, reserved_concurrency = -1, description = "GET /v1/clients/me; GET /v1/openapi.json" }
    "issue-token"          = { memory_size = 128, timeout = 10, reserved_concurrency = -1, description = "POST /v1/tokens: short-lived WebSocket session token" }
    "create-tunnel"        = { memory_size = 128, timeout = 29, reserved_concurrency = -1, description = "POST /v1/tunnels: tunnel and domain claim (resuming one counts its request log); PATCH /v1/tunnels/{id}: access policy" }
    "list-tunnels"         = { memory_size = 128, timeout = 29, reserved_concurrency = -1, description = "GET /v1/tunnels and GET /v1/tunnels/{id}, with request log counts" }
    "delete-tunnel"        = { memory_size = 128, timeout = 29, reserved_concurrency = -1, description = "DELETE /v1/tunnels/{id}, with its request log" }
    "inspect-requests"     = { memory_size = 128, timeout = 29, reserved_concurrency = -1, description = "Request log: GET and DELETE /v1/tunnels/{id}/requests, GET /v1/tunnels/{id}/requests/live, GET /v1/requests/{id}" }
    "replay-request"       = { memory_size = 256, timeout = 60, reserved_concurrency = -1, description = "POST /v1/requests/{id}/replay: sends a captured request again through its tunnel" }
    "authorize-connection" = { memory_size = 128, timeout = 10, reserved_concurrency = -1, description = "WebSocket $connect REQUEST authorizer (session token)" }
    "tunnel-connect"       = { memory_size = 128, timeout = 10, reserved_concurrency = -1, description = "WebSocket connect/release routes: binds a connection to a tunnel" }
    "tunnel-disconnect"    = { memory_size = 128, timeout = 10, reserved_concurrency = -1, description = "WebSocket $disconnect: releases the tunnel" }
    "tunnel-relay"         = { memory_size = 128, timeout = 10, reserved_concurrency = var.relay_reserved_concurrency, description = "WebSocket response/body/... routes: relays client frames to a return channel" }
    "tunnel-proxy"         = { memory_size = 256, timeout = 60, reserved_concurrency = var.proxy_reserved_concurrency, description = "Public traffic through a Function URL (RESPONSE_STREAM) behind CloudFront" }
  }

  # Read by every function: backend_from_env() (lambdas/aws/src/functions/mod.rs) and
  # DynamoConfig::from_env() (lambdas/aws/src/config.rs). Not set here on purpose:
  # DYNAMODB_ENDPOINT (emulator only), AWS_REGION and the credentials (Lambda sets
  # them), TUNNEL_PUBLIC_PORT (public URLs are on 443).
  common_env = {
    TUNNEL_CLIENTS_TABLE          = aws_dynamodb_table.clients.name
    TUNNEL_TUNNELS_TABLE          = aws_dynamodb_table.tunnels.name
    TUNNEL_DOMAINS_TABLE          = aws_dynamodb_table.domains.name
    TUNNEL_CONNECTIONS_TABLE      = aws_dynamodb_table.connections.name
    TUNNEL_REQUESTS_TABLE         = aws_dynamodb_table.requests.name
    TUNNEL_INBOX_TABLE            = aws_dynamodb_table.inbox.name
    TUNNEL_RATE_LIMITS_TABLE      = aws_dynamodb_table.rate_limits.name
    TUNNEL_BASE_DOMAIN            = local.base_domain
    TUNNEL_PUBLIC_SCHEME          = "https"
    TUNNEL_WS_URL                 = "wss://${local.ws_domain}"
    TUNNEL_WS_MANAGEMENT_ENDPOINT = local.ws_management_endpoint
    TUNNEL_TOKEN_SECRET           = random_password.token_secret.result
    TUNNEL_WS_MAX_AGE_SECS        = "7200"
    RUST_LOG                      = "info"
  }

  # Read through Proxy::from_env (lambdas/aws/src/functions/proxy.rs, mod env) by the
  # two functions that keep a return channel: tunnel-proxy, and replay-request (the
  # function serving rest::REPLAY_ROUTE). The channel limits are the same for both.
  # TUNNEL_LOG_BUCKET only where the function uses the request log's bucket
  # (local.log_bucket_access in iam.tf).
  function_env = {
    "tunnel-proxy" = {
      TUNNEL_LOG_BUCKET = aws_s3_bucket.log.bucket
      # Unset would disable the check: the Function URL would serve anyone.
      TUNNEL_ORIGIN_SECRET = random_password.origin_secret.result
      # Well under the WebSocket API's 10 min idle and 2 h age caps, so a request
      # taken on the channel has time for its answer before a cap closes it.
      TUNNEL_CHANNEL_MAX_IDLE_SECS = "150"
      TUNNEL_CHANNEL_MAX_AGE_SECS  = "7000"
      # Per tunnel, per warm sandbox (tunnel_backend::limits): past it, 429.
      TUNNEL_PUBLIC_RATE = var.public_rate
    }
    # No origin secret: replays come through the REST API, never the Function URL,
    # so the function has no CloudFront header to check.
    "replay-request" = {
      TUNNEL_CHANNEL_MAX_IDLE_SECS = "150"
      TUNNEL_CHANNEL_MAX_AGE_SECS  = "7000"
      TUNNEL_LOG_BUCKET            = aws_s3_bucket.log.bucket
    }
    "inspect-requests" = {
      TUNNEL_LOG_BUCKET = aws_s3_bucket.log.bucket
    }
    "delete-tunnel" = {
      TUNNEL_LOG_BUCKET = aws_s3_bucket.log.bucket
    }
  }
}

# Signs the 5-minute session tokens (HS256); the code wants at least 32 bytes.
resource "random_password" "token_secret" {
  length  = 64
  special = false
}

# Sent by CloudFront as x-origin-verify; tunnel-proxy refuses requests without it.
resource "random_password" "origin_secret" {
  length  = 48
  special = false
}

resource "aws_cloudwatch_log_group" "fn" {
  #checkov:skip=CKV_AWS_158:Operational logs encrypted with the CloudWatch Logs service key; a customer managed CMK adds cost and key administration for no control the service needs.
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30): operational logs, not an audit trail; a year of them is cost without use.
  for_each          = local.functions
  name              = "/aws/lambda/${local.prefix}${each.key}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "fn" {
  #checkov:skip=CKV_AWS_117:No VPC: the functions reach only DynamoDB and API Gateway over AWS endpoints; a VPC would add NAT or endpoint cost and cold-start latency without isolating anything.
  #checkov:skip=CKV_AWS_116:Every function is invoked synchronously (API Gateway, Function URL); a dead-letter queue only applies to asynchronous invocations.
  #checkov:skip=CKV_AWS_50:X-Ray tracing is optional: the Rust binaries emit no segments, and the JSON logs and CloudWatch metrics cover operations.
  #checkov:skip=CKV_AWS_173:Environment encrypted at rest with the Lambda service key; the two secrets in it are random values Terraform generates, readable only by principals with lambda:GetFunctionConfiguration.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile and pipeline this self-hosted project does not have; the zips are built reproducibly by scripts/package-lambdas.sh.
  for_each = local.functions

  function_name = "${local.prefix}${each.key}"
  description   = each.value.description
  role          = aws_iam_role.fn[each.key].arn

  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  filename         = "${var.lambda_zip_dir}/${each.key}.zip"
  source_code_hash = filebase64sha256("${var.lambda_zip_dir}/${each.key}.zip")

  memory_size                    = each.value.memory_size
  timeout                        = each.value.timeout
  reserved_concurrent_executions = each.value.reserved_concurrency

  environment {
    variables = merge(local.common_env, lookup(local.function_env, each.key, {}))
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.fn[each.key].name
  }

  depends_on = [aws_iam_role_policy.fn]
}

# Public ingress. RESPONSE_STREAM streams answers past 6 MB and past API Gateway's
# 29 s (docs/architecture.md). Auth NONE because CloudFront cannot sign request
# bodies for an IAM-protected URL (OAC for Lambda needs the viewer to send the
# payload hash); the origin stays private through x-origin-verify instead.
resource "aws_lambda_function_url" "proxy" {
  #checkov:skip=CKV_AWS_258:Auth NONE is required behind CloudFront for arbitrary request bodies (see above); tunnel-proxy refuses requests without the x-origin-verify secret.
  function_name      = aws_lambda_function.fn["tunnel-proxy"].function_name
  authorization_type = "NONE"
  invoke_mode        = "RESPONSE_STREAM"
}

# A Function URL with auth NONE needs two public statements since October 2025
# (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html): InvokeFunctionUrl,
# and InvokeFunction allowed only through a function URL (the InvokedViaFunctionUrl
# condition, `invoked_via_function_url`, AWS provider >= 6.28). With the first alone
# the URL answers 403 to every request before the function runs.
resource "aws_lambda_permission" "proxy_url" {
  #checkov:skip=CKV_AWS_301:A Function URL with auth NONE needs this public permission; tunnel-proxy answers 403 to any request without CloudFront's x-origin-verify secret.
  statement_id           = "FunctionUrlAuthNone"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.fn["tunnel-proxy"].function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "proxy_url_invoke" {
  #checkov:skip=CKV_AWS_301:The second statement a Function URL with auth NONE needs (see above); the condition limits it to invocations through the function URL, and tunnel-proxy refuses requests without CloudFront's x-origin-verify secret.
  statement_id             = "FunctionUrlInvokeFunction"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.fn["tunnel-proxy"].function_name
  principal                = "*"
  invoked_via_function_url = true
}
