variable "region" {
  description = "The AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "image_tag" {
  description = "The lakejob image tag to run (pushed to the environment's ECR repository)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the job tasks."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups for the job tasks (egress to S3, Glue, ECR, Logs, Step Functions)."
  type        = list(string)
}

variable "alert_emails" {
  description = "Addresses subscribed to alerts."
  type        = list(string)
  default     = []
}
