# The whole deployment of one environment: storage, catalog, compute and orchestration.

data "aws_caller_identity" "current" {}

module "lake" {
  source             = "../lake"
  name               = var.name
  glacier_after_days = var.glacier_after_days
  force_destroy      = var.force_destroy
}

module "catalog" {
  source                    = "../catalog"
  database_prefix           = var.glue_database_prefix
  workgroup_name            = var.name
  results_bucket            = module.lake.results_bucket
  kms_key_arn               = module.lake.kms_key_arn
  bytes_scanned_cutoff      = var.athena_bytes_scanned_cutoff
  queries_dir               = "${path.module}/../../../jobs/queries"
  manage_catalog_encryption = var.manage_catalog_encryption
  force_destroy             = var.force_destroy
}

module "compute" {
  source               = "../compute"
  name                 = var.name
  account_id           = data.aws_caller_identity.current.account_id
  lake_bucket          = module.lake.lake_bucket
  lake_bucket_arn      = module.lake.lake_bucket_arn
  kms_key_arn          = module.lake.kms_key_arn
  glue_database_arns   = module.catalog.database_arns
  glue_database_prefix = var.glue_database_prefix
  image_tag            = var.image_tag
  cpu                  = var.task_cpu
  memory               = var.task_memory
  force_destroy        = var.force_destroy
  scheduler_url        = var.ballista_executors > 0 ? module.ballista[0].scheduler_url : null
}

# The Ballista cluster, when asked for: for jobs whose input outgrows one task.
data "aws_subnet" "first" {
  count = var.ballista_executors > 0 ? 1 : 0
  id    = var.subnet_ids[0]
}

module "ballista" {
  source                    = "../ballista"
  count                     = var.ballista_executors > 0 ? 1 : 0
  name                      = var.name
  vpc_id                    = data.aws_subnet.first[0].vpc_id
  subnet_ids                = var.subnet_ids
  client_security_group_ids = var.security_group_ids
  ecs_cluster_arn           = module.compute.cluster_arn
  image                     = "${module.compute.repository_url}:${var.image_tag}"
  execution_role_arn        = module.compute.role_arns[0]
  task_role_arn             = module.compute.role_arns[1]
  log_group_name            = module.compute.log_group_name
  lake_url                  = "s3://${module.lake.lake_bucket}/lake"
  executor_count            = var.ballista_executors
}

module "orchestration" {
  source                     = "../orchestration"
  name                       = var.name
  definition_file            = "${path.module}/../../statemachine/daily.asl.json"
  cluster_arn                = module.compute.cluster_arn
  task_definition_arn        = module.compute.task_definition_arn
  task_definition_family_arn = module.compute.task_definition_family_arn
  task_role_arns             = module.compute.role_arns
  container_name             = module.compute.container_name
  subnet_ids                 = var.subnet_ids
  security_group_ids         = var.security_group_ids
  lake_bucket                = module.lake.lake_bucket
  kms_key_arn                = module.lake.kms_key_arn
  schedule_expression        = var.schedule_expression
  run_on_new_files           = var.run_on_new_files
  alert_emails               = var.alert_emails
  quality_alarm_score        = var.quality_alarm_score
}
