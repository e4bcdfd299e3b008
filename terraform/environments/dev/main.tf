# The dev environment: small tasks, buckets terraform may empty, alerts to the team.

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
  backend "s3" {}
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      project     = "lakejob"
      environment = "dev"
    }
  }
}

module "lakejob" {
  source               = "../../modules/stack"
  name                 = "lakejob-dev"
  image_tag            = var.image_tag
  subnet_ids           = var.subnet_ids
  security_group_ids   = var.security_group_ids
  glue_database_prefix = "lakejob_dev_"
  task_cpu             = 1024
  task_memory          = 4096
  alert_emails         = var.alert_emails
  force_destroy        = true
}
