output "lake_url" {
  description = "The lake, as lakejob's --lake."
  value       = "s3://${module.lake.lake_bucket}/lake"
}

output "athena_workgroup" {
  description = "The Athena workgroup."
  value       = module.catalog.workgroup_name
}

output "glue_databases" {
  description = "The Glue databases by zone."
  value       = module.catalog.database_names
}

output "repository_url" {
  description = "Where to push the lakejob image."
  value       = module.compute.repository_url
}

output "state_machine_arn" {
  description = "The daily pipeline's state machine."
  value       = module.orchestration.state_machine_arn
}

output "alert_topic_arn" {
  description = "The alert topic."
  value       = module.orchestration.alert_topic_arn
}

output "ballista_scheduler_url" {
  description = "The Ballista scheduler (--scheduler), when the stack runs a cluster."
  value       = var.ballista_executors > 0 ? module.ballista[0].scheduler_url : null
}
