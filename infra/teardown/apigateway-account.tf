# Teardown stand-in for infra/modules/apigateway-account/main.tf (docs/deploy.md,
# "Teardown"): copied over it and applied, these `removed` blocks make Terraform
# forget the region's API Gateway CloudWatch role setting, and the role it names,
# without destroying them (Terraform >= 1.7). `terraform destroy` itself ignores
# `removed` blocks, so the apply comes first. The variables stay so the root
# module's call is unchanged.

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "prefix" {
  description = "Unused here: kept so the root module's call is unchanged."
  type        = string
}

variable "account_id" {
  description = "Unused here: kept so the root module's call is unchanged."
  type        = string
}

variable "partition" {
  description = "Unused here: kept so the root module's call is unchanged."
  type        = string
}

removed {
  from = aws_api_gateway_account.this

  lifecycle {
    destroy = false
  }
}

removed {
  from = aws_iam_role_policy_attachment.cloudwatch

  lifecycle {
    destroy = false
  }
}

removed {
  from = aws_iam_role.cloudwatch

  lifecycle {
    destroy = false
  }
}
