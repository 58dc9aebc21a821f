variable "environment" {
  description = "Environment name: the second part of every secret name, `crosslock/<environment>/...`, which the kustomize overlay's ExternalSecrets read."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts every secret (the data key)."
  type        = string
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored (7 to 30)."
  type        = number
  default     = 30
}

variable "postgres" {
  description = "Where the services' databases live (rds module outputs): host, port and database name, written into the relayer's and resolver's database secrets."
  type = object({
    host     = string
    port     = number
    database = string
  })
}

variable "redis" {
  description = "Where Redis lives (elasticache module outputs): host and port, written into the Redis secret beside the AUTH token."
  type = object({
    host = string
    port = number
  })
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
