# Two APIs.
#
# Control plane: a REST API (v1), not an HTTP API. The functions parse the REST
# API's proxy event (aws_lambda_events::apigw::ApiGatewayProxyRequest, payload 1.0:
# httpMethod/path), and the REST API gives per-stage method throttling, execution
# logs and usage metrics per method. Routes are exactly
# tunnel_aws::functions::rest::ROUTES (lambdas/aws/src/functions/rest.rs); each
# function also refuses routes it does not serve, so a miswired route fails loudly.
#
# Data plane: a WebSocket API routed on $request.body.action with the routes of
# tunnel_aws::functions::WS_ROUTES. $connect runs only the REQUEST authorizer
# (authorize-connection), as the emulator does (lambdas/emulator/src/deployment/
# websocket.rs): its integration is a MOCK answering 200, so a connection costs one
# invocation and nothing is ever posted from $connect (410 Gone there).

# ---------------------------------------------------------------- REST API

locals {
  # "METHOD path" => function, as ROUTES.
  rest_routes = {
    "POST /v1/clients"        = "register-client"
    "GET /v1/clients/me"      = "get-client"
    "POST /v1/clients/me/key" = "get-client"
    #checkov:skip=CKV_SECRET_6:False positive: a route key and a function name, not a secret.
    "POST /v1/tokens"                        = "issue-token"
    "POST /v1/tunnels"                       = "create-tunnel"
    "GET /v1/tunnels"                        = "list-tunnels"
    "GET /v1/tunnels/{id}"                   = "list-tunnels"
    "PATCH /v1/tunnels/{id}"                 = "create-tunnel"
    "DELETE /v1/tunnels/{id}"                = "delete-tunnel"
    "GET /v1/tunnels/{id}/stats"             = "inspect-requests"
    "GET /v1/tunnels/{id}/requests"          = "inspect-requests"
    "DELETE /v1/tunnels/{id}/requests"       = "inspect-requests"
    "GET /v1/tunnels/{id}/requests/live"     = "inspect-requests"
    "GET /v1/requests/{id}"                  = "inspect-requests"
    "POST /v1/requests/{id}/replay"          = "replay-request"
    "POST /v1/tunnels/{id}/inbox/take"       = "inspect-requests"
    "POST /v1/tunnels/{id}/inbox/deliveries" = "inspect-requests"
    "GET /v1/openapi.json"                   = "get-client"
  }

  # path => API Gateway resource (the tree below). /v1/requests has no method of its
  # own: it is only the parent of /v1/requests/{id}.
  rest_resource_ids = {
    "/v1/clients"                       = aws_api_gateway_resource.clients.id
    "/v1/clients/me"                    = aws_api_gateway_resource.clients_me.id
    "/v1/clients/me/key"                = aws_api_gateway_resource.clients_me_key.id
    "/v1/tokens"                        = aws_api_gateway_resource.tokens.id
    "/v1/tunnels"                       = aws_api_gateway_resource.tunnels.id
    "/v1/tunnels/{id}"                  = aws_api_gateway_resource.tunnel.id
    "/v1/tunnels/{id}/stats"            = aws_api_gateway_resource.tunnel_stats.id
    "/v1/tunnels/{id}/requests"         = aws_api_gateway_resource.tunnel_requests.id
    "/v1/tunnels/{id}/requests/live"    = aws_api_gateway_resource.tunnel_requests_live.id
    "/v1/requests/{id}"                 = aws_api_gateway_resource.request.id
    "/v1/requests/{id}/replay"          = aws_api_gateway_resource.request_replay.id
    "/v1/tunnels/{id}/inbox/take"       = aws_api_gateway_resource.tunnel_inbox_take.id
    "/v1/tunnels/{id}/inbox/deliveries" = aws_api_gateway_resource.tunnel_inbox_deliveries.id
    "/v1/openapi.json"                  = aws_api_gateway_resource.openapi.id
  }
}

resource "aws_api_gateway_rest_api" "api" {
  name        = "${local.prefix}api"
  description = "Tunnel control plane: clients, tokens, tunnels, request log and replay"

  lifecycle {
    create_before_destroy = true
  }

  endpoint_configuration {
    types = ["REGIONAL"]
  }
}

resource "aws_api_gateway_resource" "v1" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_rest_api.api.root_resource_id
  path_part   = "v1"
}

