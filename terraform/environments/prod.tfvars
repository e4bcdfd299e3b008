# prod: 2-vCPU tasks (the benchmarked size), new raw files start the pipeline, buckets kept.
environment          = "prod"
glue_database_prefix = "lakejob_"
task_cpu             = 2048
task_memory          = 8192
run_on_new_files     = true
quality_alarm_score  = 0.995
force_destroy        = false
# Per account: image_tag, subnet_ids, security_group_ids, alert_emails (-var or a local tfvars).
