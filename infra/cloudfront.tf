# Two distributions.
#
# Tunnels: *.tunnel.<domain> -> tunnel-proxy's Function URL. A Function URL (like
# API Gateway) answers only for its own Host, so the viewer's Host is copied into
# x-tunnel-host by a CloudFront Function and the origin request policy forwards every
# viewer header except Host. Nothing is cached: every request belongs to somebody's
# local server. CloudFront adds x-origin-verify, which the proxy checks.
#
# Console: console.tunnel.<domain> -> private S3 bucket through Origin Access
# Control. The same distribution serves /v1/* from the REST API (its regional
# execute-api endpoint, stage as origin path), so the console calls the API on its own
# origin and needs no CORS: config.json leaves api_base_url empty. The CLI keeps using
# api.tunnel.<domain>.

# ---------------------------------------------------------------- tunnels

resource "aws_cloudfront_function" "tunnel_host" {
  name    = "${local.prefix}tunnel-host"
  runtime = "cloudfront-js-2.0"
  comment = "Copies the viewer Host into x-tunnel-host (tunnel_aws::functions::proxy::TUNNEL_HOST_HEADER)"
  publish = true
  # The same file tests/infra/cloudfront_function.test.mjs runs in Node.
  code = file("${path.module}/functions/tunnel-host.js")
}

data "aws_cloudfront_cache_policy" "caching_disabled" {
  name = "Managed-CachingDisabled"
}

resource "aws_cloudfront_origin_request_policy" "tunnel" {
  name    = "${local.prefix}tunnel-all-but-host"
  comment = "Every viewer header, cookie and query string except Host (the Function URL needs its own)"

  headers_config {
    header_behavior = "allExcept"
    headers {
      items = ["host"]
    }
  }

  cookies_config {
    cookie_behavior = "all"
  }

  query_strings_config {
    query_string_behavior = "all"
  }
}

resource "aws_cloudfront_distribution" "tunnels" {
  #checkov:skip=CKV_AWS_68:No WAF: tunnels carry arbitrary user traffic to users' own servers, which a managed rule set would break; a web ACL also costs more than the idle service.
  #checkov:skip=CKV2_AWS_47:No WAF (see CKV_AWS_68), so no Log4j rule set either.
  #checkov:skip=CKV_AWS_86:No standard access logs: they would record every tunnelled URL of every user; the proxy logs what operations need.
  #checkov:skip=CKV_AWS_310:One origin, the Function URL: there is nothing to fail over to.
  #checkov:skip=CKV_AWS_374:Tunnels are public endpoints by design: geo restriction is the tunnel owner's choice, not the service's.
  #checkov:skip=CKV_AWS_305:The root of a tunnel is the user's application: a default root object would rewrite their "/".
  #checkov:skip=CKV2_AWS_32:Responses are users' own applications: injecting security headers (HSTS, CSP, frame options) would change their behaviour.
  enabled         = true
  comment         = "Tunnels: *.${local.base_domain}"
  aliases         = ["*.${local.base_domain}"]
  price_class     = var.cloudfront_price_class
  is_ipv6_enabled = true
  http_version    = "http2and3"

  origin {
    origin_id   = "tunnel-proxy"
    domain_name = regex("^https://([^/]+)/?$", aws_lambda_function_url.proxy.function_url)[0]

    custom_origin_config {
      http_port                = 80
      https_port               = 443
      origin_protocol_policy   = "https-only"
      origin_ssl_protocols     = ["TLSv1.2"]
      origin_read_timeout      = 60
      origin_keepalive_timeout = 60
    }

    custom_header {
      name  = "x-origin-verify"
      value = random_password.origin_secret.result
    }
  }

  default_cache_behavior {
    target_origin_id         = "tunnel-proxy"
    viewer_protocol_policy   = "redirect-to-https"
    allowed_methods          = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods           = ["GET", "HEAD"]
    compress                 = false
    cache_policy_id          = data.aws_cloudfront_cache_policy.caching_disabled.id
    origin_request_policy_id = aws_cloudfront_origin_request_policy.tunnel.id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.tunnel_host.arn
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn      = aws_acm_certificate_validation.cloudfront.certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }
}

# ---------------------------------------------------------------- console

resource "aws_s3_bucket" "console" {
  #checkov:skip=CKV_AWS_18:Static build output, re-deployable from the repository: S3 access logs would need a second bucket and add nothing.
  #checkov:skip=CKV_AWS_144:Static build output, re-deployable from the repository: no cross-region replica needed.
  #checkov:skip=CKV_AWS_145:Public static files encrypted with SSE-S3; a KMS key would also need granting to CloudFront for no gain.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to changes of the console's files.
  bucket_prefix = "${local.prefix}console-"
  force_destroy = true
}

