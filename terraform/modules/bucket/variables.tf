variable "name" {
  description = "The bucket's name."
  type        = string
}

variable "kms_key_arn" {
  description = "The KMS key objects are encrypted with."
  type        = string
}

variable "log_bucket" {
  description = "Where access logs go; null logs into the bucket itself (for the log bucket)."
  type        = string
  default     = null
}

variable "log_prefix" {
  description = "The prefix of this bucket's access logs."
  type        = string
}

variable "glacier_prefix" {
  description = "Objects under this prefix move to Glacier; null for none."
  type        = string
  default     = null
}

variable "glacier_after_days" {
  description = "Days after which objects under glacier_prefix move to Glacier."
  type        = number
  default     = 90
}

variable "noncurrent_days" {
  description = "Days a replaced or deleted object version is kept."
  type        = number
  default     = 30
}

variable "eventbridge_notifications" {
  description = "Send object events to EventBridge."
  type        = bool
  default     = false
}

variable "force_destroy" {
  description = "Let terraform destroy the bucket with its objects (dev and tests only)."
  type        = bool
  default     = false
}

variable "accepts_access_logs" {
  description = "This bucket receives the access logs of other buckets (and its own)."
  type        = bool
  default     = false
}
