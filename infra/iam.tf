# One execution role per function, least privilege. What each function may do
# follows what its handlers call (lambdas/backend/src/handlers, through the DynamoDB
# adapter lambdas/aws/src/store.rs):
#   GetItem     get_client, get_tunnel, get_domain, get_connection, get_exchange
#               (strong reads)
#   PutItem     put_client, put_connection, put_exchanges (the request log, one item
#               per exchange); create_tunnel's TransactWriteItems puts
#   UpdateItem  attach_connection, detach_connection, set_policy
#   DeleteItem  delete_connection, delete_tunnel_item, clear_exchanges (item by item);
#               delete_tunnel's transaction
#   Query       on the GSI: list_tunnels (tunnels' client_id-index; get_request
#               looks for a request id in the caller's tunnels); on the tables
#               themselves (a tunnel's partition): list_exchanges,
#               count_exchanges, clear_exchanges (requests), count_held,
#               take_held, and hold_request's recount when full (inbox)
# The inbox: hold_request is UpdateItem (the tunnel's counters) then PutItem;
# take_held is Query, DeleteItem, then UpdateItem (the count).
# TransactWriteItems has no IAM action of its own: each item is authorised as the
# PutItem/DeleteItem it contains (conditions included; no ConditionCheck items).
# Every REST function's authenticate takes an API key or a session token; both end
# in get_client. A wrong one (and a forged token on $connect) costs its source address
# a token of its bucket in rate_limits (auth_limit::failed): get_bucket (GetItem), then
# put_bucket (a conditional PutItem). tests/infra/check_infra.py holds these maps against the handlers
# (reviewed by hand) and against the DynamoDB calls of lambdas/aws/src/store.rs.
# The request log's bucket (logbucket.tf): put_exchanges puts an exchange too large
# for its item (s3:PutObject), get_exchange reads it (s3:GetObject),
# clear_exchanges deletes it (s3:DeleteObject), each on the log/ prefix only;
# local.log_bucket_access follows tunnel_aws::functions::LOG_BUCKET_ACCESS.
# Large bodies in transit (body/ in the same bucket): tunnel-proxy and
# replay-request put a request body and read an answer's (s3:PutObject,
# s3:GetObject), and presign the client's GET and PUT, which act with the same
# rights; local.body_bucket_access follows tunnel_aws::functions::BODY_BUCKET_ACCESS.

