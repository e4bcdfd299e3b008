# The dev stack against moto on 127.0.0.1 (scripts/test): terraform apply, a plan that must show
# no changes, then destroy. moto stands in for AWS; its account is 123456789012.

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}

variable "endpoint" {
  description = "moto's URL (through scripts/aws_proxy.py, which answers the calls moto lacks)."
  type        = string
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  max_retries                 = 1
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {
    athena         = var.endpoint
    cloudwatch     = var.endpoint
    cloudwatchlogs = var.endpoint
    ecr            = var.endpoint
    ecs            = var.endpoint
    eventbridge    = var.endpoint
    glue           = var.endpoint
    iam            = var.endpoint
    kms            = var.endpoint
    s3             = var.endpoint
    scheduler      = var.endpoint
    sfn            = var.endpoint
    sns            = var.endpoint
    sts            = var.endpoint
  }
  default_tags {
    tags = {
      project     = "lakejob"
      environment = "moto"
    }
  }
}

module "lakejob" {
  source             = "../../modules/stack"
  name               = "lakejob-moto"
  image_tag          = "test"
  subnet_ids         = ["subnet-00000001"]
  security_group_ids = ["sg-00000001"]
  force_destroy      = true
}

output "state_machine_arn" {
  description = "The daily pipeline's state machine on moto."
  value       = module.lakejob.state_machine_arn
}
