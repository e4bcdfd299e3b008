# The daily pipeline as a Step Functions state machine (rendered by
# `lakejob pipeline render daily --format asl`), started by a daily schedule and by new raw
# files, alerting through SNS and CloudWatch alarms.

locals {
  definition = replace(
    replace(
      replace(
        replace(
          replace(
            replace(
              file(var.definition_file),
              "\"@@subnet_ids@@\"", jsonencode(var.subnet_ids)
            ),
            "\"@@security_group_ids@@\"", jsonencode(var.security_group_ids)
          ),
          "@@cluster_arn@@", var.cluster_arn
        ),
        "@@task_definition_arn@@", var.task_definition_arn
      ),
      "@@container_name@@", var.container_name
    ),
    "@@alert_topic_arn@@", aws_sns_topic.alerts.arn
  )
}

resource "aws_sns_topic" "alerts" {
  name              = "${var.name}-alerts"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alert_emails)
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_log_group" "state_machine" {
  name              = "/aws/vendedlogs/states/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "states_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "state_machine" {
  name               = "${var.name}-state-machine"
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid       = "RunJobTasks"
    actions   = ["ecs:RunTask"]
    resources = [var.task_definition_family_arn]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [var.cluster_arn]
    }
  }
  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = var.task_role_arns
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid       = "Alert"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }
  statement {
    sid       = "EncryptAlerts"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid = "DeliverLogs"
    actions = [
      "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    ]
    resources = ["*"] # Log delivery APIs have no resource type.
  }
  statement {
    sid       = "Trace"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray writes have no resource type.
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "run-jobs-and-alert"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

resource "aws_sfn_state_machine" "pipeline" {
  name       = "${var.name}-${var.pipeline}"
  role_arn   = aws_iam_role.state_machine.arn
  definition = local.definition
  #checkov:skip=CKV_AWS_285:Every state transition is logged (level ALL) without execution data: task parameters carry task tokens, which must never reach a log.
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = false
    level                  = "ALL"
  }
  tracing_configuration {
    enabled = true
  }
}

# The daily run: EventBridge Scheduler puts the scheduled time in the input; the state machine
# keeps its date part.
data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com", "events.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "start" {
  name               = "${var.name}-start-pipeline"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

data "aws_iam_policy_document" "start" {
  statement {
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.pipeline.arn]
  }
}

resource "aws_iam_role_policy" "start" {
  name   = "start-pipeline"
  role   = aws_iam_role.start.id
  policy = data.aws_iam_policy_document.start.json
}

resource "aws_scheduler_schedule" "daily" {
  name                         = "${var.name}-${var.pipeline}"
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = "UTC"
  kms_key_arn                  = var.kms_key_arn
  flexible_time_window {
    mode = "OFF"
  }
  target {
    arn      = aws_sfn_state_machine.pipeline.arn
    role_arn = aws_iam_role.start.arn
    input    = jsonencode({ dates = ["<aws.scheduler.scheduled-time>"] })
  }
}

# New raw files start the pipeline for the day they arrived.
resource "aws_cloudwatch_event_rule" "raw_file" {
  name        = "${var.name}-raw-file"
  description = "a file landed under raw/ in the lake bucket"
  state       = var.run_on_new_files ? "ENABLED" : "DISABLED"
  event_pattern = jsonencode({
    source      = ["aws.s3"]
    detail-type = ["Object Created"]
    detail = {
      bucket = { name = [var.lake_bucket] }
      object = { key = [{ prefix = "lake/raw/" }] }
    }
  })
}

resource "aws_cloudwatch_event_target" "raw_file" {
  rule     = aws_cloudwatch_event_rule.raw_file.name
  arn      = aws_sfn_state_machine.pipeline.arn
  role_arn = aws_iam_role.start.arn
  input_transformer {
    input_paths    = { time = "$.time" }
    input_template = "{\"dates\": [<time>]}"
  }
}

resource "aws_cloudwatch_metric_alarm" "failed_executions" {
  alarm_name          = "${var.name}-${var.pipeline}-failed"
  alarm_description   = "a ${var.pipeline} pipeline execution failed"
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = aws_sfn_state_machine.pipeline.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

# lakejob writes each run's score as an embedded-metric log line (namespace lakejob).
resource "aws_cloudwatch_metric_alarm" "quality_score" {
  alarm_name          = "${var.name}-quality-score"
  alarm_description   = "a job's quality score fell under ${var.quality_alarm_score}"
  namespace           = "lakejob"
  metric_name         = "QualityScore"
  statistic           = "Minimum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.quality_alarm_score
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}