locals {
  # function => table (short name) => actions on the table itself.
  table_access = {
    # register_client: put_client.
    "register-client" = { clients = ["dynamodb:PutItem"] }
    # authenticate + client_info: get_client.
    # ... and rotate_key: set_client_key.
    "get-client" = {
      clients     = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
      rate_limits = ["dynamodb:GetItem", "dynamodb:PutItem"]
    }
    # authenticate, then a signed token: no other store access.
    "issue-token" = {
      clients     = ["dynamodb:GetItem"]
      rate_limits = ["dynamodb:GetItem", "dynamodb:PutItem"]
    }
    # authenticate; create_tunnel (transaction: put claim + put tunnel); resume_own
    # reads the claim and the tunnel, sets the policy asked for (set_policy), and
    # counts its log (a Query). PATCH /v1/tunnels/{id}: get_tunnel, set_policy.
    "create-tunnel" = {
      clients     = ["dynamodb:GetItem"]
      tunnels     = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
      domains     = ["dynamodb:GetItem", "dynamodb:PutItem"]
      requests    = ["dynamodb:Query"]
      rate_limits = ["dynamodb:GetItem", "dynamodb:PutItem"]
    }
    # authenticate; get_tunnel (GET /v1/tunnels/{id}); list via the GSI (below) and
    # each tunnel's request_count, a Query of its log's partition.
    "list-tunnels" = {
      clients     = ["dynamodb:GetItem"]
      tunnels     = ["dynamodb:GetItem"]
      requests    = ["dynamodb:Query"]
      rate_limits = ["dynamodb:GetItem", "dynamodb:PutItem"]
    }
    # authenticate; get_tunnel; delete_tunnel (transaction: delete tunnel + claim,
    # or the tunnel alone when the claim is not its own); clear_exchanges (the log's
    # ids by a Query of its partition, then one DeleteItem each).
    "delete-tunnel" = {
      clients     = ["dynamodb:GetItem"]
      tunnels     = ["dynamodb:GetItem", "dynamodb:DeleteItem"]
      domains     = ["dynamodb:DeleteItem"]
      requests    = ["dynamodb:Query", "dynamodb:DeleteItem"]
      rate_limits = ["dynamodb:GetItem", "dynamodb:PutItem"]
    }
    # authenticate; get_tunnel (ownership); get_exchange (GET /v1/requests/{id}, in
    # each of the caller's tunnels, listed through the GSI, below); list_exchanges
    # (the list and the live feed) and clear_exchanges, Queries of the log's
    # partition, clear then deleting item by item.
    # ... and take_held, for the inbox take route this function is to serve.
    "inspect-requests" = {
      clients     = ["dynamodb:GetItem"]
      tunnels     = ["dynamodb:GetItem"]
      requests    = ["dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:Query"]
      inbox       = ["dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:UpdateItem"]
      rate_limits = ["dynamodb:GetItem", "dynamodb:PutItem"]
    }
    # authenticate; get_exchange in the caller's tunnels (listed through the GSI,
    # below) and get_tunnel; then
    # as tunnel-proxy: resolve (get_domain, get_tunnel) and put_exchanges (the replay,
    # linked to the original).
    "replay-request" = {
      clients     = ["dynamodb:GetItem"]
      tunnels     = ["dynamodb:GetItem"]
      domains     = ["dynamodb:GetItem"]
      requests    = ["dynamodb:GetItem", "dynamodb:PutItem"]
      rate_limits = ["dynamodb:GetItem", "dynamodb:PutItem"]
    }
    # Checks the signed session token: no store access, but for a forged one, which
    # costs its source address a token of its failed-authentication bucket.
    "authorize-connection" = { rate_limits = ["dynamodb:GetItem", "dynamodb:PutItem"] }
    # CONNECT: get_tunnel, attach/detach_connection, put_connection.
    # RELEASE: get_connection, detach_connection. Attach clears, and detach sets, the
    # domain claim's expiry (set_claim_expiry), so an inactive name frees itself.
    "tunnel-connect" = {
      tunnels     = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
      domains     = ["dynamodb:UpdateItem"]
      connections = ["dynamodb:GetItem", "dynamodb:PutItem"]
    }
    # get_connection, detach_connection (and the claim's expiry), delete_connection.
    "tunnel-disconnect" = {
      tunnels     = ["dynamodb:UpdateItem"]
      domains     = ["dynamodb:UpdateItem"]
      connections = ["dynamodb:GetItem", "dynamodb:DeleteItem"]
    }
    # Stateless: posts frames to reply_to.
    "tunnel-relay" = {}
    # resolve: get_domain, get_tunnel; put_exchanges: the captured exchange;
    # hold_request while the tunnel's client is away (the proxy wiring is to come).
    "tunnel-proxy" = {
      domains  = ["dynamodb:GetItem"]
      tunnels  = ["dynamodb:GetItem"]
      requests = ["dynamodb:PutItem"]
      inbox    = ["dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:Query"]
    }
  }

  # function => table => actions on the table's GSI (local.table_index).
  index_access = {
    "list-tunnels"     = { tunnels = ["dynamodb:Query"] }
    "inspect-requests" = { tunnels = ["dynamodb:Query"] }
    "replay-request"   = { tunnels = ["dynamodb:Query"] }
  }

  # function => S3 actions on the request log's objects (log/ in aws_s3_bucket.log),
  # as tunnel_aws::functions::LOG_BUCKET_ACCESS; these functions alone get
  # TUNNEL_LOG_BUCKET (lambda.tf).
  log_bucket_access = {
    "tunnel-proxy"     = ["s3:PutObject"]
    "replay-request"   = ["s3:GetObject", "s3:PutObject"]
    "inspect-requests" = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    "delete-tunnel"    = ["s3:DeleteObject"]
  }

  # function => S3 actions on bodies in transit (body/ in aws_s3_bucket.log), as
  # tunnel_aws::functions::BODY_BUCKET_ACCESS.
  body_bucket_access = {
    "tunnel-proxy"   = ["s3:GetObject", "s3:PutObject"]
    "replay-request" = ["s3:GetObject", "s3:PutObject"]
  }

  # function => @connections methods it calls (execute-api:ManageConnections).
  #   tunnel-connect  POSTs CONNECTED/RELEASED/ERROR; DELETEs a taken-over connection
  #   tunnel-relay    POSTs client frames to a return channel (proxy's or replay's)
  #   tunnel-proxy    POSTs REQUEST, BODY, CREDIT, CANCEL to the client
  #   replay-request  the same, for the replayed request
  #   delete-tunnel   POSTs ERROR to a client still serving the deleted tunnel
  # (A return channel is a WebSocket connection opened with a signed session token,
  # like a client's: no IAM permission.)
  ws_manage = {
    "tunnel-connect" = ["POST", "DELETE"]
    "tunnel-relay"   = ["POST"]
    "tunnel-proxy"   = ["POST"]
    "replay-request" = ["POST"]
    "delete-tunnel"  = ["POST"]
  }
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "fn" {
  for_each           = local.functions
  name               = "${local.prefix}${each.key}"
  description        = "Execution role of ${local.prefix}${each.key}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "fn" {
  for_each = local.functions

  # The log group is created by Terraform (lambda.tf), so no logs:CreateLogGroup.
  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.fn[each.key].arn}:log-stream:*"]
  }

  dynamic "statement" {
    for_each = local.table_access[each.key]
    content {
      sid       = "Table${replace(title(statement.key), "_", "")}"
      actions   = statement.value
      resources = [local.tables[statement.key].arn]
    }
  }

  dynamic "statement" {
    for_each = lookup(local.index_access, each.key, {})
    content {
      sid       = "Index${replace(title(statement.key), "_", "")}"
      actions   = statement.value
      resources = ["${local.tables[statement.key].arn}/index/${local.table_index[statement.key]}"]
    }
  }

  dynamic "statement" {
    for_each = contains(keys(local.log_bucket_access), each.key) ? [local.log_bucket_access[each.key]] : []
    content {
      sid       = "RequestLogObjects"
      actions   = statement.value
      resources = ["${aws_s3_bucket.log.arn}/log/*"]
    }
  }

  dynamic "statement" {
    for_each = contains(keys(local.body_bucket_access), each.key) ? [local.body_bucket_access[each.key]] : []
    content {
      sid       = "StoredBodies"
      actions   = statement.value
      resources = ["${aws_s3_bucket.log.arn}/body/*"]
    }
  }

  dynamic "statement" {
    for_each = contains(keys(local.ws_manage), each.key) ? [local.ws_manage[each.key]] : []
    content {
      sid     = "WebSocketConnections"
      actions = ["execute-api:ManageConnections"]
      resources = [
        for method in statement.value :
        "${aws_apigatewayv2_api.ws.execution_arn}/${aws_apigatewayv2_stage.ws.name}/${method}/@connections/*"
      ]
    }
  }
}

resource "aws_iam_role_policy" "fn" {
  for_each = local.functions
  name     = "least-privilege"
  role     = aws_iam_role.fn[each.key].id
  policy   = data.aws_iam_policy_document.fn[each.key].json
}