resource "aws_api_gateway_resource" "clients" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.v1.id
  path_part   = "clients"
}

resource "aws_api_gateway_resource" "clients_me" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.clients.id
  path_part   = "me"
}

resource "aws_api_gateway_resource" "clients_me_key" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.clients_me.id
  path_part   = "key"
}

resource "aws_api_gateway_resource" "tokens" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.v1.id
  path_part   = "tokens"
}

resource "aws_api_gateway_resource" "tunnels" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.v1.id
  path_part   = "tunnels"
}

resource "aws_api_gateway_resource" "tunnel" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.tunnels.id
  path_part   = "{id}"
}

resource "aws_api_gateway_resource" "tunnel_stats" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.tunnel.id
  path_part   = "stats"
}

resource "aws_api_gateway_resource" "tunnel_requests" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.tunnel.id
  path_part   = "requests"
}

resource "aws_api_gateway_resource" "tunnel_requests_live" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.tunnel_requests.id
  path_part   = "live"
}

# /v1/tunnels/{id}/inbox has no method of its own, like /v1/requests.
resource "aws_api_gateway_resource" "tunnel_inbox" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.tunnel.id
  path_part   = "inbox"
}

resource "aws_api_gateway_resource" "tunnel_inbox_take" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.tunnel_inbox.id
  path_part   = "take"
}

resource "aws_api_gateway_resource" "tunnel_inbox_deliveries" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.tunnel_inbox.id
  path_part   = "deliveries"
}

resource "aws_api_gateway_resource" "requests" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.v1.id
  path_part   = "requests"
}

resource "aws_api_gateway_resource" "request" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.requests.id
  path_part   = "{id}"
}

resource "aws_api_gateway_resource" "request_replay" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.request.id
  path_part   = "replay"
}

resource "aws_api_gateway_resource" "openapi" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.v1.id
  path_part   = "openapi.json"
}

resource "aws_api_gateway_method" "route" {
  #checkov:skip=CKV_AWS_59:Authorization is in the functions: a bearer API key checked against its stored SHA-256 in constant time, or a signed session token (register and the OpenAPI document are public by design). A gateway authorizer would add an invocation per call and duplicate that check.
  #checkov:skip=CKV2_AWS_53:Requests are validated by the functions (typed JSON bodies, subdomain rules); API Gateway models would duplicate client_core::api.
  for_each = local.rest_routes

  rest_api_id   = aws_api_gateway_rest_api.api.id
  resource_id   = local.rest_resource_ids[split(" ", each.key)[1]]
  http_method   = split(" ", each.key)[0]
  authorization = "NONE"
}

resource "aws_api_gateway_integration" "route" {
  for_each = local.rest_routes

  rest_api_id             = aws_api_gateway_rest_api.api.id
  resource_id             = aws_api_gateway_method.route[each.key].resource_id
  http_method             = aws_api_gateway_method.route[each.key].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_function.fn[each.value].invoke_arn
}

resource "aws_lambda_permission" "rest" {
  for_each = local.rest_routes

  statement_id  = "RestApi-${trim(replace(lower(each.key), "/[^a-z0-9]+/", "-"), "-")}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fn[each.value].function_name
  principal     = "apigateway.amazonaws.com"
  # arn:...:execute-api:region:account:api/stage/METHOD/path, {id} as *.
  source_arn = "${aws_api_gateway_rest_api.api.execution_arn}/${aws_api_gateway_stage.api.stage_name}/${split(" ", each.key)[0]}${replace(split(" ", each.key)[1], "/\\{[^}]+\\}/", "*")}"
}

