output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "The VPC's IPv4 range."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets, one per zone: internet-facing load balancers and NAT gateways."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets, one per zone: EKS nodes and pods."
  value       = aws_subnet.private[*].id
}

output "data_subnet_ids" {
  description = "Isolated subnets, one per zone, for RDS and ElastiCache."
  value       = aws_subnet.data[*].id
}

output "data_subnets_cidr" {
  description = "One range covering every data subnet: the `dataCidr` of the kustomize overlay's environment ConfigMap (Postgres and Redis egress)."
  value       = cidrsubnet(var.cidr, 6, 2)
}

output "endpoint_subnets_cidr" {
  description = "One range covering every endpoint subnet: the `endpointsCidr` of the kustomize overlay's environment ConfigMap (KMS and STS egress)."
  value       = cidrsubnet(var.cidr, 6, 4)
}

output "nat_public_ips" {
  description = "Public addresses of the NAT gateways: what chain providers see, for their allowlists."
  value       = aws_eip.nat[*].public_ip
}
