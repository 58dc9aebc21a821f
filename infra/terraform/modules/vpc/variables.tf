variable "name" {
  description = "Prefix for every resource name and Name tag, e.g. `crosslock-prod`."
  type        = string
}

variable "cidr" {
  description = "The VPC's IPv4 range, a /16. Subnets are carved from it at fixed offsets (see the README)."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && endswith(var.cidr, "/16")
    error_message = "cidr must be an IPv4 /16."
  }
}

variable "azs" {
  description = "Availability zones to spread subnets over; exactly three, so that RDS Multi-AZ, ElastiCache failover and the relayer's zone spread all have room."
  type        = list(string)

  validation {
    condition     = length(var.azs) == 3
    error_message = "Give exactly three availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, for staging) instead of one per zone (production)."
  type        = bool
  default     = false
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints in the endpoint subnets, so that their traffic never leaves the VPC. KMS and STS are what the resolver uses; the rest serve the nodes and the External Secrets Operator."
  type        = list(string)
  default     = ["kms", "sts", "secretsmanager", "ecr.api", "ecr.dkr", "logs", "ec2", "elasticloadbalancing"]
}

variable "flow_log_kms_key_arn" {
  description = "KMS key ARN that encrypts the flow-log CloudWatch log group (the environment's data key)."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Days to keep VPC flow logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
