# Secrets Manager entries, all under `crosslock/<env>/` and encrypted with the data key.
#
# Generated here (random, never typed by a person): the relayer's and resolver's Postgres
# passwords, the Redis AUTH token, and the operator token whose SHA-256 the daemons check.
# Created empty here and filled by an operator out of band, so Terraform never sees them: the TLS
# pairs, the BTC hot wallet descriptor, bitcoind's RPC credential. See docs/operations.md.
#
# The operator token itself is stored under `crosslock-operators/<env>/`, outside the prefix the
# External Secrets Operator may read: pods get only its hash.

locals {
  prefix = "crosslock/${var.environment}"
  services = {
    relayer  = "relayer"
    resolver = "resolver"
  }
  # Filled by an operator; Terraform only creates the container and its encryption.
  operator_filled = {
    "relayer/tls"         = "Relayer TLS: cert, key, client_ca (PEM) for the public, admin and peer ports"
    "resolver/tls"        = "Resolver mTLS client pair: cert, key, relayer_ca (PEM)"
    "resolver/btc-wallet" = "BTC hot wallet: descriptor (private, tprv/xprv) made on an offline machine"
    "bitcoind/rpc"        = "bitcoind RPC: rpcauth_conf (rpcauth= line) and electrs_auth_toml"
  }
}

resource "random_password" "database" {
  for_each = local.services
  length   = 40
  special  = false
}

resource "random_password" "redis_auth" {
  length  = 64
  special = false
}

resource "random_password" "operator_token" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "database" {
  #checkov:skip=CKV2_AWS_57:Rotated by the documented procedure (new password, ALTER ROLE, ExternalSecret refresh); a rotation Lambda would need network access to RDS and a second credential to do the same.
  for_each                = local.services
  name                    = "${local.prefix}/${each.key}/database"
  description             = "${each.key}: Postgres role and connection (username, password, host, port, dbname)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "database" {
  for_each  = local.services
  secret_id = aws_secretsmanager_secret.database[each.key].id
  secret_string = jsonencode({
    username = each.value
    password = random_password.database[each.key].result
    host     = var.postgres.host
    port     = var.postgres.port
    dbname   = var.postgres.database
  })
}

resource "aws_secretsmanager_secret" "redis" {
  #checkov:skip=CKV2_AWS_57:ElastiCache rotates AUTH with auth_token_update_strategy ROTATE driven from Terraform (docs/operations.md); Secrets Manager rotation has no hook into it.
  name                    = "${local.prefix}/redis"
  description             = "Redis connection: host, port, auth_token"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "redis" {
  secret_id = aws_secretsmanager_secret.redis.id
  secret_string = jsonencode({
    host       = var.redis.host
    port       = var.redis.port
    auth_token = random_password.redis_auth.result
  })
}

resource "aws_secretsmanager_secret" "admin_hash" {
  #checkov:skip=CKV2_AWS_57:Holds only the hash of the operator token and changes with it (docs/operations.md, rotating keys).
  name                    = "${local.prefix}/admin"
  description             = "SHA-256 (hex) of the operator token, checked by the admin APIs"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "admin_hash" {
  secret_id     = aws_secretsmanager_secret.admin_hash.id
  secret_string = jsonencode({ token_sha256 = sha256(random_password.operator_token.result) })
}

resource "aws_secretsmanager_secret" "operator_token" {
  #checkov:skip=CKV2_AWS_57:Rotated with `terraform apply -replace` on random_password.operator_token (docs/operations.md, rotating keys).
  name                    = "crosslock-operators/${var.environment}/admin-token"
  description             = "The operator token for swapctl admin commands. Not readable by any pod."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "operator_token" {
  secret_id     = aws_secretsmanager_secret.operator_token.id
  secret_string = random_password.operator_token.result
}

resource "aws_secretsmanager_secret" "operator_filled" {
  #checkov:skip=CKV2_AWS_57:Key material filled by operators; rotation is a planned procedure (new certificate, new wallet), not a timer.
  for_each                = local.operator_filled
  name                    = "${local.prefix}/${each.key}"
  description             = each.value
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}
