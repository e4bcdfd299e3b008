output "database_names" {
  description = "The Glue databases by zone."
  value       = { for zone, db in aws_glue_catalog_database.zone : zone => db.name }
}

output "database_arns" {
  description = "The Glue database ARNs, for IAM policies."
  value       = [for db in aws_glue_catalog_database.zone : db.arn]
}

output "workgroup_name" {
  description = "The Athena workgroup."
  value       = aws_athena_workgroup.this.name
}
