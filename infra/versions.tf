# Provider and Terraform versions. CloudFront only accepts ACM certificates from
# us-east-1, so that region gets its own provider alias whatever var.region is.
#
# AWS provider 6.28 is the first with aws_lambda_permission's
# invoked_via_function_url, which the tunnels' Function URL needs (lambda.tf); 7.x
# may remove what 6.x deprecates. tests/infra/provider-schema.json is 6.62's schema.
# Terraform 1.7 for `removed` blocks (infra/teardown/, docs/deploy.md "Teardown").

terraform {
  required_version = ">= 1.7.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.28, < 7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State: configure a remote backend per deployment, e.g.
  #   terraform init -backend-config=... with an `s3` backend block added here.
  # The token and origin secrets are in the state: keep it encrypted and private.
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = local.tags
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
