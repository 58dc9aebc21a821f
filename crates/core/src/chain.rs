//! Chains, networks, assets and the on-chain identifiers the protocol refers to.
//!
//! Owns the byte-level identity types (ETH addresses with EIP-55, compressed Bitcoin public keys,
//! lock and transaction ids) and their parsing. It must never talk to a node or hold key material
//! beyond public keys.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;
use tiny_keccak::{Hasher, Keccak};

/// One of the two chains a swap spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Chain {
    /// Bitcoin: P2WSH HTLCs with absolute height timeouts.
    Bitcoin,
    /// Ethereum: the escrow contract with unix-second timeouts.
    Ethereum,
}

/// Which deployment a swap runs on. Each has its own safety parameters ([`crate::params`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Network {
    /// Bitcoin mainnet and Ethereum mainnet.
    Mainnet,
    /// Bitcoin testnet and an Ethereum testnet.
    Testnet,
    /// Bitcoin signet and an Ethereum testnet.
    Signet,
    /// Local regtest and anvil, for tests.
    Regtest,
}

impl Network {
    /// All networks, for tables and tests.
    pub const ALL: [Network; 4] = [
        Network::Mainnet,
        Network::Testnet,
        Network::Signet,
        Network::Regtest,
    ];
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        })
    }
}

/// An EVM chain id (EIP-155).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainId(pub u64);

/// A 20-byte Ethereum address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EthAddress(pub [u8; 20]);

/// Why a string is not an acceptable Ethereum address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    /// The string does not start with `0x`.
    #[error("address must start with 0x")]
    MissingPrefix,
    /// The string is not 40 hex digits after `0x`.
    #[error("address must be 40 hex digits after 0x, got {0} characters")]
    BadLength(usize),
    /// A character is not a hex digit.
    #[error("address contains a character that is not a hex digit")]
    NotHex,
    /// The address mixes cases but the EIP-55 checksum does not match: most likely a typo.
    #[error("address has mixed case but the EIP-55 checksum does not match")]
    BadChecksum,
    /// The zero address: never a valid sender, receiver or token.
    #[error("the zero address is not allowed")]
    Zero,
}

impl EthAddress {
    /// Parse `0x` + 40 hex digits. All-lowercase and all-uppercase are accepted as unchecksummed;
    /// mixed case must carry a valid EIP-55 checksum. The zero address is refused.
    pub fn parse(s: &str) -> Result<EthAddress, AddressError> {
        let hex_part = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .ok_or(AddressError::MissingPrefix)?;
        if hex_part.len() != 40 {
            return Err(AddressError::BadLength(hex_part.len()));
        }
        let mut bytes = [0_u8; 20];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| AddressError::NotHex)?;
        let addr = EthAddress(bytes);
        let has_lower = hex_part.bytes().any(|b| b.is_ascii_lowercase());
        let has_upper = hex_part.bytes().any(|b| b.is_ascii_uppercase());
        if has_lower && has_upper && addr.checksummed()[2..] != *hex_part {
            return Err(AddressError::BadChecksum);
        }
        if bytes == [0; 20] {
            return Err(AddressError::Zero);
        }
        Ok(addr)
    }

    /// The EIP-55 mixed-case form, with `0x`.
    pub fn checksummed(&self) -> String {
        let lower = hex::encode(self.0);
        let mut hasher = Keccak::v256();
        hasher.update(lower.as_bytes());
        let mut hash = [0_u8; 32];
        hasher.finalize(&mut hash);
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = if i % 2 == 0 {
                hash[i / 2] >> 4
            } else {
                hash[i / 2] & 0x0f
            };
            out.push(if nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }
}

impl FromStr for EthAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EthAddress::parse(s)
    }
}

impl fmt::Display for EthAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.checksummed())
    }
}

impl fmt::Debug for EthAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EthAddress({})", self.checksummed())
    }
}

/// What is being swapped on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Asset {
    /// Bitcoin, in satoshis.
    Btc,
    /// Native ether, in wei.
    Eth,
    /// An ERC-20 token by contract address, in its base units.
    Erc20(EthAddress),
}

impl Asset {
    /// The chain the asset lives on.
    pub const fn chain(&self) -> Chain {
        match self {
            Asset::Btc => Chain::Bitcoin,
            Asset::Eth | Asset::Erc20(_) => Chain::Ethereum,
        }
    }
}

/// A 33-byte compressed secp256k1 public key, as pushed in the HTLC script.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BtcPubkey([u8; 33]);

