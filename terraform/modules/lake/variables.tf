variable "name" {
  description = "Prefix of every resource name, e.g. lakejob-dev."
  type        = string
}

variable "glacier_after_days" {
  description = "Days after which raw files move to S3 Glacier Flexible Retrieval."
  type        = number
  default     = 90
}

variable "noncurrent_days" {
  description = "Days a replaced or deleted object version is kept."
  type        = number
  default     = 30
}

variable "force_destroy" {
  description = "Let terraform destroy non-empty buckets (dev and tests only)."
  type        = bool
  default     = false
}
