"""The mistakes check_schema.py --self-test plants, one at a time, into copies of
infra/'s files; each must be reported. Where the mistake is one infra/ had, the
replacement is the old text itself (OLD_*, and the old snippets inline).

Each case: (what, file, text that occurs once in the real file, replacement, a
substring some failure must contain[, options]); option "terraform": "terraform"
or "python" picks the dashboard's evaluator.
"""

# (what, file, text in the real file, replacement, a failure that must mention this)
SCHEMA_MUTATIONS = [
    (
        "unknown resource type",
        "infra/monitoring.tf",
        'resource "aws_sns_topic" "alarms"',
        'resource "aws_sns_topik" "alarms"',
        "aws_sns_topik: no such resource type",
    ),
    (
        "unknown data source type",
        "infra/versions.tf",
        'data "aws_partition" "current"',
        'data "aws_partitions" "current"',
        "aws_partitions: no such data source type",
    ),
    (
        "a real type outside the extract",
        "infra/monitoring.tf",
        'resource "aws_sns_topic_subscription" "email"',
        'resource "aws_sqs_queue" "email"',
        "not in the extracted schema: run",
    ),
    (
        "unknown argument",
        "infra/lambda.tf",
        "  memory_size                    = each.value.memory_size\n",
        "  memory_size                    = each.value.memory_size\n  memory = 128\n",
        "unknown argument memory",
    ),
    (
        "unknown argument in a nested block",
        "infra/dynamodb.tf",
        '      attribute_name = "client_id"\n',
        '      attribute_name = "client_id"\n      attribute_type = "S"\n',
        "unknown argument global_secondary_index.key_schema.attribute_type",
    ),
    (
        "unknown block",
        "infra/cloudfront.tf",
        '  # fragment (yew HashRouter), so every page is "/".\n\n  restrictions {',
        '  # fragment (yew HashRouter), so every page is "/".\n\n  restriction {',
        "unknown block restriction",
    ),
    (
        "missing required argument",
        "infra/lambda.tf",
        '  action                 = "lambda:InvokeFunctionUrl"\n',
        "",
        "missing required argument action",
    ),
    (
        "missing required argument in a nested block",
        "infra/dynamodb.tf",
        '      attribute_name = "created_at"\n      key_type       = "RANGE"\n',
        '      attribute_name = "created_at"\n',
        "missing required argument global_secondary_index.key_schema.key_type",
    ),
    (
        "missing required block",
        "infra/cloudfront.tf",
        '  restrictions {\n    geo_restriction {\n      restriction_type = "none"\n    }\n  }\n\n  viewer_certificate {\n    acm_certificate_arn      = aws_acm_certificate_validation.cloudfront.certificate_arn\n    ssl_support_method       = "sni-only"\n    minimum_protocol_version = "TLSv1.2_2021"\n  }\n}\n\n# ------',
        '  viewer_certificate {\n    acm_certificate_arn      = aws_acm_certificate_validation.cloudfront.certificate_arn\n    ssl_support_method       = "sni-only"\n    minimum_protocol_version = "TLSv1.2_2021"\n  }\n}\n\n# ------',
        "missing required block restrictions",
    ),
    (
        "block written as an argument",
        "infra/dynamodb.tf",
        '  point_in_time_recovery {\n    enabled = true\n  }\n\n  server_side_encryption {\n    enabled = true\n  }\n}\n\nresource "aws_dynamodb_table" "tunnels"',
        '  point_in_time_recovery = {\n    enabled = true\n  }\n\n  server_side_encryption {\n    enabled = true\n  }\n}\n\nresource "aws_dynamodb_table" "tunnels"',
        "point_in_time_recovery is a block, written as an argument",
    ),
    (
        "argument written as a block",
        "infra/monitoring.tf",
        '  dimensions          = { StatusClass = "5xx" }\n',
        '  dimensions {\n    StatusClass = "5xx"\n  }\n',
        "dimensions is an argument, written as a block",
    ),
    (
        "a block the provider allows once, twice",
        "infra/dynamodb.tf",
        '  point_in_time_recovery {\n    enabled = true\n  }\n\n  server_side_encryption {\n    enabled = true\n  }\n}\n\nresource "aws_dynamodb_table" "tunnels"',
        '  point_in_time_recovery {\n    enabled = true\n  }\n\n  point_in_time_recovery {\n    enabled = false\n  }\n\n  server_side_encryption {\n    enabled = true\n  }\n}\n\nresource "aws_dynamodb_table" "tunnels"',
        "block point_in_time_recovery written 2 times",
    ),
    (
        "read-only attribute set",
        "infra/monitoring.tf",
        '  name              = "${local.prefix}alarms"\n',
        '  name              = "${local.prefix}alarms"\n  owner             = "123456789012"\n',
        "owner is read-only",
    ),
    (
        "deprecated GSI hash_key form (the old dynamodb.tf)",
        "infra/dynamodb.tf",
        '    name            = "client_id-index"\n    projection_type = "ALL"\n\n    key_schema {\n      attribute_name = "client_id"\n      key_type       = "HASH"\n    }\n\n    key_schema {\n      attribute_name = "created_at"\n      key_type       = "RANGE"\n    }\n',
        '    name            = "client_id-index"\n    hash_key        = "client_id"\n    range_key       = "created_at"\n    projection_type = "ALL"\n',
        "global_secondary_index.hash_key is deprecated",
    ),
    (
        "reference to an undeclared resource",
        "infra/monitoring.tf",
        "alarm_actions = [aws_sns_topic.alarms.arn]",
        "alarm_actions = [aws_sns_topic.alerts.arn]",
        "reference to undeclared aws_sns_topic.alerts",
    ),
    (
        "reference to an undeclared data source",
        "infra/locals.tf",
        "data.aws_partition.current.partition",
        "data.aws_partition.this.partition",
        "reference to undeclared data.aws_partition.this",
    ),
    (
        "reference to an unknown attribute",
        "infra/cloudfront.tf",
        "aws_lambda_function_url.proxy.function_url)[0]",
        "aws_lambda_function_url.proxy.url)[0]",
        "aws_lambda_function_url.proxy: no attribute url",
    ),
    (
        "reference to an unknown attribute of a data source",
        "infra/locals.tf",
        "data.aws_caller_identity.current.account_id",
        "data.aws_caller_identity.current.account",
        "data.aws_caller_identity.current: no attribute account",
    ),
    (
        "reference to an unknown nested attribute",
        "infra/dns.tf",
        "domain_name_configuration[0].target_domain_name",
        "domain_name_configuration[0].target_domain",
        "no attribute domain_name_configuration.target_domain",
    ),
    (
        "a for_each resource referenced without a key",
        "infra/lambda.tf",
        'function_name      = aws_lambda_function.fn["tunnel-proxy"].function_name',
        "function_name      = aws_lambda_function.fn.function_name",
        "aws_lambda_function.fn has count or for_each: index it",
    ),
    (
        "a single resource referenced with a key",
        "infra/monitoring.tf",
        "alarm_actions = [aws_sns_topic.alarms.arn]",
        'alarm_actions = [aws_sns_topic.alarms["x"].arn]',
        "aws_sns_topic.alarms has no count or for_each",
    ),
    (
        "reference to an undeclared variable",
        "infra/monitoring.tf",
        "threshold           = var.public_5xx_threshold",
        "threshold           = var.public_5xx_limit",
        "reference to undeclared var.public_5xx_limit",
    ),
    (
        "reference to an undeclared local",
        "infra/monitoring.tf",
        'metrics_namespace = "Tunnel"',
        'metric_namespace = "Tunnel"',
        "reference to undeclared local.metrics_namespace",
    ),
    (
        "a provider alias nobody configured",
        "infra/dns.tf",
        '  provider          = aws.us_east_1\n  domain_name       = "*.${local.base_domain}"',
        '  provider          = aws.useast1\n  domain_name       = "*.${local.base_domain}"',
        "provider aws.useast1 is not configured",
    ),
    (
        "unknown provider argument",
        "infra/versions.tf",
        '  region = "us-east-1"\n',
        '  regoin = "us-east-1"\n',
        "unknown argument regoin",
    ),
    (
        "module call without a required variable",
        "infra/apigateway.tf",
        "  prefix     = local.prefix\n",
        "",
        "missing required variable prefix",
    ),
    (
        "module call with an unknown variable",
        "infra/apigateway.tf",
        "  prefix     = local.prefix\n",
        "  prefix     = local.prefix\n  stage      = var.stage\n",
        "has no variable stage",
    ),
    (
        "reference to a module output that does not exist",
        "infra/outputs.tf",
        'output "api_url" {',
        'output "role" {\n  value = module.apigateway_account.role_arn\n}\n\noutput "api_url" {',
        "has no output role_arn",
    ),
    (
        "a removed block for a resource still declared",
        "infra/modules/apigateway-account/main.tf",
        'resource "aws_api_gateway_account" "this" {',
        'removed {\n  from = aws_api_gateway_account.this\n  lifecycle {\n    destroy = false\n  }\n}\n\nresource "aws_api_gateway_account" "this" {',
        "Removed resource still exists",
    ),
]


