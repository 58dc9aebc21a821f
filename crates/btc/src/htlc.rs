//! The v1 Bitcoin HTLC: its P2WSH witness script, output script and address, and the strict
//! parser that turns a script back into its parameters.
//!
//! Owns the one template of `protocol.md`. It must never accept a script that differs from that
//! template by a single byte (a non-minimal push, an uncompressed key, a time-based lock): the
//! parser re-encodes what it read and compares, so "parses" always means "is exactly ours".

use bitcoin::blockdata::opcodes::all as op;
use bitcoin::blockdata::script::{Builder, Instruction};
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{Address, Network, Script, ScriptBuf, WScriptHash};
use thiserror::Error;

use crate::types::{BtcHeight, Hashlock};

/// Heights at or above this are unix times to `OP_CHECKLOCKTIMEVERIFY` (Core's
/// `LOCKTIME_THRESHOLD`); our timeouts are block heights only.
pub const LOCKTIME_THRESHOLD: u32 = 500_000_000;

/// The preimage size the script enforces with `OP_SIZE 32 OP_EQUALVERIFY`.
pub const SECRET_LEN: usize = 32;

/// The parameters of one HTLC output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HtlcParams {
    hashlock: Hashlock,
    claim_pubkey: PublicKey,
    refund_pubkey: PublicKey,
    timeout: BtcHeight,
}

/// Why HTLC parameters are refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HtlcError {
    /// The timeout is 0 or not below [`LOCKTIME_THRESHOLD`], so CLTV would not read it as a height.
    #[error("timeout {0} is not a block height in 1..{LOCKTIME_THRESHOLD}")]
    TimeoutNotHeight(u32),
    /// The claim and refund keys are the same, so either branch could be taken by one party.
    #[error("claim and refund keys must differ")]
    SameKeys,
}

