output "cluster_arn" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "task_definition_arn" {
  description = "The lakejob task definition (this revision)."
  value       = aws_ecs_task_definition.lakejob.arn
}

output "task_definition_family_arn" {
  description = "The task definition family, any revision, for IAM."
  value       = replace(aws_ecs_task_definition.lakejob.arn, "/:\\d+$/", ":*")
}

output "container_name" {
  description = "The container's name."
  value       = var.container_name
}

output "role_arns" {
  description = "The execution and task roles the state machine passes to ECS."
  value       = [aws_iam_role.execution.arn, aws_iam_role.task.arn]
}

output "repository_url" {
  description = "Where to push the image."
  value       = aws_ecr_repository.lakejob.repository_url
}

output "log_group_name" {
  description = "The tasks' log group."
  value       = aws_cloudwatch_log_group.tasks.name
}
