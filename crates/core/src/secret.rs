//! The secret, its hashlock and the swap id.
//!
//! Owns the one hash function of the protocol (SHA-256, never keccak: Bitcoin script cannot check
//! keccak) and the rule that a secret is exactly 32 bytes. It must never print a secret: `Debug`
//! and `Display` show `***`, and the bytes are overwritten when a `Secret` is dropped.

use std::fmt;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// The maker's preimage: exactly 32 bytes. `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Secret([u8; 32]);

/// `H = SHA-256(s)`, the same on both chains.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hashlock(pub [u8; 32]);

/// Why bytes are not a secret or a hashlock.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashError {
    /// Not valid hex.
    #[error("not hex")]
    NotHex,
    /// Not 32 bytes: both chains refuse any other preimage size, so we refuse it first.
    #[error("must be exactly 32 bytes, got {0}")]
    BadLength(usize),
}

impl Secret {
    /// Wrap 32 bytes.
    pub const fn new(bytes: [u8; 32]) -> Secret {
        Secret(bytes)
    }

    /// Accept exactly 32 bytes, as both chains do.
    pub fn from_slice(bytes: &[u8]) -> Result<Secret, HashError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| HashError::BadLength(bytes.len()))?;
        Ok(Secret(arr))
    }

    /// The raw bytes, for building a claim. Callers must not log them.
    pub const fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hashlock this secret opens.
    pub fn hashlock(&self) -> Hashlock {
        Hashlock::from_secret(self)
    }
}

impl Drop for Secret {
    // Best effort without `unsafe` or a dependency: `black_box` keeps the compiler from
    // dropping the write as dead. Copies made by `Clone` are wiped when they drop too.
    fn drop(&mut self) {
        self.0 = [0; 32];
        std::hint::black_box(&mut self.0);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Hashlock {
    /// `SHA-256(secret)`.
    pub fn from_secret(secret: &Secret) -> Hashlock {
        Hashlock(Sha256::digest(secret.0).into())
    }

    /// Whether `secret` opens this hashlock.
    pub fn opens_with(&self, secret: &Secret) -> bool {
        Hashlock::from_secret(secret) == *self
    }

    /// Parse 64 hex digits, with or without `0x`.
    pub fn from_hex(s: &str) -> Result<Hashlock, HashError> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        let bytes = hex::decode(s).map_err(|_| HashError::NotHex)?;
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| HashError::BadLength(bytes.len()))?;
        Ok(Hashlock(arr))
    }
}

impl fmt::Debug for Hashlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hashlock({})", hex::encode(self.0))
    }
}

impl fmt::Display for Hashlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A swap's id, assigned by the relayer when the order is created (a UUID's 16 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SwapId(pub [u8; 16]);

impl fmt::Debug for SwapId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SwapId({})", hex::encode(self.0))
    }
}

impl fmt::Display for SwapId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new([0xab; 32]);
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert!(!format!("{s:?}").contains("ab"));
    }

    #[test]
    fn hashlock_is_sha256() {
        // SHA-256 of 32 zero bytes.
        let h = Hashlock::from_secret(&Secret::new([0; 32]));
        assert_eq!(
            h.to_string(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        assert!(h.opens_with(&Secret::new([0; 32])));
        assert!(!h.opens_with(&Secret::new([1; 32])));
    }

    #[test]
    fn only_32_byte_preimages_are_secrets() {
        for len in 0..600 {
            let r = Secret::from_slice(&vec![1_u8; len]);
            assert_eq!(r.is_ok(), len == 32, "len {len}");
        }
        assert_eq!(Hashlock::from_hex("00"), Err(HashError::BadLength(1)));
        assert_eq!(Hashlock::from_hex("zz"), Err(HashError::NotHex));
    }
}
