variable "name" {
  description = "Prefix of every resource name, e.g. lakejob-dev."
  type        = string
}

variable "account_id" {
  description = "The AWS account, for Glue ARNs."
  type        = string
}

variable "lake_bucket" {
  description = "The lake bucket's name."
  type        = string
}

variable "lake_bucket_arn" {
  description = "The lake bucket's ARN."
  type        = string
}

variable "kms_key_arn" {
  description = "The KMS key of the lake, the image repository and the logs."
  type        = string
}

variable "glue_database_arns" {
  description = "The Glue databases lakejob registers tables in."
  type        = list(string)
}

variable "glue_database_prefix" {
  description = "The prefix of those databases, passed to lakejob."
  type        = string
}

variable "container_name" {
  description = "The container's name in the task definition (the state machine overrides it)."
  type        = string
  default     = "lakejob"
}

variable "image_tag" {
  description = "The image tag to run (tags are immutable: deploy by changing it)."
  type        = string
}

variable "cpu" {
  description = "Fargate CPU units (2048 = 2 vCPU, the size the benchmarks are measured on)."
  type        = number
  default     = 2048
}

variable "memory" {
  description = "Fargate memory in MiB; lakejob's memory limit is three quarters of it."
  type        = number
  default     = 8192
}

variable "ephemeral_storage_gib" {
  description = "Task disk for spilling, in GiB (21 to 200)."
  type        = number
  default     = 50
}

variable "log_retention_days" {
  description = "How long task logs are kept."
  type        = number
  default     = 365
}

variable "force_destroy" {
  description = "Let terraform delete the repository with its images (dev and tests only)."
  type        = bool
  default     = false
}

variable "scheduler_url" {
  description = "The Ballista scheduler jobs run with --engine ballista use (df://host:port); none when null."
  type        = string
  default     = null
}
