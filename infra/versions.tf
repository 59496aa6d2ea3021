# Provider and Terraform versions. CloudFront only accepts ACM certificates from
# us-east-1, so that region gets its own provider alias whatever var.region is.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
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
