variable "database_prefix" {
  description = "Prefix of the Glue databases; lakejob's --glue-database-prefix must match."
  type        = string
  default     = "lakejob_"
}

variable "workgroup_name" {
  description = "The Athena workgroup."
  type        = string
}

variable "results_bucket" {
  description = "The bucket Athena writes query results to."
  type        = string
}

variable "kms_key_arn" {
  description = "The KMS key for query results and the catalog."
  type        = string
}

variable "bytes_scanned_cutoff" {
  description = "The most bytes one query may scan before Athena cancels it."
  type        = number
  default     = 10737418240
}

variable "queries_dir" {
  description = "The folder of the shipped named queries."
  type        = string
}

variable "manage_catalog_encryption" {
  description = "Set the account's Glue Data Catalog encryption (once per account and region)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let terraform delete the workgroup with its saved queries (dev and tests only)."
  type        = bool
  default     = false
}
