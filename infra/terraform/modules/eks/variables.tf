variable "name" {
  description = "Cluster name, e.g. `crosslock-prod`; also the prefix of its roles and log group."
  type        = string
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version (major.minor). scripts/check-deploy validates the manifests against the same version."
  type        = string
  default     = "1.33"
}

variable "vpc_id" {
  description = "VPC the cluster runs in (vpc module output `vpc_id`)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the control plane's network interfaces and the nodes (vpc module output `private_subnet_ids`)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key that envelope-encrypts Kubernetes Secrets and the control-plane log group (the data key)."
  type        = string
}

variable "public_endpoint_cidrs" {
  description = "Ranges allowed to reach the API server's public endpoint. Empty (the default) turns the public endpoint off: the API is then reachable only from inside the VPC (VPN, bastion, CI runners)."
  type        = list(string)
  default     = []
}

variable "admin_role_arns" {
  description = "IAM roles given cluster-admin through EKS access entries."
  type        = list(string)
}

variable "node_groups" {
  description = "Managed node groups by name: instance types, scaling bounds and disk size (GiB). Spread over every subnet given."
  type = map(object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size_gib  = optional(number, 50)
    capacity_type  = optional(string, "ON_DEMAND")
  }))
}

variable "log_retention_days" {
  description = "Days to keep control-plane logs (api, audit, authenticator, controllerManager, scheduler)."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
