variable "name" {
  description = "Replication group id and prefix of its subnet group and security group, e.g. `crosslock-prod`."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cache (vpc module output `vpc_id`)."
  type        = string
}

variable "subnet_ids" {
  description = "Isolated data subnets (vpc module output `data_subnet_ids`)."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on 6379: the EKS cluster security group."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for encryption at rest and for the slow-log group (the data key)."
  type        = string
}

variable "auth_token" {
  description = "The Redis AUTH token (16 to 128 printable characters). It is generated and stored in Secrets Manager by the secrets module and read from there; never set it by hand."
  type        = string
  sensitive   = true
}

variable "engine_version" {
  description = "Redis engine version."
  type        = string
  default     = "7.1"
}

variable "node_type" {
  description = "Cache node type."
  type        = string
  default     = "cache.m6g.large"
}

variable "replicas" {
  description = "Read replicas beside the primary (at least 1 for automatic failover)."
  type        = number
  default     = 1

  validation {
    condition     = var.replicas >= 1
    error_message = "Automatic failover needs at least one replica."
  }
}

variable "snapshot_retention_days" {
  description = "Days of daily snapshots. Redis holds nothing that is not also in Postgres, so this only speeds a rebuild."
  type        = number
  default     = 3
}

variable "log_retention_days" {
  description = "Days to keep the slow log in CloudWatch."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
