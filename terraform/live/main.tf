# One deployment of lakejob; environments differ only in their variables
# (environments/<env>.tfvars) and their state (-backend-config=environments/<env>.backend.hcl).

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
      environment = var.environment
    }
  }
}

module "lakejob" {
  source               = "../modules/stack"
  name                 = "lakejob-${var.environment}"
  image_tag            = var.image_tag
  subnet_ids           = var.subnet_ids
  security_group_ids   = var.security_group_ids
  glue_database_prefix = var.glue_database_prefix
  task_cpu             = var.task_cpu
  task_memory          = var.task_memory
  run_on_new_files     = var.run_on_new_files
  alert_emails         = var.alert_emails
  quality_alarm_score  = var.quality_alarm_score
  force_destroy        = var.force_destroy
}
