output "lake_url" {
  description = "The lake, as lakejob's --lake."
  value       = module.lakejob.lake_url
}

output "athena_workgroup" {
  description = "The Athena workgroup."
  value       = module.lakejob.athena_workgroup
}

output "repository_url" {
  description = "Where to push the lakejob image."
  value       = module.lakejob.repository_url
}

output "state_machine_arn" {
  description = "The daily pipeline's state machine."
  value       = module.lakejob.state_machine_arn
}