/// Why bytes are not a compressed public key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PubkeyError {
    /// Not valid hex.
    #[error("public key is not hex")]
    NotHex,
    /// Not 33 bytes.
    #[error("public key must be 33 bytes (compressed), got {0}")]
    BadLength(usize),
    /// The first byte is not 0x02 or 0x03: uncompressed or hybrid keys are not allowed in P2WSH.
    #[error("public key must start with 0x02 or 0x03, got 0x{0:02x}")]
    BadPrefix(u8),
}

impl BtcPubkey {
    /// Accept 33 bytes with a compressed-key prefix. The curve point itself is checked by the
    /// Bitcoin adapter, which has secp256k1; this crate stays dependency-free.
    pub fn from_bytes(bytes: &[u8]) -> Result<BtcPubkey, PubkeyError> {
        let arr: [u8; 33] = bytes
            .try_into()
            .map_err(|_| PubkeyError::BadLength(bytes.len()))?;
        match arr[0] {
            0x02 | 0x03 => Ok(BtcPubkey(arr)),
            other => Err(PubkeyError::BadPrefix(other)),
        }
    }

    /// Parse 66 hex digits.
    pub fn from_hex(s: &str) -> Result<BtcPubkey, PubkeyError> {
        let bytes = hex::decode(s).map_err(|_| PubkeyError::NotHex)?;
        BtcPubkey::from_bytes(&bytes)
    }

    /// The 33 bytes.
    pub const fn as_bytes(&self) -> &[u8; 33] {
        &self.0
    }
}

impl fmt::Debug for BtcPubkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BtcPubkey({})", hex::encode(self.0))
    }
}

/// A transaction id (Bitcoin txid or Ethereum tx hash), in the byte order the chain uses
/// internally. Identifies a spend; a lock is identified by [`LockId`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxId(pub [u8; 32]);

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({})", hex::encode(self.0))
    }
}

/// Identifies one lock of funds. Spends are matched to locks by this, never by the txid that
/// created them (a malleated or replaced funding tx keeps the outpoint only if it is the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockId {
    /// A P2WSH HTLC output.
    BtcOutpoint {
        /// The funding transaction.
        txid: TxId,
        /// The output index.
        vout: u32,
    },
    /// A swap in the escrow contract, by the id the contract derives from its parameters; stable
    /// across a reorg that re-includes the lock in another block.
    EthEscrow {
        /// The escrow's swap id.
        id: [u8; 32],
    },
}

impl LockId {
    /// The chain this lock lives on.
    pub const fn chain(&self) -> Chain {
        match self {
            LockId::BtcOutpoint { .. } => Chain::Bitcoin,
            LockId::EthEscrow { .. } => Chain::Ethereum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test vectors from the EIP-55 specification.
    const EIP55: [&str; 4] = [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ];

    #[test]
    fn eip55_vectors_round_trip() {
        for s in EIP55 {
            let a = EthAddress::parse(s).expect("valid vector");
            assert_eq!(a.checksummed(), s);
            assert!(EthAddress::parse(&s.to_lowercase()).is_ok());
        }
    }

    #[test]
    fn bad_addresses_name_the_fault() {
        let flipped = "0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert_eq!(EthAddress::parse(flipped), Err(AddressError::BadChecksum));
        assert_eq!(
            EthAddress::parse("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            Err(AddressError::MissingPrefix)
        );
        assert_eq!(
            EthAddress::parse("0x5aAeb6"),
            Err(AddressError::BadLength(6))
        );
        assert_eq!(
            EthAddress::parse("0xzzAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            Err(AddressError::NotHex)
        );
        assert_eq!(
            EthAddress::parse(&format!("0x{}", "0".repeat(40))),
            Err(AddressError::Zero)
        );
    }

    #[test]
    fn pubkey_prefix_and_length_are_checked() {
        let mut k = [7_u8; 33];
        k[0] = 0x02;
        assert!(BtcPubkey::from_bytes(&k).is_ok());
        k[0] = 0x04;
        assert_eq!(BtcPubkey::from_bytes(&k), Err(PubkeyError::BadPrefix(4)));
        assert_eq!(
            BtcPubkey::from_bytes(&[2_u8; 65]),
            Err(PubkeyError::BadLength(65))
        );
        assert_eq!(BtcPubkey::from_hex("02zz"), Err(PubkeyError::NotHex));
    }
}
