# State in S3 (versioned, KMS-encrypted) with a DynamoDB lock table, one state file per
# environment. The bucket and table are made once per account, before the first `init`
# (docs/operations.md, "First deploy").
terraform {
  backend "s3" {
    bucket         = "crosslock-terraform-state-111111111111"
    key            = "staging/terraform.tfstate"
    region         = "eu-west-1"
    dynamodb_table = "crosslock-terraform-locks"
    encrypt        = true
    kms_key_id     = "alias/crosslock-terraform-state"
  }
}
