# Inputs. Only `domain` and `hosted_zone_id` have no default.

variable "domain" {
  description = "Parent DNS domain, e.g. example.com. Tunnels live under tunnel.<domain> (*.tunnel.<domain>); the REST API, the WebSocket API and the console get api., ws. and console.tunnel.<domain>, names the code reserves so no tunnel can take them."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be a lower-case DNS name such as example.com, without a trailing dot."
  }
}

variable "hosted_zone_id" {
  description = "Route 53 public hosted zone that serves var.domain (records and ACM validation go there)."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]{4,31}$", var.hosted_zone_id))
    error_message = "hosted_zone_id must be a Route 53 zone id such as Z0123456789ABCDEFGHIJ."
  }
}

variable "region" {
  description = "AWS region of the functions, tables and APIs. CloudFront certificates go to us-east-1 regardless."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-3."
  }
}

variable "stage" {
  description = "Deployment name (prod, staging, ...): prefixes every resource name and names the API stages."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,11}$", var.stage))
    error_message = "stage must be 1-12 lower-case letters or digits, starting with a letter."
  }
}

variable "architecture" {
  description = "Lambda architecture; must match the bootstraps built by scripts/package-lambdas.sh --arch."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "lambda_zip_dir" {
  description = "Directory holding <function>.zip for every function, as scripts/package-lambdas.sh writes them (relative to infra/)."
  type        = string
  default     = "../target/lambda"
}

variable "log_retention_days" {
  description = "Retention of the functions' and APIs' CloudWatch log groups, in days (a value CloudWatch accepts)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the retention periods CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "rest_throttling_burst_limit" {
  description = "REST API (control plane) stage throttling: burst, in requests."
  type        = number
  default     = 50

  validation {
    condition     = var.rest_throttling_burst_limit >= 1 && var.rest_throttling_burst_limit <= 5000
    error_message = "rest_throttling_burst_limit must be between 1 and 5000."
  }
}

variable "rest_throttling_rate_limit" {
  description = "REST API (control plane) stage throttling: steady rate, in requests per second."
  type        = number
  default     = 20

  validation {
    condition     = var.rest_throttling_rate_limit > 0 && var.rest_throttling_rate_limit <= 10000
    error_message = "rest_throttling_rate_limit must be above 0 and at most 10000."
  }
}

variable "ws_throttling_burst_limit" {
  description = "WebSocket API stage throttling: burst, in messages. Every body chunk is one message: keep it well above CREDIT_WINDOW x concurrent streams."
  type        = number
  default     = 2000

  validation {
    condition     = var.ws_throttling_burst_limit >= 1 && var.ws_throttling_burst_limit <= 5000
    error_message = "ws_throttling_burst_limit must be between 1 and 5000."
  }
}

variable "ws_throttling_rate_limit" {
  description = "WebSocket API stage throttling: steady rate, in messages per second."
  type        = number
  default     = 1000

  validation {
    condition     = var.ws_throttling_rate_limit > 0 && var.ws_throttling_rate_limit <= 10000
    error_message = "ws_throttling_rate_limit must be above 0 and at most 10000."
  }
}

variable "relay_reserved_concurrency" {
  description = "Reserved concurrency of tunnel-relay. Every client message is one relay invocation and a throttled one loses the message (docs/architecture.md), so the relay gets capacity no other function can take. Must leave at least 100 unreserved in the account."
  type        = number
  default     = 100

  validation {
    condition     = var.relay_reserved_concurrency >= 10 && var.relay_reserved_concurrency <= 3000
    error_message = "relay_reserved_concurrency must be between 10 and 3000."
  }
}

variable "proxy_reserved_concurrency" {
  description = "Reserved concurrency of tunnel-proxy: how many public requests can be in flight at once across all tunnels (each holds one invocation until its answer ends, up to 60 s). It caps what public traffic, one busy tunnel included, takes from the account, so the REST API and the relay keep running under a flood; past it CloudFront gets 429 from the Function URL. -1: no reservation (the unreserved pool, shared with everything else). Account concurrency must leave 100 unreserved after this and relay_reserved_concurrency."
  type        = number
  default     = 400

  validation {
    condition     = var.proxy_reserved_concurrency == -1 || (var.proxy_reserved_concurrency >= 10 && var.proxy_reserved_concurrency <= 10000)
    error_message = "proxy_reserved_concurrency must be -1 (no reservation) or between 10 and 10000."
  }
}

variable "public_rate" {
  description = "Public requests per tunnel, PER_SECOND:BURST or off (TUNNEL_PUBLIC_RATE; the local server's --public-rate). Past it a tunnel's callers get 429 with Retry-After. Counted per warm tunnel-proxy sandbox, so the total a tunnel gets is at most this times the sandboxes running, which proxy_reserved_concurrency caps."
  type        = string
  default     = "2000:4000"

  validation {
    condition     = var.public_rate == "off" || (can(regex("^[0-9]+(\\.[0-9]+)?:[1-9][0-9]*$", var.public_rate)) && try(tonumber(split(":", var.public_rate)[0]) > 0, false))
    error_message = "public_rate must be PER_SECOND:BURST with both above 0 (e.g. 2000:4000), or off."
  }
}

variable "deletion_protection" {
  description = "DynamoDB deletion protection. Set false (and apply) before terraform destroy."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "Address subscribed to the alarm topic (it must confirm the subscription); empty for none."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be empty or an e-mail address."
  }
}

variable "proxy_p99_duration_threshold_ms" {
  description = "Alarm when tunnel-proxy's p99 duration exceeds this many milliseconds (the function waits up to 25 s for an answer, then 504s)."
  type        = number
  default     = 20000

  validation {
    condition     = var.proxy_p99_duration_threshold_ms > 0 && var.proxy_p99_duration_threshold_ms <= 60000
    error_message = "proxy_p99_duration_threshold_ms must be in (0, 60000]."
  }
}

variable "proxy_p99_latency_threshold_secs" {
  description = "Alarm when the p99 time from a public request to its answer's head exceeds this many seconds (tunnel_proxy_latency_seconds)."
  type        = number
  default     = 10

  validation {
    condition     = var.proxy_p99_latency_threshold_secs > 0 && var.proxy_p99_latency_threshold_secs <= 30
    error_message = "proxy_p99_latency_threshold_secs must be in (0, 30]."
  }
}

variable "public_5xx_threshold" {
  description = "Alarm when this many public requests in 5 minutes are answered 5xx (tunnel_requests_total, StatusClass 5xx)."
  type        = number
  default     = 50

  validation {
    condition     = var.public_5xx_threshold >= 1
    error_message = "public_5xx_threshold must be at least 1."
  }
}

variable "cloudfront_price_class" {
  description = "CloudFront price class of both distributions."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.cloudfront_price_class)
    error_message = "cloudfront_price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}
