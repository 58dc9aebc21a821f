variable "name" {
  description = "Prefix for key aliases, e.g. `crosslock-prod` gives `alias/crosslock-prod-data` and `alias/crosslock-prod-resolver-eth`."
  type        = string
}

variable "admin_role_arns" {
  description = "IAM roles that administer both keys (describe, tag, disable, schedule deletion). They get no cryptographic use of either key. Must include the role Terraform runs as: the signing key has no account-root statement, so KMS refuses a policy that would lock its creator out."
  type        = list(string)
}

variable "resolver_role_arn" {
  description = "The resolver's IRSA role: the only principal allowed kms:Sign and kms:GetPublicKey on the Ethereum signing key."
  type        = string
}

variable "deletion_window_days" {
  description = "Days between scheduling a key's deletion and its destruction (7 to 30). Deleting the signing key loses the resolver's Ethereum address for good."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
