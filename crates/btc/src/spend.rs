//! What the claim and the refund have in common: one HTLC input, one output, an exact weight,
//! a fee from a fee rate, a low-R signature, and the BIP125 rule for replacing one of them.
//!
//! Owns the fee and weight arithmetic for HTLC spends. It must never produce an output below the
//! destination's dust limit nor a fee rate below the one asked for; it never broadcasts.
//!
//! Weight is computed by serialising the transaction with a placeholder witness of the final
//! shape, not by a formula. Our own signatures are ground to low R (libsecp's
//! `sign_ecdsa_low_r`, as Bitcoin Core's wallet does), so with low S their DER encoding is at
//! most 70 bytes and the witness item at most [`OWN_SIG_MAX_LEN`] = 71 with the sighash byte. The
//! fee is computed for that bound; in the rare case (about 1 in 256) where R has a leading zero
//! byte, the real transaction is one weight unit lighter and pays a hair more than asked, never
//! less. Signatures made elsewhere (the maker's ladder) are measured as they are.

use bitcoin::absolute::LockTime;
use bitcoin::ecdsa;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey, Signing};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, FeeRate, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Weight, Witness,
};
use thiserror::Error;

use crate::htlc::HtlcParams;
use crate::types::{Sats, Secret, sats, to_amount};

/// The longest witness signature item we make: 70-byte DER with low R and low S, plus the
/// sighash byte.
pub const OWN_SIG_MAX_LEN: usize = 71;

/// The longest standard signature item anyone can make: low S but high R (71-byte DER) plus the
/// sighash byte. (A 73-byte item needs a high S, which is non-standard.)
pub const STANDARD_SIG_MAX_LEN: usize = 72;

/// Signals replaceability (BIP125) and, being below 0xFFFFFFFE, keeps nLockTime enforced; bit 31
/// set, so no BIP68 relative lock applies.
pub const RBF_SEQUENCE: Sequence = Sequence::ENABLE_RBF_NO_LOCKTIME;

/// Bitcoin Core's default `-incrementalrelayfee`: a replacement must add at least this much
/// fee per vbyte of its own size on top of the fee it replaces (BIP125 rule 4).
pub const INCREMENTAL_RELAY_FEE: FeeRate = FeeRate::from_sat_per_vb_u32(1);

/// An HTLC output on chain: where it is, what it holds, and the script that guards it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtlcUtxo {
    /// The funding outpoint. Spends are recognised by this, never by a txid.
    pub outpoint: OutPoint,
    /// The output's value.
    pub amount: Sats,
    /// The HTLC's parameters (they give the witness script).
    pub params: HtlcParams,
}

/// Which branch of the HTLC a spend takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    /// `OP_IF`: the secret and the claim key.
    Claim,
    /// `OP_ELSE`: the refund key after the timeout.
    Refund,
}

/// A signed spend of an HTLC, with the figures it was built for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedSpend {
    /// Ready to broadcast.
    pub tx: Transaction,
    /// The branch it takes.
    pub branch: Branch,
    /// The absolute fee paid.
    pub fee: Sats,
    /// The fee rate asked for; the real rate is at least this.
    pub fee_rate: FeeRate,
    /// The weight the fee was computed for (an upper bound of `tx.weight()`).
    pub weight: Weight,
}

impl SignedSpend {
    /// The fee rate actually paid, from the real weight, in sat/kwu.
    pub fn effective_rate(&self) -> FeeRate {
        rate_of(self.fee, self.tx.weight())
    }
}

/// Why a spend could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpendError {
    /// After the fee the output would be below the destination's dust limit.
    #[error("output of {value} after a fee of {fee} is below the dust limit of {dust}")]
    Dust {
        /// What would be left for the output.
        value: Sats,
        /// The fee at the requested rate.
        fee: Sats,
        /// The destination script's dust limit (Core's 3 sat/vB rule).
        dust: Sats,
    },
    /// The transaction to sign has no input 0 (never for the transactions built here).
    #[error("no input to sign")]
    NoInput,
    /// The fee computation overflowed (an absurd fee rate).
    #[error("fee rate {0} overflows")]
    FeeOverflow(FeeRate),
    /// The key does not match the branch's public key in the script.
    #[error("the signing key is not the {0:?} key of this HTLC")]
    WrongKey(Branch),
    /// The secret does not hash to the HTLC's hashlock.
    #[error("the secret does not open this hashlock")]
    WrongSecret,
    /// A replacement must pay a higher rate and at least the old fee plus the incremental relay
    /// fee for its own size (BIP125 rules 3 and 4).
    #[error("replacement at {asked} is too low: it must pay at least {min_fee}")]
    BumpTooSmall {
        /// The rate asked for.
        asked: FeeRate,
        /// The smallest fee a replacement may pay.
        min_fee: Sats,
    },
}

