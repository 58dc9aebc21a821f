data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
  # Key management without cryptographic use.
  admin_actions = [
    "kms:Describe*", "kms:List*", "kms:Get*", "kms:Create*", "kms:Put*", "kms:Update*",
    "kms:Enable*", "kms:Disable*", "kms:Revoke*", "kms:TagResource", "kms:UntagResource",
    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
  ]
}

# --- data key: RDS, ElastiCache, Secrets Manager, EKS secrets, CloudWatch logs, EBS ----------------
# Symmetric, rotated yearly by KMS. The account-root statement lets IAM policies grant its use, as
# AWS services acting for the account need; the log service gets its own statement.
data "aws_iam_policy_document" "data" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" is the key itself, and the account root must be able to manage its own key.
  #checkov:skip=CKV_AWS_111:In a key policy, Resource "*" names only the key the policy is attached to.
  #checkov:skip=CKV_AWS_356:In a key policy, Resource "*" names only the key the policy is attached to.
  statement {
    sid       = "AccountManagesAndDelegatesToIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }
  statement {
    sid       = "Administrators"
    actions   = local.admin_actions
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = var.admin_role_arns
    }
  }
  # Managed node groups launch through EC2 Auto Scaling, whose service-linked role must be able
  # to use the key for the nodes' encrypted root volumes.
  statement {
    sid       = "AutoScalingEncryptsNodeVolumes"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"]
    }
  }
  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:*"]
    }
  }
}

resource "aws_kms_key" "data" {
  description             = "${var.name}: data at rest (RDS, ElastiCache, Secrets Manager, EKS secrets, logs)"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.deletion_window_days
  policy                  = data.aws_iam_policy_document.data.json
  tags                    = var.tags
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

# --- resolver Ethereum signing key --------------------------------------------------------------
# secp256k1, sign/verify. The private key never leaves KMS. No account-root delegation: IAM
# policies cannot widen who signs; only this key policy decides, and it names one role for two
# actions. Administrators can manage the key but not sign with it.
data "aws_iam_policy_document" "resolver_eth" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" is the key itself; management is limited to the named administrator roles.
  #checkov:skip=CKV_AWS_111:In a key policy, Resource "*" names only the key the policy is attached to.
  #checkov:skip=CKV_AWS_356:In a key policy, Resource "*" names only the key the policy is attached to.
  statement {
    sid       = "Administrators"
    actions   = local.admin_actions
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = var.admin_role_arns
    }
  }
  statement {
    sid       = "ResolverSignsOnly"
    actions   = ["kms:Sign", "kms:GetPublicKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [var.resolver_role_arn]
    }
  }
}

resource "aws_kms_key" "resolver_eth" {
  #checkov:skip=CKV_AWS_7:KMS cannot rotate asymmetric keys; a new signing key means a new Ethereum address, done by the procedure in docs/operations.md.
  description              = "${var.name}: resolver Ethereum signer (secp256k1)"
  customer_master_key_spec = "ECC_SECG_P256K1"
  key_usage                = "SIGN_VERIFY"
  deletion_window_in_days  = var.deletion_window_days
  # The policy above leaves no principal able to change it except the administrators.
  bypass_policy_lockout_safety_check = false
  policy                             = data.aws_iam_policy_document.resolver_eth.json
  tags                               = var.tags
}

resource "aws_kms_alias" "resolver_eth" {
  name          = "alias/${var.name}-resolver-eth"
  target_key_id = aws_kms_key.resolver_eth.key_id
}