OLD_DURATION_METRICS = """          metrics = flatten([for name in ["tunnel-proxy", "tunnel-relay"] : [
            ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.fn[name].function_name, { stat = "p50" }],
            ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.fn[name].function_name, { stat = "p99" }],
          ]])
"""
NEW_DURATION_METRICS = """          metrics = [for pair in setproduct(["tunnel-proxy", "tunnel-relay"], ["p50", "p99"]) :
            ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.fn[pair[0]].function_name, { stat = pair[1] }]
          ]
"""
OLD_TABLE_METRICS = """          metrics = flatten([for t in keys(local.tables) : [
            for m in ["ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits", "ReadThrottleEvents", "WriteThrottleEvents"] :
            ["AWS/DynamoDB", m, "TableName", local.tables[t].name]
          ]])
"""
NEW_TABLE_METRICS = """          metrics = [for pair in setproduct(keys(local.tables), ["ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits", "ReadThrottleEvents", "WriteThrottleEvents"]) :
            ["AWS/DynamoDB", pair[1], "TableName", local.tables[pair[0]].name]
          ]
"""
SECOND_PERMISSION = """
resource "aws_lambda_permission" "proxy_url_invoke" {
  #checkov:skip=CKV_AWS_301:The second statement a Function URL with auth NONE needs (see above); the condition limits it to invocations through the function URL, and tunnel-proxy refuses requests without CloudFront's x-origin-verify secret.
  statement_id             = "FunctionUrlInvokeFunction"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.fn["tunnel-proxy"].function_name
  principal                = "*"
  invoked_via_function_url = true
}
"""

