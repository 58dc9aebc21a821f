output "data_key_arn" {
  description = "ARN of the symmetric data key (RDS, ElastiCache, Secrets Manager, EKS secrets, logs)."
  value       = aws_kms_key.data.arn
}

output "data_key_alias" {
  description = "Alias of the data key."
  value       = aws_kms_alias.data.name
}

output "resolver_eth_key_arn" {
  description = "ARN of the resolver's ECC_SECG_P256K1 signing key."
  value       = aws_kms_key.resolver_eth.arn
}

output "resolver_eth_key_alias" {
  description = "Alias of the signing key: the resolver's RESOLVER_ETH_KMS_KEY_ID."
  value       = aws_kms_alias.resolver_eth.name
}