resource "aws_api_gateway_deployment" "api" {
  rest_api_id = aws_api_gateway_rest_api.api.id

  triggers = {
    redeployment = sha1(jsonencode([
      local.rest_routes,
      [for m in aws_api_gateway_method.route : m.id],
      [for i in aws_api_gateway_integration.route : [i.id, i.uri]],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "rest_access" {
  #checkov:skip=CKV_AWS_158:Operational logs encrypted with the CloudWatch Logs service key; a customer managed CMK adds cost and key administration for no control the service needs.
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30): operational logs, not an audit trail.
  name              = "/aws/apigateway/${local.prefix}api/access"
  retention_in_days = var.log_retention_days
}

resource "aws_api_gateway_stage" "api" {
  #checkov:skip=CKV_AWS_120:Responses are per-caller and change on every write (tunnels, tokens): nothing is cacheable.
  #checkov:skip=CKV_AWS_73:X-Ray tracing is optional: the functions emit no segments; access logs and metrics cover operations.
  #checkov:skip=CKV2_AWS_51:Clients authenticate with API keys; mutual TLS would need a client PKI the CLI and console do not have.
  #checkov:skip=CKV2_AWS_29:No WAF: per-stage throttling bounds abuse and a web ACL costs at least $5/month plus per request, more than the idle service itself.
  rest_api_id   = aws_api_gateway_rest_api.api.id
  deployment_id = aws_api_gateway_deployment.api.id
  stage_name    = var.stage

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.rest_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      ip                 = "$context.identity.sourceIp"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      resourcePath       = "$context.resourcePath"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integration.error"
    })
  }

  depends_on = [module.apigateway_account]
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:Caching is off on purpose: responses are per-caller and change on every write (see CKV_AWS_120 on the stage).
  rest_api_id = aws_api_gateway_rest_api.api.id
  stage_name  = aws_api_gateway_stage.api.stage_name
  method_path = "*/*"

  settings {
    throttling_burst_limit = var.rest_throttling_burst_limit
    throttling_rate_limit  = var.rest_throttling_rate_limit
    metrics_enabled        = true
    logging_level          = "ERROR"
    # Request bodies carry API keys: never log them.
    data_trace_enabled = false
    caching_enabled    = false
  }
}

resource "aws_api_gateway_domain_name" "api" {
  domain_name              = local.api_domain
  regional_certificate_arn = aws_acm_certificate_validation.regional.certificate_arn
  security_policy          = "TLS_1_2"

  endpoint_configuration {
    types = ["REGIONAL"]
  }
}

resource "aws_api_gateway_base_path_mapping" "api" {
  api_id      = aws_api_gateway_rest_api.api.id
  stage_name  = aws_api_gateway_stage.api.stage_name
  domain_name = aws_api_gateway_domain_name.api.domain_name
}

# API Gateway writes execution and access logs through one role per account and
# region, set by the module (which also says why it is a module). If the account
# has one already, import it or drop this.
module "apigateway_account" {
  source     = "./modules/apigateway-account"
  prefix     = local.prefix
  account_id = local.account_id
  partition  = local.partition
}

# Where these were before they moved into the module: existing deployments keep
# the same objects.
moved {
  from = aws_iam_role.apigateway_cloudwatch
  to   = module.apigateway_account.aws_iam_role.cloudwatch
}

moved {
  from = aws_iam_role_policy_attachment.apigateway_cloudwatch
  to   = module.apigateway_account.aws_iam_role_policy_attachment.cloudwatch
}

moved {
  from = aws_api_gateway_account.this
  to   = module.apigateway_account.aws_api_gateway_account.this
}

# ---------------------------------------------------------------- WebSocket API

locals {
  # route key => function, as WS_ROUTES except $connect (the authorizer, below).
  ws_routes = {
    "$disconnect" = "tunnel-disconnect"
    "connect"     = "tunnel-connect"
    "release"     = "tunnel-connect"
    "response"    = "tunnel-relay"
    "body"        = "tunnel-relay"
    "error"       = "tunnel-relay"
    "ping"        = "tunnel-relay"
    "pong"        = "tunnel-relay"
    "channel"     = "tunnel-relay"
    "$default"    = "tunnel-relay"
  }

  # What the functions post to: @connections of this stage, by the execute-api
  # host (custom domains do not serve @connections for every mapping shape).
  ws_management_endpoint = "https://${aws_apigatewayv2_api.ws.id}.execute-api.${var.region}.amazonaws.com/${aws_apigatewayv2_stage.ws.name}"
}

resource "aws_apigatewayv2_api" "ws" {
  name                       = "${local.prefix}ws"
  description                = "Tunnel data plane: CLI connections, relayed frames, proxy return channels"
  protocol_type              = "WEBSOCKET"
  route_selection_expression = "$request.body.action"
}

resource "aws_apigatewayv2_authorizer" "connect" {
  api_id           = aws_apigatewayv2_api.ws.id
  name             = "${local.prefix}session-token"
  authorizer_type  = "REQUEST"
  authorizer_uri   = aws_lambda_function.fn["authorize-connection"].invoke_arn
  identity_sources = ["route.request.querystring.token"]
}

resource "aws_lambda_permission" "authorizer" {
  statement_id  = "WebSocketAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fn["authorize-connection"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.ws.execution_arn}/authorizers/${aws_apigatewayv2_authorizer.connect.id}"
}

# $connect: the authorizer decides; the route itself does nothing but accept.
resource "aws_apigatewayv2_integration" "connect" {
  api_id                        = aws_apigatewayv2_api.ws.id
  integration_type              = "MOCK"
  template_selection_expression = "\\$default"
  request_templates = {
    "$default" = jsonencode({ statusCode = 200 })
  }
}

resource "aws_apigatewayv2_integration_response" "connect" {
  api_id                   = aws_apigatewayv2_api.ws.id
  integration_id           = aws_apigatewayv2_integration.connect.id
  integration_response_key = "/200/"
}

resource "aws_apigatewayv2_route" "connect" {
  api_id             = aws_apigatewayv2_api.ws.id
  route_key          = "$connect"
  authorization_type = "CUSTOM"
  authorizer_id      = aws_apigatewayv2_authorizer.connect.id
  target             = "integrations/${aws_apigatewayv2_integration.connect.id}"
}

# One Lambda proxy integration per function, shared by its routes.
resource "aws_apigatewayv2_integration" "ws" {
  for_each = toset(values(local.ws_routes))

  api_id             = aws_apigatewayv2_api.ws.id
  integration_type   = "AWS_PROXY"
  integration_method = "POST"
  integration_uri    = aws_lambda_function.fn[each.key].invoke_arn
}

resource "aws_apigatewayv2_route" "ws" {
  #checkov:skip=CKV_AWS_309:WebSocket APIs run authorizers on $connect only (authorized above); later routes inherit that connection's identity from the authorizer context.
  for_each = local.ws_routes

  api_id    = aws_apigatewayv2_api.ws.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.ws[each.value].id}"
}

