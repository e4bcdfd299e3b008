# One hardened bucket: versioned, SSE-KMS, no public access, TLS only, lifecycle, access logs.

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice per environment; versioning covers accidental deletes and overwrites.
  #checkov:skip=CKV2_AWS_62:Only the lake bucket needs events; it turns them on with eventbridge_notifications, which checkov does not follow into this module.
  bucket        = var.name
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "tls_only" {
  # A bucket that receives access logs lets the logging service of this account write them.
  dynamic "statement" {
    for_each = var.accepts_access_logs ? [1] : []
    content {
      sid       = "S3ServerAccessLogs"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/*"]
      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [data.aws_caller_identity.current.account_id]
      }
    }
  }
  statement {
    sid       = "DenyPlainHttp"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.tls_only.json
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    id     = "abort-incomplete-uploads-and-expire-old-versions"
    status = "Enabled"
    filter {
      prefix = ""
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_days
    }
  }
  # Without a Glacier prefix the rule stays, disabled, so every bucket has the same shape.
  rule {
    id     = "to-glacier"
    status = var.glacier_prefix == null ? "Disabled" : "Enabled"
    filter {
      prefix = coalesce(var.glacier_prefix, "lakejob-no-glacier/")
    }
    transition {
      days          = var.glacier_after_days
      storage_class = "GLACIER"
    }
  }
}

resource "aws_s3_bucket_logging" "this" {
  # The target must accept logs first (its policy), itself included.
  depends_on    = [aws_s3_bucket_policy.this]
  bucket        = aws_s3_bucket.this.id
  target_bucket = coalesce(var.log_bucket, aws_s3_bucket.this.id)
  target_prefix = "${var.log_prefix}/"
}

resource "aws_s3_bucket_notification" "this" {
  count       = var.eventbridge_notifications ? 1 : 0
  bucket      = aws_s3_bucket.this.id
  eventbridge = true
}
