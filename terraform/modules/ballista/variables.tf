variable "name" {
  description = "Prefix of every resource name, e.g. lakejob-prod."
  type        = string
}

variable "vpc_id" {
  description = "The VPC the cluster runs in (the subnets' VPC)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the scheduler and executors, with routes to S3, Glue, ECR and CloudWatch Logs."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups of the lakejob job tasks that send plans to the cluster (--engine ballista)."
  type        = list(string)
}

variable "ecs_cluster_arn" {
  description = "The ECS cluster the services run in."
  type        = string
}

variable "image" {
  description = "The lakejob image, built with --features ballista (repository_url:tag)."
  type        = string
}

variable "execution_role_arn" {
  description = "The role that pulls the image and writes logs."
  type        = string
}

variable "task_role_arn" {
  description = "The role the processes run as: executors read raw files and write to the lake."
  type        = string
}

variable "log_group_name" {
  description = "The CloudWatch log group of the tasks."
  type        = string
}

variable "lake_url" {
  description = "The lake, s3://bucket/prefix, which executors read and write."
  type        = string
}

variable "executor_count" {
  description = "Executors to run; each takes as many tasks at once as it has vCPUs."
  type        = number
  default     = 2
  validation {
    condition     = var.executor_count >= 1
    error_message = "A cluster needs at least one executor."
  }
}

variable "executor_cpu" {
  description = "Fargate CPU units of an executor."
  type        = number
  default     = 4096
}

variable "executor_memory" {
  description = "Fargate memory of an executor in MiB; its memory limit is three quarters of it."
  type        = number
  default     = 16384
}

variable "scheduler_cpu" {
  description = "Fargate CPU units of the scheduler (it plans and tracks tasks; it reads no data)."
  type        = number
  default     = 512
}

variable "scheduler_memory" {
  description = "Fargate memory of the scheduler in MiB."
  type        = number
  default     = 1024
}
