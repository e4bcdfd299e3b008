# The lake bucket (raw, processed, curated, quarantine, _lakejob state), the Athena results
# bucket and the access-log bucket, all encrypted with one customer-managed KMS key.

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "lake" {
  description             = "${var.name} lake: S3 objects, Athena results, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:A key policy's resource "*" is the key itself; the account root delegating to IAM is AWS's default key policy.
  #checkov:skip=CKV_AWS_356:As above: "*" in a key policy means this key only.
  #checkov:skip=CKV_AWS_109:As above: administration of this key stays with the account's IAM policies.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "ServicesEncryptWithIt"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.amazonaws.com", "sns.amazonaws.com", "events.amazonaws.com", "states.amazonaws.com"]
    }
  }
}

resource "aws_kms_alias" "lake" {
  name          = "alias/${var.name}-lake"
  target_key_id = aws_kms_key.lake.key_id
}

locals {
  suffix = data.aws_caller_identity.current.account_id
}

module "logs" {
  source              = "../bucket"
  name                = "${var.name}-access-logs-${local.suffix}"
  kms_key_arn         = aws_kms_key.lake.arn
  log_prefix          = "logs"
  accepts_access_logs = true
  force_destroy       = var.force_destroy
}

module "lake" {
  source                    = "../bucket"
  name                      = "${var.name}-lake-${local.suffix}"
  kms_key_arn               = aws_kms_key.lake.arn
  log_bucket                = module.logs.name
  log_prefix                = "lake"
  glacier_prefix            = "lake/raw/"
  glacier_after_days        = var.glacier_after_days
  noncurrent_days           = var.noncurrent_days
  eventbridge_notifications = true
  force_destroy             = var.force_destroy
}

module "results" {
  source        = "../bucket"
  name          = "${var.name}-athena-results-${local.suffix}"
  kms_key_arn   = aws_kms_key.lake.arn
  log_bucket    = module.logs.name
  log_prefix    = "results"
  force_destroy = var.force_destroy
}
