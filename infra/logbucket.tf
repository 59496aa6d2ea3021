# The request log's bucket: captured exchanges too large for their DynamoDB item
# (lambdas/aws/src/log_bucket.rs: an item keeps its exchange up to 4 KB; past that one
# PUT costs less than the write units), one object per exchange at
# log/<tunnel_id>/<request_id>, deflated JSON. Written by tunnel-proxy, replay-request
# and inspect-requests (an inbox delivery report), read by inspect-requests and
# replay-request, deleted with the log by inspect-requests and delete-tunnel (iam.tf,
# local.log_bucket_access). Private: only those functions' roles reach it, over TLS.
#
# Large bodies in transit live under body/ (lambdas/aws/src/functions/stored_body.rs):
# body/<tunnel_id>/<request_id>/<random>/{req,resp}, put by tunnel-proxy and
# replay-request or by the tunnel client through a presigned PUT, read by the client
# through a presigned GET or by the function (local.body_bucket_access in iam.tf).
# The URLs expire after a minute; the objects by the rule below.

resource "aws_s3_bucket" "log" {
  #checkov:skip=CKV_AWS_18:Holds a day of captured requests and is read only by the functions; S3 access logs would need a second bucket and would copy the log's keys for no reader.
  #checkov:skip=CKV_AWS_144:A day of captured requests that expire on their own; a cross-region replica would outlive the clear a user asks for.
  #checkov:skip=CKV_AWS_145:Encrypted at rest with SSE-S3; a customer managed KMS key adds a KMS request per PUT and GET (more than the PUT itself costs) and no control this service needs.
  #checkov:skip=CKV_AWS_21:No versioning: clearing a log (or deleting a tunnel) must remove its bodies, which a noncurrent version would keep; objects live a day.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to captured requests being stored.
  bucket_prefix = "${local.prefix}log-"
  force_destroy = true
}

resource "aws_s3_bucket_public_access_block" "log" {
  bucket                  = aws_s3_bucket.log.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "log" {
  bucket = aws_s3_bucket.log.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "log" {
  bucket = aws_s3_bucket.log.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# The log's retention: its items expire 24 h after capture (DEFAULT_LOG_TTL_SECS,
# DynamoDB TTL), and so do their objects, by the day S3 counts in (the rule runs once
# a day, so an object lives one to two days; the store reads a missing object as an
# expired exchange).
resource "aws_s3_bucket_lifecycle_configuration" "log" {
  bucket = aws_s3_bucket.log.id

  rule {
    id     = "expire-captured-requests"
    status = "Enabled"

    filter {
      prefix = "log/"
    }

    expiration {
      days = 1
    }
  }

  # Bodies in transit are used within a minute of their upload (BODY_URL_EXPIRY);
  # the shortest expiry S3 runs is a day.
  rule {
    id     = "expire-stored-bodies"
    status = "Enabled"

    filter {
      prefix = "body/"
    }

    expiration {
      days = 1
    }
  }

  # The functions upload in one PUT; a multipart upload left behind (none is
  # started today) would be billed storage nobody sees.
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "log_bucket" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.log.arn, "${aws_s3_bucket.log.arn}/*"]

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

resource "aws_s3_bucket_policy" "log" {
  bucket = aws_s3_bucket.log.id
  policy = data.aws_iam_policy_document.log_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.log]
}
