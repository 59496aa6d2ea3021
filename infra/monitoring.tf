# Alarms to one SNS topic, and a dashboard. Thresholds are for a small deployment:
# any throttle is worth a look (a throttled relay invocation loses a client message).

# Encrypted with a key of our own: CloudWatch alarms publish to the topic as the
# service principal cloudwatch.amazonaws.com, which must be allowed to use the
# topic's key (kms:GenerateDataKey*, kms:Decrypt). The AWS managed key alias/aws/sns
# does not allow it and its policy cannot be changed, so under it every alarm action
# fails ("CloudWatch Alarms does not have authorization to access the SNS topic
# encryption key") and nobody is told. https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns,
# https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
resource "aws_sns_topic" "alarms" {
  name              = "${local.prefix}alarms"
  kms_master_key_id = aws_kms_key.alarms.arn
}

resource "aws_kms_key" "alarms" {
  description             = "${local.prefix}alarms: the SNS alarm topic's messages"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.alarms_key.json
}

resource "aws_kms_alias" "alarms" {
  name          = "alias/${local.prefix}alarms"
  target_key_id = aws_kms_key.alarms.key_id
}

# In a key policy "*" as the resource is the key itself.
data "aws_iam_policy_document" "alarms_key" {
  #checkov:skip=CKV_AWS_109:A key policy's resource "*" is this key only; the account's own IAM policies decide who administers it (AWS's default key policy statement).
  #checkov:skip=CKV_AWS_111:A key policy's resource "*" is this key only; the account's own IAM policies decide who administers it (AWS's default key policy statement).
  #checkov:skip=CKV_AWS_356:A key policy's resource "*" is this key only.
  # AWS's default statement: the account's IAM policies decide who manages the key.
  # Without it nobody could change this policy again (and AWS refuses to set it).
  statement {
    sid       = "AccountIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch alarms of this account publishing to the encrypted topic.
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]

  # The functions' own metrics, printed as CloudWatch Embedded Metric Format lines:
  # names, dimensions and namespace are tunnel_backend::telemetry's (the same names
  # the local stack serves at /metrics). tests/tests/observability.rs checks every
  # metric and dimension named here against the code.
  metrics_namespace = "Tunnel"
  # telemetry::ERROR_KINDS
  error_kinds = ["unknown_tunnel", "store", "tunnel_offline", "origin_refused", "origin_timeout", "origin_failed", "timeout", "too_large", "refused", "client_disconnected"]
}

