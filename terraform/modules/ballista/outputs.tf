output "scheduler_url" {
  description = "Pass as --scheduler (LAKEJOB_SCHEDULER) with --engine ballista."
  value       = "df://${local.scheduler_host}:${local.scheduler_port}"
}

output "security_group_id" {
  description = "The cluster's security group."
  value       = aws_security_group.cluster.id
}