/// Ceiling of `rate * vsize`, where vsize is `ceil(weight / 4)`: the rule Core uses to compare a
/// transaction's fee with a fee rate.
pub fn fee_for(rate: FeeRate, weight: Weight) -> Option<Sats> {
    let vsize = weight.to_vbytes_ceil();
    let millis = rate.to_sat_per_kwu().checked_mul(vsize)?.checked_mul(4)?;
    Some(Sats(millis.div_ceil(1000)))
}

/// The fee rate (sat/kwu, floor) that `fee` pays for `weight`, measured on vsize as Core does.
pub fn rate_of(fee: Sats, weight: Weight) -> FeeRate {
    let vsize = weight.to_vbytes_ceil().max(1);
    FeeRate::from_sat_per_kwu(fee.0.saturating_mul(1000) / (vsize * 4))
}

/// The unsigned spend: version 2, one input with [`RBF_SEQUENCE`], one output.
pub(crate) fn unsigned(
    utxo: &HtlcUtxo,
    branch: Branch,
    dest: &ScriptBuf,
    value: Amount,
) -> Transaction {
    let lock_time = match branch {
        Branch::Claim => LockTime::ZERO,
        // CLTV compares against nLockTime; the timeout is checked < LOCKTIME_THRESHOLD already.
        Branch::Refund => LockTime::from_consensus(utxo.params.timeout().0),
    };
    Transaction {
        version: Version::TWO,
        lock_time,
        input: vec![TxIn {
            previous_output: utxo.outpoint,
            script_sig: ScriptBuf::new(),
            sequence: RBF_SEQUENCE,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value,
            script_pubkey: dest.clone(),
        }],
    }
}

/// The witness of a spend: `<sig> <s> 1 <script>` or `<sig> <> <script>`.
pub(crate) fn witness(params: &HtlcParams, sig: &[u8], secret: Option<&[u8]>) -> Witness {
    let script = params.witness_script();
    match secret {
        Some(s) => Witness::from_slice(&[sig, s, &[1u8][..], script.as_bytes()]),
        None => Witness::from_slice(&[sig, &[][..], script.as_bytes()]),
    }
}

/// Weight of the spend once signed with a signature item of `sig_len` bytes.
pub(crate) fn weight_with(
    utxo: &HtlcUtxo,
    branch: Branch,
    dest: &ScriptBuf,
    sig_len: usize,
) -> Weight {
    let mut tx = unsigned(utxo, branch, dest, Amount::ZERO);
    let secret = [0u8; crate::htlc::SECRET_LEN];
    let secret = matches!(branch, Branch::Claim).then_some(&secret[..]);
    tx.input[0].witness = witness(&utxo.params, &vec![0u8; sig_len], secret);
    tx.weight()
}

/// The unsigned spend paying `fee_rate` for a signature of at most `sig_len`, with its fee and
/// the weight used, or why it cannot be made.
pub(crate) fn plan(
    utxo: &HtlcUtxo,
    branch: Branch,
    dest: &ScriptBuf,
    fee_rate: FeeRate,
    sig_len: usize,
) -> Result<(Transaction, Sats, Weight), SpendError> {
    let weight = weight_with(utxo, branch, dest, sig_len);
    let fee = fee_for(fee_rate, weight).ok_or(SpendError::FeeOverflow(fee_rate))?;
    let dust = sats(dest.minimal_non_dust());
    let value = Sats(utxo.amount.0.saturating_sub(fee.0));
    if value < dust || fee.0 > utxo.amount.0 {
        return Err(SpendError::Dust { value, fee, dust });
    }
    Ok((unsigned(utxo, branch, dest, to_amount(value)), fee, weight))
}

/// The BIP143 sighash of input 0 with `SIGHASH_ALL`.
pub(crate) fn sighash(tx: &Transaction, utxo: &HtlcUtxo) -> Option<Message> {
    let script = utxo.params.witness_script();
    let hash = SighashCache::new(tx)
        .p2wsh_signature_hash(0, &script, to_amount(utxo.amount), EcdsaSighashType::All)
        .ok()?;
    Some(Message::from_digest(hash.to_byte_array()))
}

/// Signs input 0 with a low-R signature and `SIGHASH_ALL`.
pub(crate) fn sign<C: Signing>(
    secp: &Secp256k1<C>,
    tx: &Transaction,
    utxo: &HtlcUtxo,
    key: &SecretKey,
) -> Result<ecdsa::Signature, SpendError> {
    let msg = sighash(tx, utxo).ok_or(SpendError::NoInput)?;
    Ok(ecdsa::Signature {
        signature: secp.sign_ecdsa_low_r(&msg, key),
        sighash_type: EcdsaSighashType::All,
    })
}

