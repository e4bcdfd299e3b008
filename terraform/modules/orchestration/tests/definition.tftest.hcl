# The state machine gets the rendered pipeline with every placeholder filled: lists as JSON
# arrays, ARNs and names as strings.

mock_provider "aws" {
  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:eu-west-1:123456789012:lakejob-test-alerts"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/lakejob-test"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/lakejob-test"
    }
  }
  mock_resource "aws_sfn_state_machine" {
    defaults = {
      arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:lakejob-test-daily"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  name                       = "lakejob-test"
  definition_file            = "../../statemachine/daily.asl.json"
  cluster_arn                = "arn:aws:ecs:eu-west-1:123456789012:cluster/lakejob-test"
  task_definition_arn        = "arn:aws:ecs:eu-west-1:123456789012:task-definition/lakejob-test:7"
  task_definition_family_arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/lakejob-test:*"
  task_role_arns             = ["arn:aws:iam::123456789012:role/lakejob-test-task"]
  container_name             = "lakejob"
  subnet_ids                 = ["subnet-aaa", "subnet-bbb"]
  security_group_ids         = ["sg-123"]
  lake_bucket                = "lakejob-test-lake"
  kms_key_arn                = "arn:aws:kms:eu-west-1:123456789012:key/test"
}

run "placeholders_are_filled" {
  command = apply

  assert {
    condition     = !strcontains(aws_sfn_state_machine.pipeline.definition, "@@")
    error_message = "a placeholder was left in the state machine definition"
  }

  assert {
    condition = alltrue([
      for state in values(jsondecode(aws_sfn_state_machine.pipeline.definition).States["each date"].ItemProcessor.States) :
      try(state.Parameters.NetworkConfiguration.AwsvpcConfiguration.Subnets, ["subnet-aaa", "subnet-bbb"]) == ["subnet-aaa", "subnet-bbb"]
    ])
    error_message = "job tasks must get the subnets as a JSON list"
  }

  assert {
    condition     = strcontains(aws_sfn_state_machine.pipeline.definition, "arn:aws:ecs:eu-west-1:123456789012:task-definition/lakejob-test:7")
    error_message = "job tasks must run the given task definition"
  }
}

run "new_files_start_the_pipeline_only_when_asked" {
  command = apply

  variables {
    run_on_new_files = true
  }

  assert {
    condition     = aws_cloudwatch_event_rule.raw_file.state == "ENABLED"
    error_message = "the raw-file rule is on when run_on_new_files is set"
  }
}
