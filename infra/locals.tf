# Names shared by every file.

locals {
  # Every resource name starts with this; table names are "<prefix>clients" etc.,
  # the convention of tunnel_aws::TableNames::with_prefix.
  prefix = "tunnel-${var.stage}-"

  # Tunnels are <name>.<base_domain>. api, ws and console are names the code
  # reserves (client-core/src/domain.rs), so no tunnel can shadow them.
  base_domain    = "tunnel.${var.domain}"
  api_domain     = "api.${local.base_domain}"
  ws_domain      = "ws.${local.base_domain}"
  console_domain = "console.${local.base_domain}"

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  tags = {
    Project = "tunnel"
    Stage   = var.stage
  }
}
