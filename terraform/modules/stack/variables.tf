variable "name" {
  description = "Prefix of every resource name, e.g. lakejob-dev."
  type        = string
}

variable "image_tag" {
  description = "The lakejob image tag to run."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the job tasks."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups for the job tasks."
  type        = list(string)
}

variable "glue_database_prefix" {
  description = "Prefix of the Glue databases."
  type        = string
  default     = "lakejob_"
}

variable "glacier_after_days" {
  description = "Days after which raw files move to Glacier."
  type        = number
  default     = 90
}

variable "athena_bytes_scanned_cutoff" {
  description = "The most bytes one Athena query may scan."
  type        = number
  default     = 10737418240
}

variable "task_cpu" {
  description = "Fargate CPU units per job task."
  type        = number
  default     = 2048
}

variable "task_memory" {
  description = "Fargate memory (MiB) per job task."
  type        = number
  default     = 8192
}

variable "schedule_expression" {
  description = "When the daily pipeline runs (UTC)."
  type        = string
  default     = "cron(0 2 * * ? *)"
}

variable "run_on_new_files" {
  description = "Also start the pipeline when raw files land."
  type        = bool
  default     = false
}

variable "alert_emails" {
  description = "Addresses for alerts."
  type        = list(string)
  default     = []
}

variable "quality_alarm_score" {
  description = "A quality score under this raises the alarm."
  type        = number
  default     = 0.99
}

variable "manage_catalog_encryption" {
  description = "Set the account's Glue Data Catalog encryption (one environment per account does)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let terraform destroy non-empty buckets and repositories (dev and tests only)."
  type        = bool
  default     = false
}

variable "ballista_executors" {
  description = "Executors of an optional Ballista cluster for jobs run with --engine ballista; 0 runs no cluster. The image must be built with --features ballista."
  type        = number
  default     = 0
}
