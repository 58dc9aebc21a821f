//! The resolver's Ethereum signer, chosen by config: a local key, or a key held in AWS KMS.
//!
//! Keys never appear in `Debug` output or logs. This module signs what it is given; the policy of
//! what may be signed (no refund once the secret is known, allowlisted receivers) sits above it.

use std::fmt;

use alloy::consensus::{TxEnvelope, TypedTransaction};
use alloy::network::{EthereumWallet, NetworkWallet};
use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use serde::Deserialize;

/// A hex private key whose `Debug` prints `***`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct LocalKey(String);

impl LocalKey {
    /// Wraps a hex private key (with or without `0x`).
    pub fn new(hex: impl Into<String>) -> LocalKey {
        LocalKey(hex.into())
    }
}

impl fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Which signer to use. In TOML: `kind = "local"` with `key`, or `kind = "aws_kms"` with
/// `key_id` (a key id or ARN of an `ECC_SECG_P256K1` key; the role needs only `kms:Sign` and
/// `kms:GetPublicKey`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignerConfig {
    /// A key in the process: from a file or the environment.
    Local {
        /// The private key.
        key: LocalKey,
    },
    /// A key that never leaves AWS KMS. Needs the `kms` feature.
    AwsKms {
        /// Key id or ARN. Prefer these to an alias: the address is derived once at start.
        key_id: String,
    },
}

/// Why no signer could be built, or a signature could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The local key is not a valid secp256k1 private key.
    #[error("local key is not a valid secp256k1 private key")]
    BadLocalKey,
    /// The config asks for KMS but this build was made without the `kms` feature.
    #[error("AWS KMS signer requested, but this build lacks the `kms` feature")]
    KmsNotCompiled,
    /// KMS refused or could not be reached while fetching the public key.
    #[error("AWS KMS signer could not start: {0}")]
    Kms(String),
    /// The signature itself failed.
    #[error("signing failed: {0}")]
    Sign(#[from] alloy::signers::Error),
}

/// A transaction signer with a fixed address.
#[derive(Clone)]
pub struct EthSigner {
    wallet: EthereumWallet,
    address: Address,
}

impl fmt::Debug for EthSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EthSigner")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl EthSigner {
    /// Builds the configured signer. `chain_id` binds a KMS signer to one chain.
    pub async fn from_config(
        config: &SignerConfig,
        chain_id: u64,
    ) -> Result<EthSigner, SignerError> {
        match config {
            SignerConfig::Local { key } => EthSigner::local(key),
            SignerConfig::AwsKms { key_id } => EthSigner::aws_kms(key_id, chain_id).await,
        }
    }

    /// A signer over a local private key.
    pub fn local(key: &LocalKey) -> Result<EthSigner, SignerError> {
        let signer: PrivateKeySigner =
            key.0.trim().parse().map_err(|_| SignerError::BadLocalKey)?;
        let address = signer.address();
        Ok(EthSigner {
            wallet: EthereumWallet::new(signer),
            address,
        })
    }

    /// A signer over an AWS KMS key, with credentials and region from the environment (the usual
    /// AWS chain: env, profile, IRSA web identity, instance role).
    #[cfg(feature = "kms")]
    pub async fn aws_kms(key_id: &str, chain_id: u64) -> Result<EthSigner, SignerError> {
        use alloy::signers::aws::AwsSigner;
        let config = aws_config::load_from_env().await;
        let client = aws_sdk_kms::Client::new(&config);
        let signer = AwsSigner::new(client, key_id.to_owned(), Some(chain_id))
            .await
            .map_err(|e| SignerError::Kms(e.to_string()))?;
        let address = alloy::signers::Signer::address(&signer);
        Ok(EthSigner {
            wallet: EthereumWallet::new(signer),
            address,
        })
    }

    /// Without the `kms` feature, asking for KMS is a clear start-up error.
    #[cfg(not(feature = "kms"))]
    pub async fn aws_kms(_key_id: &str, _chain_id: u64) -> Result<EthSigner, SignerError> {
        Err(SignerError::KmsNotCompiled)
    }

    /// The address transactions are signed for.
    pub fn address(&self) -> Address {
        self.address
    }

    pub(crate) async fn sign(&self, tx: TypedTransaction) -> Result<TxEnvelope, SignerError> {
        Ok(
            NetworkWallet::<alloy::network::Ethereum>::sign_transaction_from(
                &self.wallet,
                self.address,
                tx,
            )
            .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_key_is_hidden_from_debug() {
        let config: SignerConfig = serde_json::from_str(
            r#"{"kind":"local","key":"0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"}"#,
        )
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("59c6"), "{printed}");
        assert!(printed.contains("***"));
    }

    #[test]
    fn bad_local_key_is_refused() {
        assert!(matches!(
            EthSigner::local(&LocalKey::new("0x1234")),
            Err(SignerError::BadLocalKey)
        ));
    }

    // With the feature on, this would reach out to AWS; the kms build is checked, not run.
    #[cfg(not(feature = "kms"))]
    #[tokio::test]
    async fn kms_config_parses_and_without_the_feature_is_refused() {
        let config: SignerConfig =
            serde_json::from_str(r#"{"kind":"aws_kms","key_id":"arn:aws:kms:eu-west-1:1:key/x"}"#)
                .unwrap();
        let result = EthSigner::from_config(&config, 1).await;
        assert!(matches!(result, Err(SignerError::KmsNotCompiled)));
    }
}
