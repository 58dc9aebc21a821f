output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "kustomize_environment" {
  description = "The values of the kustomize overlay's `environment` ConfigMap (kustomize/overlays/<env>/environment.yaml), minus the account id."
  value = {
    name          = var.environment
    dataCidr      = module.vpc.data_subnets_cidr
    endpointsCidr = module.vpc.endpoint_subnets_cidr
  }
}

output "resolver_role_arn" {
  description = "IRSA role of the resolver (annotation on its ServiceAccount)."
  value       = module.iam.resolver_role_arn
}

output "secrets_reader_role_arn" {
  description = "IRSA role of the External Secrets Operator's service account."
  value       = module.iam.secrets_reader_role_arn
}

output "resolver_eth_key_alias" {
  description = "KMS alias of the resolver's Ethereum key (RESOLVER_ETH_KMS_KEY_ID)."
  value       = module.kms.resolver_eth_key_alias
}

output "rds_instance_identifier" {
  description = "RDS instance identifier, for restores."
  value       = module.rds.instance_identifier
}

output "rds_master_user_secret_arn" {
  description = "Secret holding the RDS master password (managed by RDS), for the one-time role bootstrap."
  value       = module.rds.master_user_secret_arn
}

output "nat_public_ips" {
  description = "Egress addresses to give chain providers for their allowlists."
  value       = module.vpc.nat_public_ips
}
