# Certificates (DNS-validated in var.hosted_zone_id) and the public names.
#   *.tunnel.<domain>        CloudFront, tunnels      (us-east-1 certificate)
#   console.tunnel.<domain>  CloudFront, console      (same wildcard certificate)
#   api.tunnel.<domain>      REST API custom domain   (regional certificate)
#   ws.tunnel.<domain>       WebSocket API custom domain (regional certificate)
# The explicit api/ws/console records win over the wildcard, and the code refuses
# those names as tunnel subdomains (RESERVED_SUBDOMAINS).

resource "aws_acm_certificate" "cloudfront" {
  provider          = aws.us_east_1
  domain_name       = "*.${local.base_domain}"
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_acm_certificate" "regional" {
  domain_name               = local.api_domain
  subject_alternative_names = [local.ws_domain]
  validation_method         = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

locals {
  # Validation records of both certificates, keyed by the name they validate.
  certificate_validation = merge(
    { for o in aws_acm_certificate.cloudfront.domain_validation_options : "cloudfront ${o.domain_name}" => o },
    { for o in aws_acm_certificate.regional.domain_validation_options : "regional ${o.domain_name}" => o },
  )
}

resource "aws_route53_record" "certificate_validation" {
  for_each = local.certificate_validation

  zone_id         = var.hosted_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "cloudfront" {
  provider                = aws.us_east_1
  certificate_arn         = aws_acm_certificate.cloudfront.arn
  validation_record_fqdns = [for k, r in aws_route53_record.certificate_validation : r.fqdn if startswith(k, "cloudfront ")]
}

resource "aws_acm_certificate_validation" "regional" {
  certificate_arn         = aws_acm_certificate.regional.arn
  validation_record_fqdns = [for k, r in aws_route53_record.certificate_validation : r.fqdn if startswith(k, "regional ")]
}

# A and AAAA aliases for both distributions.
resource "aws_route53_record" "tunnels" {
  for_each = toset(["A", "AAAA"])

  zone_id = var.hosted_zone_id
  name    = "*.${local.base_domain}"
  type    = each.key

  alias {
    name                   = aws_cloudfront_distribution.tunnels.domain_name
    zone_id                = aws_cloudfront_distribution.tunnels.hosted_zone_id
    evaluate_target_health = false
  }
}

resource "aws_route53_record" "console" {
  for_each = toset(["A", "AAAA"])

  zone_id = var.hosted_zone_id
  name    = local.console_domain
  type    = each.key

  alias {
    name                   = aws_cloudfront_distribution.console.domain_name
    zone_id                = aws_cloudfront_distribution.console.hosted_zone_id
    evaluate_target_health = false
  }
}

resource "aws_route53_record" "api" {
  zone_id = var.hosted_zone_id
  name    = local.api_domain
  type    = "A"

  alias {
    name                   = aws_api_gateway_domain_name.api.regional_domain_name
    zone_id                = aws_api_gateway_domain_name.api.regional_zone_id
    evaluate_target_health = false
  }
}

resource "aws_route53_record" "ws" {
  zone_id = var.hosted_zone_id
  name    = local.ws_domain
  type    = "A"

  alias {
    name                   = aws_apigatewayv2_domain_name.ws.domain_name_configuration[0].target_domain_name
    zone_id                = aws_apigatewayv2_domain_name.ws.domain_name_configuration[0].hosted_zone_id
    evaluate_target_health = false
  }
}
