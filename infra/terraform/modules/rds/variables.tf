variable "name" {
  description = "Identifier of the DB instance and prefix of its subnet group, parameter group and security group, e.g. `crosslock-prod`."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database (vpc module output `vpc_id`)."
  type        = string
}

variable "subnet_ids" {
  description = "Isolated data subnets in at least two zones (vpc module output `data_subnet_ids`)."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on 5432: the EKS cluster security group."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for storage, snapshots, Performance Insights and the managed master-password secret (the data key)."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL engine version (major.minor). Minor upgrades are applied automatically in the maintenance window."
  type        = string
  default     = "16.6"
}

variable "instance_class" {
  description = "DB instance class."
  type        = string
  default     = "db.m6g.large"
}

variable "allocated_storage_gib" {
  description = "Initial gp3 storage in GiB."
  type        = number
  default     = 100
}

variable "max_allocated_storage_gib" {
  description = "Ceiling for storage autoscaling in GiB."
  type        = number
  default     = 1000
}

variable "database_name" {
  description = "Database created with the instance; the relayer and resolver use separate schemas and roles in it (see docs/operations.md)."
  type        = string
  default     = "crosslock"
}

variable "backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery (1 to 35)."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Refuse to delete the instance until this is turned off. Off only for throwaway environments."
  type        = bool
  default     = true
}

variable "monitoring_interval_seconds" {
  description = "Enhanced Monitoring interval in seconds (0 turns it off; 1, 5, 10, 15, 30 or 60)."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