resource "aws_cloudwatch_metric_alarm" "public_5xx" {
  alarm_name          = "${local.prefix}public-5xx"
  alarm_description   = "Public requests answered 5xx across all tunnels (offline tunnels, refused or slow origins, the store unreachable); the errors-by-kind widget says which"
  namespace           = local.metrics_namespace
  metric_name         = "tunnel_requests_total"
  dimensions          = { StatusClass = "5xx" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.public_5xx_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "store_errors" {
  alarm_name          = "${local.prefix}proxy-store-errors"
  alarm_description   = "tunnel-proxy could not read the store (DynamoDB errors or throttling): public requests got 503"
  namespace           = local.metrics_namespace
  metric_name         = "tunnel_errors_total"
  dimensions          = { Kind = "store" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "proxy_latency_p99" {
  alarm_name          = "${local.prefix}proxy-latency-p99"
  alarm_description   = "p99 time from a public request to its answer's head: slow origins or a struggling return channel"
  namespace           = local.metrics_namespace
  metric_name         = "tunnel_proxy_latency_seconds"
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.proxy_p99_latency_threshold_secs
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "rate_limited" {
  alarm_name          = "${local.prefix}rate-limited"
  alarm_description   = "Public requests refused 429 by a tunnel's rate limit: a tunnel under a flood, or TUNNEL_PUBLIC_RATE too low"
  namespace           = local.metrics_namespace
  metric_name         = "tunnel_rate_limited_total"
  dimensions          = { Scope = "tunnel" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 100
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each = local.functions

  alarm_name          = "${local.prefix}${each.key}-errors"
  alarm_description   = "${each.key}: invocations ending in an error (a crash, a timeout, a configuration error at start-up)"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.fn[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 5
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  for_each = local.functions

  alarm_name          = "${local.prefix}${each.key}-throttles"
  alarm_description   = "${each.key}: throttled invocations (for tunnel-relay each one is a lost client message: raise relay_reserved_concurrency)"
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.fn[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "proxy_p99_duration" {
  alarm_name          = "${local.prefix}tunnel-proxy-p99-duration"
  alarm_description   = "tunnel-proxy p99 duration: origins answering slowly, or the return channel failing (the proxy waits up to 25 s, then 504s)"
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = aws_lambda_function.fn["tunnel-proxy"].function_name }
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.proxy_p99_duration_threshold_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "rest_5xx" {
  alarm_name          = "${local.prefix}api-5xx"
  alarm_description   = "REST API answers 5xx (function errors, or the store unreachable)"
  namespace           = "AWS/ApiGateway"
  metric_name         = "5XXError"
  dimensions          = { ApiName = aws_api_gateway_rest_api.api.name, Stage = aws_api_gateway_stage.api.stage_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 5
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "ws_errors" {
  for_each = toset(["IntegrationError", "ExecutionError"])

  alarm_name          = "${local.prefix}ws-${lower(each.key)}"
  alarm_description   = "WebSocket API ${each.key}: messages whose route failed (lost frames)"
  namespace           = "AWS/ApiGateway"
  metric_name         = each.key
  dimensions          = { ApiId = aws_apigatewayv2_api.ws.id, Stage = aws_apigatewayv2_stage.ws.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 5
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  for_each = { for pair in setproduct(keys(local.tables), ["ReadThrottleEvents", "WriteThrottleEvents"]) : "${pair[0]}-${pair[1]}" => { table = pair[0], metric = pair[1] } }

  alarm_name          = "${local.prefix}${each.value.table}-${lower(each.value.metric)}"
  alarm_description   = "DynamoDB ${each.value.metric} on ${local.tables[each.value.table].name} (on-demand tables throttle on sudden jumps past twice the previous peak)"
  namespace           = "AWS/DynamoDB"
  metric_name         = each.value.metric
  dimensions          = { TableName = local.tables[each.value.table].name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = "${local.prefix}overview"
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 18, width = 12, height = 6
        properties = {
          title   = "Public requests by status class", region = var.region, stat = "Sum", period = 60, view = "timeSeries"
          metrics = [for c in ["2xx", "3xx", "4xx", "5xx"] : [local.metrics_namespace, "tunnel_requests_total", "StatusClass", c]]
        }
      },
      {
        type = "metric", x = 12, y = 18, width = 12, height = 6
        properties = {
          title   = "Public request errors by kind", region = var.region, stat = "Sum", period = 60, view = "timeSeries"
          metrics = [for k in local.error_kinds : [local.metrics_namespace, "tunnel_errors_total", "Kind", k]]
        }
      },
      {
        type = "metric", x = 0, y = 24, width = 12, height = 6
        properties = {
          title = "Proxy latency to the answer's head (p50, p99)", region = var.region, period = 60, view = "timeSeries"
          metrics = [
            [local.metrics_namespace, "tunnel_proxy_latency_seconds", { stat = "p50" }],
            [local.metrics_namespace, "tunnel_proxy_latency_seconds", { stat = "p99" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 24, width = 12, height = 6
        properties = {
          title = "Public bytes in and out", region = var.region, stat = "Sum", period = 60, view = "timeSeries"
          metrics = [
            [local.metrics_namespace, "tunnel_bytes_in_total"],
            [local.metrics_namespace, "tunnel_bytes_out_total"],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 30, width = 12, height = 6
        properties = {
          title = "Tunnel connections, disconnections and rate-limit refusals", region = var.region, stat = "Sum", period = 60, view = "timeSeries"
          metrics = [
            [local.metrics_namespace, "tunnel_connections_total"],
            [local.metrics_namespace, "tunnel_disconnects_total"],
            [local.metrics_namespace, "tunnel_rate_limited_total", "Scope", "tunnel"],
            [local.metrics_namespace, "tunnel_rate_limited_total", "Scope", "api"],
            [local.metrics_namespace, "tunnel_rate_limited_total", "Scope", "auth"],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "Lambda invocations", region = var.region, stat = "Sum", period = 60, view = "timeSeries"
          metrics = [for name in keys(local.functions) : ["AWS/Lambda", "Invocations", "FunctionName", aws_lambda_function.fn[name].function_name]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title = "Lambda errors and throttles", region = var.region, stat = "Sum", period = 60, view = "timeSeries"
          metrics = concat(
            [for name in keys(local.functions) : ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.fn[name].function_name]],
            [for name in keys(local.functions) : ["AWS/Lambda", "Throttles", "FunctionName", aws_lambda_function.fn[name].function_name]],
          )
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title = "tunnel-proxy and tunnel-relay duration (p50, p99)", region = var.region, period = 60, view = "timeSeries"
          # One row per function and statistic. Not flatten(): it would flatten the
          # rows too, and PutDashboard wants `metrics` as an array of arrays.
          metrics = [for pair in setproduct(["tunnel-proxy", "tunnel-relay"], ["p50", "p99"]) :
            ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.fn[pair[0]].function_name, { stat = pair[1] }]
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "WebSocket API", region = var.region, stat = "Sum", period = 60, view = "timeSeries"
          metrics = [for m in ["ConnectCount", "MessageCount", "IntegrationError", "ClientError", "ExecutionError"] : ["AWS/ApiGateway", m, "ApiId", aws_apigatewayv2_api.ws.id, "Stage", aws_apigatewayv2_stage.ws.name]]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title   = "REST API", region = var.region, stat = "Sum", period = 60, view = "timeSeries"
          metrics = [for m in ["Count", "4XXError", "5XXError"] : ["AWS/ApiGateway", m, "ApiName", aws_api_gateway_rest_api.api.name, "Stage", aws_api_gateway_stage.api.stage_name]]
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title = "DynamoDB consumed capacity and throttles", region = var.region, stat = "Sum", period = 60, view = "timeSeries"
          metrics = [for pair in setproduct(keys(local.tables), ["ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits", "ReadThrottleEvents", "WriteThrottleEvents"]) :
            ["AWS/DynamoDB", pair[1], "TableName", local.tables[pair[0]].name]
          ]
        }
      },
    ]
  })
}
