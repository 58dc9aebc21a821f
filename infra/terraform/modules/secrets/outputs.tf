output "secret_arns" {
  description = "ARN of every secret this module manages, by short name (`relayer/database`, `redis`, `admin`, `resolver/btc-wallet`, ...)."
  value = merge(
    { for k, s in aws_secretsmanager_secret.database : "${k}/database" => s.arn },
    { for k, s in aws_secretsmanager_secret.operator_filled : k => s.arn },
    {
      redis          = aws_secretsmanager_secret.redis.arn
      admin          = aws_secretsmanager_secret.admin_hash.arn
      operator_token = aws_secretsmanager_secret.operator_token.arn
    },
  )
}

output "secrets_prefix" {
  description = "Name prefix of the secrets pods may read (through the External Secrets Operator), `crosslock/<env>/`."
  value       = "${local.prefix}/"
}

output "redis_auth_token" {
  description = "The generated Redis AUTH token, passed to the elasticache module."
  value       = random_password.redis_auth.result
  sensitive   = true
}
