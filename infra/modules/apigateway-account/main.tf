# API Gateway's CloudWatch role: one setting per account and region, which every
# REST and WebSocket API there logs through (the stages' access and execution logs
# need it before they can be created).
#
# A module of its own so that a teardown can forget it instead of destroying it:
# with AWS provider 6.x, destroying aws_api_gateway_account resets the region's
# setting, and every other API in the region stops logging. docs/deploy.md
# ("Teardown") swaps this file for infra/teardown/apigateway-account.tf, whose
# `removed` blocks make Terraform forget these three resources and leave them in
# the account; the root module's `depends_on = [module.apigateway_account]` stays
# valid through the swap, which it would not for resources of the root module.

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "prefix" {
  description = "Resource name prefix of the deployment (local.prefix)."
  type        = string
}

variable "account_id" {
  description = "The account whose API Gateway may assume the role."
  type        = string
}

variable "partition" {
  description = "AWS partition of the managed policy ARN (aws, aws-cn, aws-us-gov)."
  type        = string
}

resource "aws_iam_role" "cloudwatch" {
  name = "${var.prefix}apigateway-cloudwatch"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "apigateway.amazonaws.com" }
      Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
    }]
  })
}

resource "aws_iam_role_policy_attachment" "cloudwatch" {
  role       = aws_iam_role.cloudwatch.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  cloudwatch_role_arn = aws_iam_role.cloudwatch.arn
  depends_on          = [aws_iam_role_policy_attachment.cloudwatch]
}
