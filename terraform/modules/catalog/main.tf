# The Glue databases lakejob registers tables in (one per zone, `<prefix><zone>`), and the Athena
# workgroup analysts query them with, carrying the shipped named queries.

resource "aws_glue_catalog_database" "zone" {
  for_each    = toset(["processed", "curated", "quarantine", "lakejob"])
  name        = "${var.database_prefix}${each.key}"
  description = "lakejob ${each.key} tables (registered by lakejob runs and catalog sync)"
}

resource "aws_glue_data_catalog_encryption_settings" "this" {
  count = var.manage_catalog_encryption ? 1 : 0
  data_catalog_encryption_settings {
    connection_password_encryption {
      return_connection_password_encrypted = true
      aws_kms_key_id                       = var.kms_key_arn
    }
    encryption_at_rest {
      catalog_encryption_mode = "SSE-KMS"
      sse_aws_kms_key_id      = var.kms_key_arn
    }
  }
}

resource "aws_athena_workgroup" "this" {
  name          = var.workgroup_name
  description   = "lakejob curated tables; results encrypted, scans capped"
  force_destroy = var.force_destroy
  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff
    engine_version {
      selected_engine_version = "Athena engine version 3"
    }
    result_configuration {
      output_location = "s3://${var.results_bucket}/results/"
      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = var.kms_key_arn
      }
    }
  }
}

# The shipped analytical queries (jobs/queries/*.sql), written in SQL both Athena and DataFusion
# accept; the database is the curated one.
resource "aws_athena_named_query" "shipped" {
  for_each  = fileset(var.queries_dir, "*.sql")
  name      = trimsuffix(each.value, ".sql")
  workgroup = aws_athena_workgroup.this.id
  database  = aws_glue_catalog_database.zone["curated"].name
  query     = file("${var.queries_dir}/${each.value}")
}
