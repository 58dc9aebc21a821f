# One crosslock environment: network, cluster, data stores, keys, roles and secrets, wired in
# dependency order. environments/staging and environments/prod call this with their own sizes, so
# the two can differ only in values, never in shape.

locals {
  name = "crosslock-${var.environment}"
}

module "vpc" {
  source               = "../vpc"
  name                 = local.name
  cidr                 = var.vpc_cidr
  azs                  = var.azs
  single_nat_gateway   = var.single_nat_gateway
  flow_log_kms_key_arn = module.kms.data_key_arn
  tags                 = var.tags
}

module "eks" {
  source                = "../eks"
  name                  = local.name
  kubernetes_version    = var.kubernetes_version
  vpc_id                = module.vpc.vpc_id
  subnet_ids            = module.vpc.private_subnet_ids
  kms_key_arn           = module.kms.data_key_arn
  public_endpoint_cidrs = var.eks_public_endpoint_cidrs
  admin_role_arns       = var.admin_role_arns
  node_groups           = var.node_groups
  tags                  = var.tags
}

module "iam" {
  source            = "../iam"
  name              = local.name
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
  secrets_prefix    = "crosslock/${var.environment}/"
  data_key_arn      = module.kms.data_key_arn
  tags              = var.tags
}

# The data key has no dependency on the roles; the signing key's policy names the resolver role.
module "kms" {
  source            = "../kms"
  name              = local.name
  admin_role_arns   = var.admin_role_arns
  resolver_role_arn = module.iam.resolver_role_arn
  tags              = var.tags
}

module "rds" {
  source                     = "../rds"
  name                       = local.name
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.data_subnet_ids
  allowed_security_group_ids = [module.eks.cluster_security_group_id]
  kms_key_arn                = module.kms.data_key_arn
  instance_class             = var.rds_instance_class
  allocated_storage_gib      = var.rds_allocated_storage_gib
  backup_retention_days      = var.rds_backup_retention_days
  deletion_protection        = var.rds_deletion_protection
  tags                       = var.tags
}

module "elasticache" {
  source                     = "../elasticache"
  name                       = local.name
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.data_subnet_ids
  allowed_security_group_ids = [module.eks.cluster_security_group_id]
  kms_key_arn                = module.kms.data_key_arn
  auth_token                 = module.secrets.redis_auth_token
  node_type                  = var.redis_node_type
  replicas                   = var.redis_replicas
  tags                       = var.tags
}

module "secrets" {
  source      = "../secrets"
  environment = var.environment
  kms_key_arn = module.kms.data_key_arn
  postgres = {
    host     = module.rds.address
    port     = module.rds.port
    database = module.rds.database_name
  }
  redis = {
    host = module.elasticache.primary_endpoint
    port = module.elasticache.port
  }
  tags = var.tags
}
