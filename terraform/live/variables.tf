variable "environment" {
  description = "The environment's name: dev or prod."
  type        = string
  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment is dev or prod."
  }
}

variable "region" {
  description = "The AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "image_tag" {
  description = "The lakejob image tag to run (pushed to the environment's ECR repository)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the job tasks."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups for the job tasks (egress to S3, Glue, ECR, Logs, Step Functions)."
  type        = list(string)
}

variable "alert_emails" {
  description = "Addresses subscribed to alerts."
  type        = list(string)
  default     = []
}

variable "glue_database_prefix" {
  description = "Prefix of the Glue databases (lakejob's --glue-database-prefix)."
  type        = string
}

variable "task_cpu" {
  description = "Fargate CPU units per job task."
  type        = number
}

variable "task_memory" {
  description = "Fargate memory (MiB) per job task."
  type        = number
}

variable "run_on_new_files" {
  description = "Also start the pipeline when raw files land."
  type        = bool
}

variable "quality_alarm_score" {
  description = "A quality score under this raises the alarm."
  type        = number
}

variable "force_destroy" {
  description = "Let terraform destroy non-empty buckets and repositories (dev only)."
  type        = bool
}