# (what, file, text in the real file, replacement, a failure that must mention this, options)
SEMANTIC_MUTATIONS = [
    (
        "dashboard: the old flatten() of the duration rows, by terraform console",
        "infra/monitoring.tf",
        NEW_DURATION_METRICS,
        OLD_DURATION_METRICS,
        "not an array: metrics must be an array of arrays",
        {"terraform": "terraform"},
    ),
    (
        "dashboard: the old flatten() of the duration rows, reproduced in Python",
        "infra/monitoring.tf",
        NEW_DURATION_METRICS,
        OLD_DURATION_METRICS,
        "[evaluated by reproduced in Python]",
        {"terraform": "python"},
    ),
    (
        "dashboard: the old flatten() of the table rows, by terraform console",
        "infra/monitoring.tf",
        NEW_TABLE_METRICS,
        OLD_TABLE_METRICS,
        "widget 'DynamoDB consumed capacity and throttles': metrics[0]",
        {"terraform": "terraform"},
    ),
    (
        "dashboard: the old flatten() of the table rows, reproduced in Python",
        "infra/monitoring.tf",
        NEW_TABLE_METRICS,
        OLD_TABLE_METRICS,
        "widget 'DynamoDB consumed capacity and throttles': metrics[0]",
        {"terraform": "python"},
    ),
    (
        "dashboard: a row without its metric name",
        "infra/monitoring.tf",
        '[local.metrics_namespace, "tunnel_bytes_in_total"]',
        "[local.metrics_namespace]",
        'metrics[0] = ["Tunnel"]',
        {"terraform": "python"},
    ),
    (
        "function URL: only the InvokeFunctionUrl statement (the old lambda.tf)",
        "infra/lambda.tf",
        SECOND_PERMISSION,
        "",
        "no aws_lambda_permission with action lambda:InvokeFunction",
        {},
    ),
    (
        "function URL: InvokeFunction without the function-URL condition",
        "infra/lambda.tf",
        "  invoked_via_function_url = true\n",
        "  invoked_via_function_url = false\n",
        "invoked_via_function_url = true: since October 2025",
        {},
    ),
    (
        "function URL: InvokeFunctionUrl statement missing",
        "infra/lambda.tf",
        '  action                 = "lambda:InvokeFunctionUrl"',
        '  action                 = "lambda:GetFunctionUrlConfig"',
        "action lambda:InvokeFunctionUrl",
        {},
    ),
    (
        "alarm topic: the AWS managed key (the old monitoring.tf)",
        "infra/monitoring.tf",
        "kms_master_key_id = aws_kms_key.alarms.arn",
        'kms_master_key_id = "alias/aws/sns"',
        "alias/aws/sns is an AWS managed key",
        {},
    ),
    (
        "alarm topic: a key CloudWatch may not use",
        "infra/monitoring.tf",
        'identifiers = ["cloudwatch.amazonaws.com"]',
        'identifiers = ["events.amazonaws.com"]',
        "must allow cloudwatch.amazonaws.com kms:Decrypt",
        {},
    ),
    (
        "alarm topic: a key without GenerateDataKey*",
        "infra/monitoring.tf",
        'actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]',
        'actions   = ["kms:Decrypt"]',
        "missing ['kms:GenerateDataKey*']",
        {},
    ),
    (
        "alarm topic: a key without rotation",
        "infra/monitoring.tf",
        "enable_key_rotation     = true",
        "enable_key_rotation     = false",
        "enable_key_rotation must be true",
        {},
    ),
    (
        "alarm topic: a key nobody can manage",
        "infra/monitoring.tf",
        'actions   = ["kms:*"]',
        'actions   = ["kms:DescribeKey"]',
        "keep AWS's default statement",
        {},
    ),
    (
        "CloudFront: the certificate in the deployment's region",
        "infra/dns.tf",
        '  provider          = aws.us_east_1\n  domain_name       = "*.${local.base_domain}"\n',
        '  domain_name       = "*.${local.base_domain}"\n',
        "aws_acm_certificate.cloudfront is created with provider aws (default)",
        {},
    ),
    (
        "CloudFront: the us-east-1 alias pointed elsewhere",
        "infra/versions.tf",
        '  region = "us-east-1"\n',
        "  region = var.region\n",
        "CloudFront takes ACM certificates from us-east-1 only",
        {},
    ),
    (
        "versions: the old ~> 5.60 (the old versions.tf)",
        "infra/versions.tf",
        'version = ">= 6.28, < 7.0"',
        'version = "~> 5.60"',
        "excludes 6.62.0",
        {},
    ),
    (
        "versions: any 6.x",
        "infra/versions.tf",
        'version = ">= 6.28, < 7.0"',
        'version = "~> 6.0"',
        "must admit 6.28.0 and nothing older",
        {},
    ),
    (
        "versions: no upper bound",
        "infra/versions.tf",
        'version = ">= 6.28, < 7.0"',
        'version = ">= 6.28"',
        "must exclude 7.0",
        {},
    ),
    (
        "versions: Terraform older than `removed` blocks (the old >= 1.5.0)",
        "infra/versions.tf",
        'required_version = ">= 1.7.0"',
        'required_version = ">= 1.5.0"',
        "must be >= 1.7.0",
        {},
    ),
    (
        "teardown: a resource of the module not forgotten",
        "infra/teardown/apigateway-account.tf",
        "removed {\n  from = aws_iam_role.cloudwatch\n\n  lifecycle {\n    destroy = false\n  }\n}\n",
        "",
        "no removed block for aws_iam_role.cloudwatch",
        {},
    ),
    (
        "teardown: a removed block that destroys",
        "infra/teardown/apigateway-account.tf",
        "  from = aws_api_gateway_account.this\n\n  lifecycle {\n    destroy = false",
        "  from = aws_api_gateway_account.this\n\n  lifecycle {\n    destroy = true",
        "needs lifecycle { destroy = false }",
        {},
    ),
    (
        "teardown: the stand-in drops a variable the root passes",
        "infra/teardown/apigateway-account.tf",
        'variable "partition" {\n  description = "Unused here: kept so the root module\'s call is unchanged."\n  type        = string\n}\n',
        "",
        "has no variable partition",
        {},
    ),
]
