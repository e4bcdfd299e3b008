# Where the lakejob container runs: ECS on Fargate. Step Functions starts one task per job with
# RunTask and a task token (the callback pattern), so there is no queue, compute environment or
# idle capacity to manage, which is what AWS Batch would add; jobs run minutes, not days.

data "aws_region" "current" {}

resource "aws_ecr_repository" "lakejob" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_destroy
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "lakejob" {
  repository = aws_ecr_repository.lakejob.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the last 30 images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 30 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_ecs_cluster" "this" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "tasks" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "ecs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# Pulls the image and writes logs, nothing else.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource type.
  }
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [aws_ecr_repository.lakejob.arn]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.tasks.arn}:*"]
  }
  statement {
    sid       = "DecryptImageAndLogs"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-and-log"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# What lakejob itself may do: the lake bucket, its key, its Glue databases, task callbacks.
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]
  }
  statement {
    sid       = "ReadWriteLake"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.lake_bucket_arn}/*"]
  }
  statement {
    sid       = "UseLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid = "RegisterTables"
    actions = [
      "glue:GetDatabase", "glue:GetDatabases", "glue:CreateDatabase",
      "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable",
      "glue:GetPartitions", "glue:BatchCreatePartition", "glue:BatchDeletePartition",
    ]
    resources = concat(
      ["arn:aws:glue:${data.aws_region.current.name}:${var.account_id}:catalog"],
      var.glue_database_arns,
      [for arn in var.glue_database_arns : replace("${arn}/*", ":database/", ":table/")],
    )
  }
  statement {
    sid       = "ReportToStepFunctions"
    actions   = ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"]
    resources = ["*"] # Task-token calls have no resource type; the token itself scopes them.
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "lake-catalog-callback"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

resource "aws_ecs_task_definition" "lakejob" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  ephemeral_storage {
    size_in_gib = var.ephemeral_storage_gib
  }
  volume {
    name = "scratch"
  }
  container_definitions = jsonencode([{
    name                   = var.container_name
    image                  = "${aws_ecr_repository.lakejob.repository_url}:${var.image_tag}"
    essential              = true
    readonlyRootFilesystem = true
    user                   = "65532:65532"
    # DataFusion spills to the scratch volume when a job outgrows its memory limit.
    mountPoints = [{ sourceVolume = "scratch", containerPath = "/tmp", readOnly = false }]
    environment = concat([
      { name = "LAKEJOB_LAKE", value = "s3://${var.lake_bucket}/lake" },
      { name = "LAKEJOB_CATALOG", value = "glue" },
      { name = "LAKEJOB_GLUE_DATABASE_PREFIX", value = var.glue_database_prefix },
      { name = "LAKEJOB_MEMORY_LIMIT", value = "${floor(var.memory * 0.75)}MB" },
      { name = "TMPDIR", value = "/tmp" },
      { name = "LAKEJOB_METRICS", value = "emf" },
      ], var.scheduler_url == null ? [] : [
      # Jobs run with --engine ballista send their plans here.
      { name = "LAKEJOB_SCHEDULER", value = var.scheduler_url },
    ])
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.tasks.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "lakejob"
      }
    }
  }])
}
