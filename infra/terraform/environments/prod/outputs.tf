output "crosslock" {
  description = "Everything the kustomize overlay and the operators need from this environment (see the environment module's outputs)."
  value = {
    cluster_name            = module.crosslock.cluster_name
    kustomize_environment   = module.crosslock.kustomize_environment
    resolver_role_arn       = module.crosslock.resolver_role_arn
    secrets_reader_role_arn = module.crosslock.secrets_reader_role_arn
    resolver_eth_key_alias  = module.crosslock.resolver_eth_key_alias
    rds_instance_identifier = module.crosslock.rds_instance_identifier
    nat_public_ips          = module.crosslock.nat_public_ips
  }
}