/// Builds and signs a spend of `branch`.
pub(crate) fn build(
    utxo: &HtlcUtxo,
    branch: Branch,
    dest: &ScriptBuf,
    fee_rate: FeeRate,
    key: &SecretKey,
    secret: Option<&Secret>,
) -> Result<SignedSpend, SpendError> {
    let secp = Secp256k1::new();
    let want = match branch {
        Branch::Claim => utxo.params.claim_pubkey(),
        Branch::Refund => utxo.params.refund_pubkey(),
    };
    if PublicKey::from_secret_key(&secp, key) != want {
        return Err(SpendError::WrongKey(branch));
    }
    if let Some(s) = secret
        && s.hashlock() != utxo.params.hashlock()
    {
        return Err(SpendError::WrongSecret);
    }
    let (mut tx, fee, weight) = plan(utxo, branch, dest, fee_rate, OWN_SIG_MAX_LEN)?;
    let sig = sign(&secp, &tx, utxo, key)?.to_vec();
    tx.input[0].witness = witness(&utxo.params, &sig, secret.map(|s| &s.expose()[..]));
    Ok(SignedSpend {
        tx,
        branch,
        fee,
        fee_rate,
        weight,
    })
}

/// Checks that a replacement paying `new_fee` for `new_weight` may replace one that paid
/// `old_fee` (BIP125 rule 4 with Core's default incremental relay fee).
pub fn check_replacement(
    old_fee: Sats,
    new_fee: Sats,
    new_weight: Weight,
    asked: FeeRate,
) -> Result<(), SpendError> {
    let extra = fee_for(INCREMENTAL_RELAY_FEE, new_weight).ok_or(SpendError::FeeOverflow(asked))?;
    let min_fee = Sats(old_fee.0.saturating_add(extra.0));
    if new_fee < min_fee {
        return Err(SpendError::BumpTooSmall { asked, min_fee });
    }
    Ok(())
}

/// The smallest fee rate at which a same-shape replacement of `prev` is accepted.
pub fn min_bump_rate(prev: &SignedSpend) -> FeeRate {
    let vsize = prev.weight.to_vbytes_ceil().max(1);
    let min_fee = prev.fee.0 + INCREMENTAL_RELAY_FEE.to_sat_per_vb_ceil() * vsize;
    FeeRate::from_sat_per_kwu((min_fee * 1000).div_ceil(vsize * 4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{BtcHeight, Hashlock};
    use bitcoin::secp256k1::{Secp256k1, SecretKey};
    use crosslock_core::fees::{CLAIM_VSIZE, MAX_SIG_LEN, REFUND_VSIZE};

    /// The core sizes swaps with upper bounds; the exact sizes here must never exceed them, for
    /// any destination a claim or refund may pay and any timeout height.
    #[test]
    fn exact_sizes_stay_within_the_cores_bounds() {
        let secp = Secp256k1::new();
        let pk = |n| PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[n; 32]).unwrap());
        let dests = [
            ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([1; 20])),
            ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array([1; 32])),
            ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array([1; 20])),
            ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_byte_array([1; 20])),
            ScriptBuf::new_witness_program(&bitcoin::WitnessProgram::p2tr_tweaked(
                bitcoin::key::TweakedPublicKey::dangerous_assume_tweaked(
                    pk(3).x_only_public_key().0,
                ),
            )),
        ];
        for timeout in [1, 17, 500_000, crate::htlc::LOCKTIME_THRESHOLD - 1] {
            let params =
                HtlcParams::new(Hashlock([0; 32]), pk(1), pk(2), BtcHeight(timeout)).unwrap();
            let utxo = HtlcUtxo {
                outpoint: OutPoint::null(),
                amount: Sats(0),
                params,
            };
            for d in &dests {
                let sig = usize::try_from(MAX_SIG_LEN).unwrap();
                let claim = weight_with(&utxo, Branch::Claim, d, sig).to_vbytes_ceil();
                let refund = weight_with(&utxo, Branch::Refund, d, sig).to_vbytes_ceil();
                assert!(
                    claim <= CLAIM_VSIZE,
                    "claim {claim} > {CLAIM_VSIZE} for {d}"
                );
                assert!(
                    refund <= REFUND_VSIZE,
                    "refund {refund} > {REFUND_VSIZE} for {d}"
                );
            }
        }
    }

    #[test]
    fn fee_rounding_is_by_vsize_and_upwards() {
        let r = FeeRate::from_sat_per_kwu(253);
        // 561 WU is 141 vB (ceil): 253 sat/kwu * 564 WU = 142.7 sat -> 143.
        assert_eq!(fee_for(r, Weight::from_wu(561)), Some(Sats(143)));
        assert_eq!(
            fee_for(FeeRate::from_sat_per_vb_u32(2), Weight::from_wu(561)),
            Some(Sats(282))
        );
        assert_eq!(
            rate_of(Sats(282), Weight::from_wu(561)),
            FeeRate::from_sat_per_vb_u32(2)
        );
        assert_eq!(
            fee_for(FeeRate::from_sat_per_kwu(u64::MAX), Weight::from_wu(400)),
            None
        );
    }
}