/// Why a script is not exactly the HTLC template.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The script could not be split into instructions, or a push is not minimally encoded.
    #[error("script is not minimally encoded or is truncated: {0}")]
    Malformed(String),
    /// The script ended before the template did.
    #[error("script ends after {0} instructions, the template has 15")]
    TooShort(usize),
    /// There is something after the final `OP_CHECKSIG`.
    #[error("script has instructions after the template's end")]
    Trailing,
    /// An opcode differs from the template at this instruction index.
    #[error("instruction {index}: expected {expected}")]
    Unexpected {
        /// Position in the instruction list (0-based).
        index: usize,
        /// What the template has there.
        expected: &'static str,
    },
    /// The hashlock push is not 32 bytes.
    #[error("hashlock must be 32 bytes, got {0}")]
    HashlockLength(usize),
    /// A key push is not a 33-byte compressed key (P2WSH policy refuses uncompressed keys).
    #[error("{which} key must be 33 bytes compressed, got {len} bytes")]
    KeyLength {
        /// `claim` or `refund`.
        which: &'static str,
        /// Bytes pushed.
        len: usize,
    },
    /// A key push is 33 bytes but not a point on the curve.
    #[error("{0} key is not a valid secp256k1 point")]
    InvalidKey(&'static str),
    /// The timeout push is not a minimal script number.
    #[error("timeout is not a minimally encoded script number")]
    TimeoutEncoding,
    /// The parameters read are refused by [`HtlcParams::new`].
    #[error(transparent)]
    Params(#[from] HtlcError),
    /// Everything read was plausible, but re-encoding gives different bytes.
    #[error("script differs from the canonical encoding of its own parameters")]
    NotCanonical,
}

impl HtlcParams {
    /// Checks and holds the parameters of one HTLC.
    pub fn new(
        hashlock: Hashlock,
        claim_pubkey: PublicKey,
        refund_pubkey: PublicKey,
        timeout: BtcHeight,
    ) -> Result<Self, HtlcError> {
        if timeout.0 == 0 || timeout.0 >= LOCKTIME_THRESHOLD {
            return Err(HtlcError::TimeoutNotHeight(timeout.0));
        }
        if claim_pubkey == refund_pubkey {
            return Err(HtlcError::SameKeys);
        }
        Ok(Self {
            hashlock,
            claim_pubkey,
            refund_pubkey,
            timeout,
        })
    }

    /// From the core's types: the keys' curve points are checked here (the core checks only
    /// their compressed prefix).
    pub fn from_core(
        hashlock: Hashlock,
        claim: &crosslock_core::chain::BtcPubkey,
        refund: &crosslock_core::chain::BtcPubkey,
        timeout: BtcHeight,
    ) -> Result<Self, ParseError> {
        let claim =
            PublicKey::from_slice(claim.as_bytes()).map_err(|_| ParseError::InvalidKey("claim"))?;
        let refund = PublicKey::from_slice(refund.as_bytes())
            .map_err(|_| ParseError::InvalidKey("refund"))?;
        Ok(Self::new(hashlock, claim, refund, timeout)?)
    }

    /// `H`.
    pub const fn hashlock(&self) -> Hashlock {
        self.hashlock
    }

    /// The key that claims with the secret.
    pub const fn claim_pubkey(&self) -> PublicKey {
        self.claim_pubkey
    }

    /// The key that refunds after the timeout.
    pub const fn refund_pubkey(&self) -> PublicKey {
        self.refund_pubkey
    }

    /// The absolute height from which the refund branch is valid.
    pub const fn timeout(&self) -> BtcHeight {
        self.timeout
    }

    /// The witness script, byte for byte as in `protocol.md`.
    pub fn witness_script(&self) -> ScriptBuf {
        Builder::new()
            .push_opcode(op::OP_IF)
            .push_opcode(op::OP_SIZE)
            .push_int(32)
            .push_opcode(op::OP_EQUALVERIFY)
            .push_opcode(op::OP_SHA256)
            .push_slice(self.hashlock.0)
            .push_opcode(op::OP_EQUALVERIFY)
            .push_slice(self.claim_pubkey.serialize())
            .push_opcode(op::OP_ELSE)
            .push_int(i64::from(self.timeout.0))
            .push_opcode(op::OP_CLTV)
            .push_opcode(op::OP_DROP)
            .push_slice(self.refund_pubkey.serialize())
            .push_opcode(op::OP_ENDIF)
            .push_opcode(op::OP_CHECKSIG)
            .into_script()
    }

    /// The P2WSH output script (`OP_0 <sha256(witness_script)>`).
    pub fn script_pubkey(&self) -> ScriptBuf {
        ScriptBuf::new_p2wsh(&WScriptHash::hash(self.witness_script().as_bytes()))
    }

    /// The deposit address on `network`.
    pub fn address(&self, network: Network) -> Address {
        Address::p2wsh(&self.witness_script(), network)
    }

    /// Reads a witness script back into its parameters, refusing anything that is not exactly
    /// the template.
    pub fn from_witness_script(script: &Script) -> Result<Self, ParseError> {
        let ins = script
            .instructions_minimal()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ParseError::Malformed(e.to_string()))?;
        if ins.len() > TEMPLATE_LEN {
            return Err(ParseError::Trailing);
        }
        let at = |i: usize| ins.get(i).ok_or(ParseError::TooShort(ins.len()));
        let expect_op = |i: usize, want: bitcoin::Opcode, name: &'static str| match at(i)? {
            Instruction::Op(o) if *o == want => Ok(()),
            _ => Err(ParseError::Unexpected {
                index: i,
                expected: name,
            }),
        };
        let push = |i: usize, name: &'static str| match at(i)? {
            Instruction::PushBytes(b) => Ok(b.as_bytes()),
            Instruction::Op(_) => Err(ParseError::Unexpected {
                index: i,
                expected: name,
            }),
        };

        expect_op(0, op::OP_IF, "OP_IF")?;
        expect_op(1, op::OP_SIZE, "OP_SIZE")?;
        if push(2, "push of 32")? != [32u8] {
            return Err(ParseError::Unexpected {
                index: 2,
                expected: "push of 32",
            });
        }
        expect_op(3, op::OP_EQUALVERIFY, "OP_EQUALVERIFY")?;
        expect_op(4, op::OP_SHA256, "OP_SHA256")?;
        let h = push(5, "hashlock push")?;
        let hashlock: [u8; 32] = h
            .try_into()
            .map_err(|_| ParseError::HashlockLength(h.len()))?;
        expect_op(6, op::OP_EQUALVERIFY, "OP_EQUALVERIFY")?;
        let claim = parse_key(push(7, "claim key push")?, "claim")?;
        expect_op(8, op::OP_ELSE, "OP_ELSE")?;
        let timeout = parse_height(at(9)?)?;
        expect_op(10, op::OP_CLTV, "OP_CHECKLOCKTIMEVERIFY")?;
        expect_op(11, op::OP_DROP, "OP_DROP")?;
        let refund = parse_key(push(12, "refund key push")?, "refund")?;
        expect_op(13, op::OP_ENDIF, "OP_ENDIF")?;
        expect_op(14, op::OP_CHECKSIG, "OP_CHECKSIG")?;

        let params = HtlcParams::new(Hashlock(hashlock), claim, refund, timeout)?;
        if params.witness_script().as_script() != script {
            return Err(ParseError::NotCanonical);
        }
        Ok(params)
    }
}

