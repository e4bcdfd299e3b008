output "lake_bucket" {
  description = "The lake bucket's name."
  value       = module.lake.name
}

output "lake_bucket_arn" {
  description = "The lake bucket's ARN."
  value       = module.lake.arn
}

output "results_bucket" {
  description = "The Athena results bucket's name."
  value       = module.results.name
}

output "results_bucket_arn" {
  description = "The Athena results bucket's ARN."
  value       = module.results.arn
}

output "kms_key_arn" {
  description = "The KMS key that encrypts the lake, results, logs and topics."
  value       = aws_kms_key.lake.arn
}
