variable "name" {
  description = "Prefix for role names, e.g. `crosslock-prod` gives `crosslock-prod-resolver`. The kustomize overlays build the same names."
  type        = string
}

variable "oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider (eks module output `oidc_provider_arn`)."
  type        = string
}

variable "oidc_issuer" {
  description = "The cluster's OIDC issuer without `https://` (eks module output `oidc_issuer`), used in the trust conditions."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the crosslock service accounts."
  type        = string
  default     = "crosslock"
}

variable "secrets_prefix" {
  description = "Secrets Manager name prefix the External Secrets Operator may read, e.g. `crosslock/prod/`."
  type        = string
}

variable "data_key_arn" {
  description = "The data KMS key that encrypts those secrets; the secrets reader may decrypt with it only through Secrets Manager."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
