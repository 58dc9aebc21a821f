# Provider versions are pinned by the modules (modules/*/versions.tf).
terraform {
  required_version = ">= 1.6"
}

provider "aws" {
  region              = "eu-west-1"
  allowed_account_ids = ["111111111111"]
  default_tags {
    tags = {
      project     = "crosslock"
      environment = "staging"
      managed-by  = "terraform"
    }
  }
}

# Staging: testnets, smaller and cheaper (one NAT gateway, burstable database), same shape as prod.
module "crosslock" {
  source             = "../../modules/environment"
  environment        = "staging"
  vpc_cidr           = "10.40.0.0/16"
  azs                = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  single_nat_gateway = true
  admin_role_arns    = ["arn:aws:iam::111111111111:role/platform-admin", "arn:aws:iam::111111111111:role/terraform-deploy"]

  node_groups = {
    general = {
      instance_types = ["m6i.large"]
      min_size       = 2
      max_size       = 4
      desired_size   = 3
    }
  }

  rds_instance_class        = "db.t4g.medium"
  rds_allocated_storage_gib = 50
  rds_backup_retention_days = 7
  redis_node_type           = "cache.t4g.small"
  redis_replicas            = 1
}
