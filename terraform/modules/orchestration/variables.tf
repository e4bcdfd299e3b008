variable "name" {
  description = "Prefix of every resource name, e.g. lakejob-dev."
  type        = string
}

variable "pipeline" {
  description = "The pipeline the state machine runs."
  type        = string
  default     = "daily"
}

variable "definition_file" {
  description = "The rendered state machine (lakejob pipeline render <pipeline> --format asl)."
  type        = string
}

variable "cluster_arn" {
  description = "The ECS cluster jobs run on."
  type        = string
}

variable "task_definition_arn" {
  description = "The lakejob task definition revision to run."
  type        = string
}

variable "task_definition_family_arn" {
  description = "The task definition family (any revision), for IAM."
  type        = string
}

variable "task_role_arns" {
  description = "The roles the state machine passes to ECS tasks."
  type        = list(string)
}

variable "container_name" {
  description = "The container to override in the task definition."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the tasks run in (with a route to S3, Glue and Step Functions)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the tasks (egress only)."
  type        = list(string)
}

variable "lake_bucket" {
  description = "The lake bucket, whose new raw files start the pipeline."
  type        = string
}

variable "kms_key_arn" {
  description = "The key for topics, logs and schedules."
  type        = string
}

variable "schedule_expression" {
  description = "When the pipeline runs, in EventBridge Scheduler syntax (UTC)."
  type        = string
  default     = "cron(0 2 * * ? *)"
}

variable "run_on_new_files" {
  description = "Start the pipeline when a raw file lands (besides the schedule)."
  type        = bool
  default     = false
}

variable "alert_emails" {
  description = "Addresses subscribed to the alert topic."
  type        = list(string)
  default     = []
}

variable "quality_alarm_score" {
  description = "A quality score under this raises the alarm."
  type        = number
  default     = 0.99
}

variable "log_retention_days" {
  description = "How long state machine logs are kept."
  type        = number
  default     = 365
}