resource "aws_lambda_permission" "ws" {
  for_each = local.ws_routes

  statement_id  = "WebSocket-${replace(each.key, "$", "")}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fn[each.value].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.ws.execution_arn}/${aws_apigatewayv2_stage.ws.name}/${each.key}"
}

resource "aws_cloudwatch_log_group" "ws_access" {
  #checkov:skip=CKV_AWS_158:Operational logs encrypted with the CloudWatch Logs service key; a customer managed CMK adds cost and key administration for no control the service needs.
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30): operational logs, not an audit trail.
  name              = "/aws/apigateway/${local.prefix}ws/access"
  retention_in_days = var.log_retention_days
}

resource "aws_apigatewayv2_stage" "ws" {
  #checkov:skip=CKV2_AWS_51:Connections authenticate with a signed session token on $connect; mutual TLS would need a client PKI the CLI does not have.
  api_id      = aws_apigatewayv2_api.ws.id
  name        = var.stage
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit   = var.ws_throttling_burst_limit
    throttling_rate_limit    = var.ws_throttling_rate_limit
    detailed_metrics_enabled = true
    logging_level            = "ERROR"
    # Frames carry tunnelled request and response bodies: never log them.
    data_trace_enabled = false
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.ws_access.arn
    format = jsonencode({
      requestId         = "$context.requestId"
      ip                = "$context.identity.sourceIp"
      requestTime       = "$context.requestTime"
      eventType         = "$context.eventType"
      routeKey          = "$context.routeKey"
      status            = "$context.status"
      connectionId      = "$context.connectionId"
      integrationError  = "$context.integrationErrorMessage"
      authorizerError   = "$context.authorizer.error"
      integrationStatus = "$context.integrationStatus"
    })
  }

  depends_on = [module.apigateway_account]
}

resource "aws_apigatewayv2_domain_name" "ws" {
  domain_name = local.ws_domain

  domain_name_configuration {
    certificate_arn = aws_acm_certificate_validation.regional.certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }
}

resource "aws_apigatewayv2_api_mapping" "ws" {
  api_id      = aws_apigatewayv2_api.ws.id
  domain_name = aws_apigatewayv2_domain_name.ws.id
  stage       = aws_apigatewayv2_stage.ws.id
}
