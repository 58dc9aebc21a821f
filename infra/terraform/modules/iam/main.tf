# IAM roles for service accounts (IRSA). Each role trusts exactly one Kubernetes service account
# through the cluster's OIDC provider, and holds only what that workload calls.
#
#   resolver        no IAM policy at all: the signing key's own policy grants this role kms:Sign and
#                   kms:GetPublicKey (kms module); nothing else in AWS is reachable with it
#   secrets-reader  the External Secrets Operator's identity for this namespace: read this
#                   environment's secrets and decrypt them through Secrets Manager
# The relayer calls no AWS API and has no role.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  service_accounts = {
    resolver       = "resolver"
    secrets-reader = "crosslock-secrets"
  }
}

data "aws_iam_policy_document" "trust" {
  for_each = local.service_accounts
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${each.value}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each             = local.service_accounts
  name                 = "${var.name}-${each.key}"
  description          = "IRSA role for ${var.namespace}/${each.value}"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "secrets_reader" {
  statement {
    sid       = "ReadThisEnvironmentsSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = ["arn:${data.aws_partition.current.partition}:secretsmanager:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:secret:${var.secrets_prefix}*"]
  }
  statement {
    sid       = "DecryptThroughSecretsManagerOnly"
    actions   = ["kms:Decrypt"]
    resources = [var.data_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "secrets_reader" {
  name   = "read-${replace(trimsuffix(var.secrets_prefix, "/"), "/", "-")}-secrets"
  role   = aws_iam_role.this["secrets-reader"].id
  policy = data.aws_iam_policy_document.secrets_reader.json
}
