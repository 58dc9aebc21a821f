# Provider versions are pinned by the modules (modules/*/versions.tf).
terraform {
  required_version = ">= 1.6"
}

provider "aws" {
  region              = "eu-west-1"
  allowed_account_ids = ["222222222222"]
  default_tags {
    tags = {
      project     = "crosslock"
      environment = "prod"
      managed-by  = "terraform"
    }
  }
}

# Production: mainnets. A NAT gateway per zone, Multi-AZ everything, 35 days of point-in-time
# recovery, two Redis replicas, nodes in three zones for the relayer's zone spread.
module "crosslock" {
  source             = "../../modules/environment"
  environment        = "prod"
  vpc_cidr           = "10.50.0.0/16"
  azs                = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  single_nat_gateway = false
  admin_role_arns    = ["arn:aws:iam::222222222222:role/platform-admin", "arn:aws:iam::222222222222:role/terraform-deploy"]

  node_groups = {
    general = {
      instance_types = ["m6i.xlarge"]
      min_size       = 3
      max_size       = 9
      desired_size   = 3
      disk_size_gib  = 80
    }
  }

  rds_instance_class        = "db.m6g.xlarge"
  rds_allocated_storage_gib = 200
  rds_backup_retention_days = 35
  redis_node_type           = "cache.m6g.large"
  redis_replicas            = 2
}
