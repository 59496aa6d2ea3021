# The six tables of tunnel_aws::table_definitions (lambdas/aws/src/tables.rs):
# same names (with the prefix), keys, attribute types, GSIs and TTL. The test
# tests/infra/check_infra.py compares the two on every run.
#
# All on-demand (tables.rs BILLING_MODE): traffic is small and spiky. Point-in-time
# recovery on; encryption at rest with the AWS managed key. Index keys are
# `key_schema` blocks (HASH, then RANGE), the form AWS provider 6.x wants: a
# global_secondary_index's hash_key and range_key are deprecated there.

resource "aws_dynamodb_table" "clients" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key (aws/dynamodb); a customer managed CMK adds cost and key administration and no control this service needs.
  name                        = "${local.prefix}clients"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "client_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "client_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

resource "aws_dynamodb_table" "tunnels" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key (aws/dynamodb); a customer managed CMK adds cost and key administration and no control this service needs.
  name                        = "${local.prefix}tunnels"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "tunnel_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "tunnel_id"
    type = "S"
  }

  attribute {
    name = "client_id"
    type = "S"
  }

  attribute {
    name = "created_at"
    type = "N"
  }

  # A client's tunnels, oldest first (list-tunnels). Eventually consistent: the code
  # never reads its own writes through it.
  global_secondary_index {
    name            = "client_id-index"
    projection_type = "ALL"

    key_schema {
      attribute_name = "client_id"
      key_type       = "HASH"
    }

    key_schema {
      attribute_name = "created_at"
      key_type       = "RANGE"
    }
  }

  # Set while no client serves the tunnel (INACTIVE_TUNNEL_TTL_SECS after it went
  # inactive), removed when one attaches. TTL deletes lazily (it can be days late);
  # the store treats an expired item as absent when it reads it.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

resource "aws_dynamodb_table" "domains" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key (aws/dynamodb); a customer managed CMK adds cost and key administration and no control this service needs.
  name                        = "${local.prefix}domains"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "domain"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "domain"
    type = "S"
  }

  # The claim's tunnel's expiry, so an expired tunnel's name is free to claim (a
  # conditional write on it) and TTL removes the claim with its tunnel. TTL deletes
  # lazily; the store treats an expired claim as absent when it reads it.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

resource "aws_dynamodb_table" "connections" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key (aws/dynamodb); a customer managed CMK adds cost and key administration and no control this service needs.
  name                        = "${local.prefix}connections"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "connection_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "connection_id"
    type = "S"
  }

  # Records of sockets API Gateway has closed without a $disconnect. TTL deletes
  # lazily; the store also ignores expired items when it reads them.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

# The request log (the inspector): one item per proxied or replayed exchange, written
# by tunnel-proxy and replay-request (one PutItem each: the whole exchange deflated,
# `exchange`, when the item stays within 4 KB; else the list line `summary` and the
# `object` key of the exchange in the log bucket, logbucket.tf), read and cleared
# through the REST API. Keyed by tunnel, then request id (which starts with the
# capture time in milliseconds): a tunnel's log is its partition, newest last, so
# list, count and clear are Queries of the table and no index copies each write.
# Bounded by age: `expires_at` is 24 h after capture.
resource "aws_dynamodb_table" "requests" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key (aws/dynamodb); a customer managed CMK adds cost and key administration and no control this service needs.
  name                        = "${local.prefix}requests"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "tunnel_id"
  range_key                   = "request_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "tunnel_id"
    type = "S"
  }

  attribute {
    name = "request_id"
    type = "S"
  }

  # TTL deletes lazily (typically within two days) and without write cost; the store
  # ignores expired items when it reads them.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

# The offline inbox: public requests held while a tunnel with an inbox policy has no
# client, one item per request (the body a binary attribute, up to 256 KiB, so it
# fits the 400 KB item limit), keyed by tunnel and arrival number. Each tunnel's
# `seq = 0` item holds its counters (last number given out, requests counted as
# held, when a full inbox is worth recounting). Written by tunnel-proxy, taken by the client through inspect-requests.
# Bounded by count (the policy's limit) and age: `expires_at` is the request's own.
resource "aws_dynamodb_table" "inbox" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key (aws/dynamodb); a customer managed CMK adds cost and key administration and no control this service needs.
  name                        = "${local.prefix}inbox"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "tunnel_id"
  range_key                   = "seq"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "tunnel_id"
    type = "S"
  }

  attribute {
    name = "seq"
    type = "N"
  }

  # TTL deletes lazily and does not lower the held count; the store ignores expired
  # items when it reads them, and recounts the items when the count says full.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

# Token buckets every Lambda sandbox shares: failed authentications per source address
# (tunnel_backend::auth_limit), written by the functions that authenticate, on a
# wrong credential only (one strong GetItem and one conditional PutItem each; an
# address over its budget costs nothing more once a sandbox has seen it so). An item
# expires when its bucket would be full again, which loses nothing.
resource "aws_dynamodb_table" "rate_limits" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key (aws/dynamodb); a customer managed CMK adds cost and key administration and no control this service needs.
  name                        = "${local.prefix}rate_limits"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "limit_key"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "limit_key"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  # Like every table: the buckets are minutes old at most, but one rule for all.
  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

locals {
  # Short name (as in TableNames) => table, for the IAM and monitoring loops.
  tables = {
    clients     = aws_dynamodb_table.clients
    tunnels     = aws_dynamodb_table.tunnels
    domains     = aws_dynamodb_table.domains
    connections = aws_dynamodb_table.connections
    requests    = aws_dynamodb_table.requests
    inbox       = aws_dynamodb_table.inbox
    rate_limits = aws_dynamodb_table.rate_limits
  }

  # Short name => the table's one GSI (tables.rs CLIENT_INDEX), the resource of the
  # Query grants in iam.tf.
  table_index = {
    tunnels = "client_id-index"
  }
}
