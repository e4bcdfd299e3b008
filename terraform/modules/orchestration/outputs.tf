output "state_machine_arn" {
  description = "The pipeline's state machine."
  value       = aws_sfn_state_machine.pipeline.arn
}

output "alert_topic_arn" {
  description = "The SNS topic alerts go to."
  value       = aws_sns_topic.alerts.arn
}
