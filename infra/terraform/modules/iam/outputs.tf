output "resolver_role_arn" {
  description = "IRSA role of the resolver's service account; pass it to the kms module, which grants it signing."
  value       = aws_iam_role.this["resolver"].arn
}

output "secrets_reader_role_arn" {
  description = "IRSA role of the `crosslock-secrets` service account used by the External Secrets Operator's SecretStore."
  value       = aws_iam_role.this["secrets-reader"].arn
}
