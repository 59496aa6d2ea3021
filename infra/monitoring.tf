# Alarms to one SNS topic, and a dashboard. Thresholds are for a small deployment:
# any throttle is worth a look (a throttled relay invocation loses a client message).

resource "aws_sns_topic" "alarms" {
  name              = "${local.prefix}alarms"
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]
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
          metrics = flatten([for name in ["tunnel-proxy", "tunnel-relay"] : [
            ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.fn[name].function_name, { stat = "p50" }],
            ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.fn[name].function_name, { stat = "p99" }],
          ]])
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
          metrics = flatten([for t in keys(local.tables) : [
            for m in ["ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits", "ReadThrottleEvents", "WriteThrottleEvents"] :
            ["AWS/DynamoDB", m, "TableName", local.tables[t].name]
          ]])
        }
      },
    ]
  })
}