resource "aws_s3_bucket_public_access_block" "console" {
  bucket                  = aws_s3_bucket.console.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "console" {
  bucket = aws_s3_bucket.console.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "console" {
  bucket = aws_s3_bucket.console.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "console" {
  bucket = aws_s3_bucket.console.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "console" {
  bucket = aws_s3_bucket.console.id

  rule {
    id     = "expire-old-builds"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_cloudfront_origin_access_control" "console" {
  name                              = "${local.prefix}console"
  description                       = "CloudFront reads the console bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

data "aws_iam_policy_document" "console_bucket" {
  statement {
    sid       = "CloudFrontReadsConsole"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.console.arn}/*"]

    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.console.arn]
    }
  }

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.console.arn, "${aws_s3_bucket.console.arn}/*"]

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

resource "aws_s3_bucket_policy" "console" {
  bucket     = aws_s3_bucket.console.id
  policy     = data.aws_iam_policy_document.console_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.console]
}

# What the console reads at start-up to find the API (web-console/src/services/
# config.rs): empty means the page's own origin, i.e. the /v1/* behaviour below. The
# same file scripts/console-build.sh writes; docs/deploy.md syncs the build without it.
resource "aws_s3_object" "console_config" {
  bucket        = aws_s3_bucket.console.id
  key           = "config.json"
  content_type  = "application/json"
  cache_control = "no-cache"
  content = jsonencode({
    api_base_url = ""
  })
}

data "aws_cloudfront_response_headers_policy" "security_headers" {
  name = "Managed-SecurityHeadersPolicy"
}

data "aws_cloudfront_cache_policy" "caching_optimized" {
  name = "Managed-CachingOptimized"
}

# Every viewer header (Authorization, Last-Event-ID, ...), cookie and query string,
# but not Host: API Gateway routes on its own host name (execute-api), so CloudFront
# must send the origin's domain as Host.
data "aws_cloudfront_origin_request_policy" "all_viewer_except_host" {
  name = "Managed-AllViewerExceptHostHeader"
}

locals {
  # The REST API's regional endpoint, <id>.execute-api.<region>.amazonaws.com (the
  # stage's invoke URL without its scheme and stage path).
  rest_api_origin_domain = regex("^https://([^/]+)/", aws_api_gateway_stage.api.invoke_url)[0]
}

resource "aws_cloudfront_distribution" "console" {
  #checkov:skip=CKV_AWS_68:No WAF: static files, and /v1/* is the REST API, throttled per stage (see CKV2_AWS_29 on the stage); a web ACL costs more than the idle service.
  #checkov:skip=CKV2_AWS_47:No WAF (see CKV_AWS_68), so no Log4j rule set either.
  #checkov:skip=CKV_AWS_86:No standard access logs: static files are cost without use, and API calls are logged by the stage's access log.
  #checkov:skip=CKV_AWS_310:Two origins serving different paths (bucket, REST API), each the only one for its paths: there is nothing to fail over to.
  #checkov:skip=CKV_AWS_374:The console is for every user wherever they are.
  enabled             = true
  comment             = "Console: ${local.console_domain}"
  aliases             = [local.console_domain]
  price_class         = var.cloudfront_price_class
  is_ipv6_enabled     = true
  http_version        = "http2and3"
  default_root_object = "index.html"

  origin {
    origin_id                = "console-bucket"
    domain_name              = aws_s3_bucket.console.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.console.id
  }

  # The REST API, same origin as the page: /v1/x here is <invoke URL>/v1/x. API
  # Gateway strips the stage, so the functions see the path /v1/x as through the
  # custom domain (whose base path mapping is the stage at the root).
  origin {
    origin_id   = "rest-api"
    domain_name = local.rest_api_origin_domain
    origin_path = "/${aws_api_gateway_stage.api.stage_name}"

    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
      # API Gateway ends an integration at 29 s; the live feed is a finite stream.
      origin_read_timeout      = 30
      origin_keepalive_timeout = 5
    }
  }

  default_cache_behavior {
    target_origin_id           = "console-bucket"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = data.aws_cloudfront_cache_policy.caching_optimized.id
    response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security_headers.id
  }

  # The API: every method, nothing cached (responses are per caller and change on
  # every write), every viewer header but Host forwarded, bodies passed as sent.
  ordered_cache_behavior {
    path_pattern               = "/v1/*"
    target_origin_id           = "rest-api"
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = false
    cache_policy_id            = data.aws_cloudfront_cache_policy.caching_disabled.id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_viewer_except_host.id
    response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security_headers.id
  }

  # No custom_error_response: it would apply to the API's answers too (a 403 or 404
  # from /v1/* turned into index.html). None is needed: the console routes in the URL
  # fragment (yew HashRouter), so every page is "/".

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn      = aws_acm_certificate_validation.cloudfront.certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }
}