/// Instructions in the template.
const TEMPLATE_LEN: usize = 15;

fn parse_key(bytes: &[u8], which: &'static str) -> Result<PublicKey, ParseError> {
    if bytes.len() != 33 || !matches!(bytes.first(), Some(0x02 | 0x03)) {
        return Err(ParseError::KeyLength {
            which,
            len: bytes.len(),
        });
    }
    PublicKey::from_slice(bytes).map_err(|_| ParseError::InvalidKey(which))
}

fn parse_height(ins: &Instruction<'_>) -> Result<BtcHeight, ParseError> {
    let n = match ins {
        Instruction::PushBytes(b) => bitcoin::script::read_scriptint(b.as_bytes())
            .map_err(|_| ParseError::TimeoutEncoding)?,
        Instruction::Op(_) => ins.script_num().ok_or(ParseError::Unexpected {
            index: 9,
            expected: "timeout height",
        })?,
    };
    let h = u32::try_from(n).map_err(|_| ParseError::TimeoutEncoding)?;
    Ok(BtcHeight(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};

    pub(crate) fn key(n: u8) -> PublicKey {
        let sk = SecretKey::from_slice(&[n; 32]).unwrap();
        PublicKey::from_secret_key(&Secp256k1::new(), &sk)
    }

    fn params(timeout: u32) -> HtlcParams {
        HtlcParams::new(Hashlock([0xab; 32]), key(1), key(2), BtcHeight(timeout)).unwrap()
    }

    #[test]
    fn round_trips_for_heights_of_every_push_size() {
        for t in [
            1,
            16,
            17,
            127,
            128,
            255,
            256,
            32_767,
            32_768,
            500_000,
            8_388_607,
            8_388_608,
            LOCKTIME_THRESHOLD - 1,
        ] {
            let p = params(t);
            assert_eq!(HtlcParams::from_witness_script(&p.witness_script()), Ok(p));
        }
    }

    #[test]
    fn refuses_bad_parameters() {
        let k = key(1);
        for t in [0, LOCKTIME_THRESHOLD, u32::MAX] {
            assert_eq!(
                HtlcParams::new(Hashlock([0; 32]), k, key(2), BtcHeight(t)),
                Err(HtlcError::TimeoutNotHeight(t))
            );
        }
        assert_eq!(
            HtlcParams::new(Hashlock([0; 32]), k, k, BtcHeight(10)),
            Err(HtlcError::SameKeys)
        );
    }

    /// The template with the claim key and the timeout push replaced by arbitrary bytes.
    fn template_with(claim_key: &[u8], timeout: impl FnOnce(Builder) -> Builder) -> ScriptBuf {
        let claim = bitcoin::script::PushBytesBuf::try_from(claim_key.to_vec()).unwrap();
        let head = Builder::new()
            .push_opcode(op::OP_IF)
            .push_opcode(op::OP_SIZE)
            .push_int(32)
            .push_opcode(op::OP_EQUALVERIFY)
            .push_opcode(op::OP_SHA256)
            .push_slice([0xab; 32])
            .push_opcode(op::OP_EQUALVERIFY)
            .push_slice(claim)
            .push_opcode(op::OP_ELSE);
        timeout(head)
            .push_opcode(op::OP_CLTV)
            .push_opcode(op::OP_DROP)
            .push_slice(key(2).serialize())
            .push_opcode(op::OP_ENDIF)
            .push_opcode(op::OP_CHECKSIG)
            .into_script()
    }

    #[test]
    fn refuses_every_deviation_from_the_template() {
        let p = params(500_000);
        let good = p.witness_script();
        let b = good.as_bytes();

        // Non-minimal push of the height: PUSHDATA1 instead of a direct push.
        assert_eq!(b.len(), 117);
        assert_eq!(b[75], 3); // direct push of the 3-byte height
        let mut nonmin = b[..75].to_vec();
        nonmin.extend_from_slice(&[0x4c, 3]);
        nonmin.extend_from_slice(&b[76..]);
        assert!(matches!(
            HtlcParams::from_witness_script(Script::from_bytes(&nonmin)),
            Err(ParseError::Malformed(_))
        ));

        // Height padded with a zero byte (not minimal as a number).
        let padded = template_with(&key(1).serialize(), |s| {
            s.push_slice([0x20, 0xa1, 0x07, 0x00])
        });
        assert_eq!(
            HtlcParams::from_witness_script(&padded),
            Err(ParseError::TimeoutEncoding)
        );

        // Uncompressed claim key.
        let unc = template_with(&key(1).serialize_uncompressed(), |s| s.push_int(500_000));
        assert_eq!(
            HtlcParams::from_witness_script(&unc),
            Err(ParseError::KeyLength {
                which: "claim",
                len: 65
            })
        );

        // Not a point: 0x02 followed by all 0xff (x above the field prime).
        assert_eq!(b[40], 33); // push opcode of the claim key
        let mut bad_point = b.to_vec();
        bad_point[41..74].copy_from_slice(&[0xff; 33]);
        bad_point[41] = 0x02;
        assert_eq!(
            HtlcParams::from_witness_script(Script::from_bytes(&bad_point)),
            Err(ParseError::InvalidKey("claim"))
        );

        // OP_CHECKSEQUENCEVERIFY instead of CLTV.
        let mut csv = b.to_vec();
        assert_eq!(b[79], 0xb1);
        csv[79] = 0xb2;
        assert_eq!(
            HtlcParams::from_witness_script(Script::from_bytes(&csv)),
            Err(ParseError::Unexpected {
                index: 10,
                expected: "OP_CHECKLOCKTIMEVERIFY"
            })
        );

        // Size check of 31 instead of 32.
        let mut size31 = b.to_vec();
        size31[3] = 31;
        assert_eq!(
            HtlcParams::from_witness_script(Script::from_bytes(&size31)),
            Err(ParseError::Unexpected {
                index: 2,
                expected: "push of 32"
            })
        );

        // Trailing opcode, truncated script, time-based lock.
        let mut trailing = b.to_vec();
        trailing.push(0x75);
        assert_eq!(
            HtlcParams::from_witness_script(Script::from_bytes(&trailing)),
            Err(ParseError::Trailing)
        );
        assert_eq!(
            HtlcParams::from_witness_script(Script::from_bytes(&b[..b.len() - 1])),
            Err(ParseError::TooShort(14))
        );
        let time_lock = template_with(&key(1).serialize(), |s| s.push_int(1_700_000_000));
        assert_eq!(
            HtlcParams::from_witness_script(&time_lock),
            Err(ParseError::Params(HtlcError::TimeoutNotHeight(
                1_700_000_000
            )))
        );
    }

    #[test]
    fn core_keys_are_checked_on_the_curve() {
        use crosslock_core::chain::BtcPubkey;
        let good = |n| BtcPubkey::from_bytes(&key(n).serialize()).unwrap();
        let p = HtlcParams::from_core(Hashlock([1; 32]), &good(1), &good(2), BtcHeight(9)).unwrap();
        assert_eq!(p.claim_pubkey(), key(1));
        let mut off = [0xffu8; 33];
        off[0] = 3;
        let off = BtcPubkey::from_bytes(&off).unwrap();
        assert_eq!(
            HtlcParams::from_core(Hashlock([1; 32]), &good(1), &off, BtcHeight(9)),
            Err(ParseError::InvalidKey("refund"))
        );
    }

    #[test]
    fn address_prefix_follows_network() {
        let p = params(500_000);
        assert!(p.address(Network::Bitcoin).to_string().starts_with("bc1q"));
        assert!(p.address(Network::Testnet).to_string().starts_with("tb1q"));
        assert!(p.address(Network::Signet).to_string().starts_with("tb1q"));
        assert!(
            p.address(Network::Regtest)
                .to_string()
                .starts_with("bcrt1q")
        );
        assert_eq!(
            p.address(Network::Regtest).script_pubkey(),
            p.script_pubkey()
        );
    }
}
