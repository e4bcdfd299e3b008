# The prod environment: 2-vCPU tasks, new raw files start the pipeline, buckets kept on destroy.

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
      environment = "prod"
    }
  }
}

module "lakejob" {
  source               = "../../modules/stack"
  name                 = "lakejob-prod"
  image_tag            = var.image_tag
  subnet_ids           = var.subnet_ids
  security_group_ids   = var.security_group_ids
  glue_database_prefix = "lakejob_"
  task_cpu             = 2048
  task_memory          = 8192
  run_on_new_files     = true
  alert_emails         = var.alert_emails
  quality_alarm_score  = 0.995
}
