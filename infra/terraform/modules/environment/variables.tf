variable "environment" {
  description = "Environment name (`staging`, `prod`): names every resource `crosslock-<environment>-...` and every secret `crosslock/<environment>/...`."
  type        = string
}

variable "vpc_cidr" {
  description = "The environment's VPC range, a /16 that no peered network uses."
  type        = string
}

variable "azs" {
  description = "Three availability zones of the region."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per zone (staging)."
  type        = bool
  default     = false
}

variable "admin_role_arns" {
  description = "IAM roles of the platform team: cluster admins and KMS key administrators. Include the role Terraform runs as."
  type        = list(string)
}

variable "eks_public_endpoint_cidrs" {
  description = "Ranges allowed to reach the Kubernetes API from outside the VPC; empty keeps the API private."
  type        = list(string)
  default     = []
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.33"
}

variable "node_groups" {
  description = "EKS managed node groups (see the eks module's `node_groups`)."
  type = map(object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size_gib  = optional(number, 50)
    capacity_type  = optional(string, "ON_DEMAND")
  }))
}

variable "rds_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "rds_allocated_storage_gib" {
  description = "Initial RDS storage in GiB."
  type        = number
  default     = 100
}

variable "rds_backup_retention_days" {
  description = "Days of RDS backups and point-in-time recovery."
  type        = number
}

variable "rds_deletion_protection" {
  description = "RDS deletion protection."
  type        = bool
  default     = true
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "redis_replicas" {
  description = "ElastiCache replicas beside the primary."
  type        = number
  default     = 1
}

variable "tags" {
  description = "Tags added to every resource (the provider adds the environment's default tags as well)."
  type        = map(string)
  default     = {}
}
