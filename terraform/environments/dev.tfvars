# dev: small tasks, destroyable buckets, runs on the schedule only.
environment          = "dev"
glue_database_prefix = "lakejob_dev_"
task_cpu             = 1024
task_memory          = 4096
run_on_new_files     = false
quality_alarm_score  = 0.99
force_destroy        = true
# Per account: image_tag, subnet_ids, security_group_ids, alert_emails (-var or a local tfvars).
