//! The maker's pre-signed Bitcoin claim ladder (ETH -> BTC), checked before a reveal is written.
//!
//! Owns the relayer's rules for a ladder: every rung decodes as a transaction, is a claim of the
//! swap's dst HTLC outpoint (as the swap's record knows it: the outpoint and value the watcher
//! saw, the script the terms fix) carrying the revealed secret, is signed `SIGHASH_ALL` by the
//! claim key, pays the maker's destination (the first rung's output script, which must be a
//! standard address, and the same in every rung), and pays a fee within [`LadderPolicy`], rising
//! rung by rung enough to replace the one below. The checks themselves are `crosslock-btc`'s
//! `claim::verify_ladder`; this module only gathers what it needs from the record. It must never
//! let a ladder through that the node could not relay or that pays anyone but the maker, and it
//! writes nothing.

use bitcoin::{FeeRate, ScriptBuf, Transaction};
use crosslock_btc::claim::{ClaimLadder, LadderError, LadderPolicy, verify_ladder};
use crosslock_btc::htlc::HtlcParams;
use crosslock_btc::spend::HtlcUtxo;
use crosslock_core::amount::Amount;
use crosslock_core::chain::Network;
use crosslock_core::fees::{CLAIM_VSIZE, max_fee};
use crosslock_core::order::LockTerms;
use crosslock_core::secret::Secret;
use crosslock_core::swap::{Side, Swap};
use thiserror::Error;

/// Most rungs a ladder may have.
pub const MAX_RUNGS: usize = 8;

/// Why a ladder is refused: the caller's fault (`signed_claims` is wrong), or the record does
/// not (yet) know the HTLC the ladder must claim.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LadderRefusal {
    /// A rung is not a transaction.
    #[error("rung {0}: does not decode as a Bitcoin transaction")]
    Decode(usize),
    /// The rungs' witnesses carry another preimage than the one revealed.
    #[error("rung {0}: the claim carries another secret than the one revealed")]
    OtherSecret(usize),
    /// The first rung's output is not a standard address, so no node would relay the claim.
    #[error("rung 0: output does not pay a standard address")]
    NonStandardDestination,
    /// `crosslock-btc`'s check refused it.
    #[error(transparent)]
    Ladder(#[from] LadderError),
    /// The swap's record holds no dst HTLC to check against (not locked, or reorged out).
    #[error("the swap's Bitcoin HTLC is not known yet")]
    NoHtlc,
    /// The record's HTLC terms do not make a script (corrupt record).
    #[error("the swap's Bitcoin HTLC terms are unusable")]
    BadTerms,
}

impl LadderRefusal {
    /// Whether the caller sent a bad ladder (as opposed to a swap that cannot be checked).
    pub fn is_caller_fault(&self) -> bool {
        !matches!(self, LadderRefusal::NoHtlc | LadderRefusal::BadTerms)
    }
}

/// The default policy: the lowest rung at Core's default relay floor (1 sat/vB), the top rung
/// at least 10 sat/vB so the service can outbid a fee rise while the maker is offline, and no
/// rung above the core's fee cap for a claim (152 vB at 500 sat/vB, 76,000 sat: the amount every
/// BTC lock is sized to afford).
pub fn default_policy() -> LadderPolicy {
    LadderPolicy {
        min_rate: FeeRate::from_sat_per_vb_u32(1),
        min_top_rate: FeeRate::from_sat_per_vb_u32(10),
        max_fee: max_fee(CLAIM_VSIZE),
        max_rungs: MAX_RUNGS,
    }
}

/// The dst HTLC of an ETH -> BTC swap as the record knows it: the main dst lock's outpoint and
/// value, and the script of the matched terms.
pub fn dst_htlc(swap: &Swap) -> Result<HtlcUtxo, LadderRefusal> {
    let Some(LockTerms::Btc(h)) = swap.lock_terms(Side::Dst) else {
        return Err(LadderRefusal::NoHtlc);
    };
    let lock = swap.main_lock(Side::Dst).ok_or(LadderRefusal::NoHtlc)?;
    let outpoint = crosslock_btc::types::outpoint(&lock.id).ok_or(LadderRefusal::BadTerms)?;
    let Amount::Btc(amount) = lock.amount else {
        return Err(LadderRefusal::BadTerms);
    };
    let params = HtlcParams::from_core(h.hashlock, &h.claim_pubkey, &h.refund_pubkey, h.timeout)
        .map_err(|_| LadderRefusal::BadTerms)?;
    Ok(HtlcUtxo {
        outpoint,
        amount,
        params,
    })
}

/// Check the completed claims a maker sent with `secret` against the swap's dst HTLC.
pub fn check(
    swap: &Swap,
    claims: &[Vec<u8>],
    secret: &Secret,
    network: Network,
    policy: &LadderPolicy,
) -> Result<(), LadderRefusal> {
    let utxo = dst_htlc(swap)?;
    if claims.is_empty() || claims.len() > policy.max_rungs {
        return Err(LadderError::RungCount(claims.len()).into());
    }
    let mut txs = Vec::with_capacity(claims.len());
    for (rung, raw) in claims.iter().enumerate() {
        let tx: Transaction =
            bitcoin::consensus::deserialize(raw).map_err(|_| LadderRefusal::Decode(rung))?;
        // The shape and the outpoint first, for a precise answer: reading the witness of a
        // transaction that spends something else would only say "not a claim".
        if tx.input.len() != 1 || tx.output.len() != 1 {
            return Err(LadderError::Shape { rung }.into());
        }
        if tx.input[0].previous_output != utxo.outpoint {
            return Err(LadderError::WrongOutpoint { rung }.into());
        }
        txs.push(tx);
    }
    let (ladder, found) = ClaimLadder::from_completed(&txs, &utxo)?;
    if found != *secret {
        return Err(LadderRefusal::OtherSecret(0));
    }
    let dest: ScriptBuf = txs[0].output[0].script_pubkey.clone();
    if bitcoin::Address::from_script(&dest, crate::view::btc_network(network)).is_err() {
        return Err(LadderRefusal::NonStandardDestination);
    }
    verify_ladder(&ladder, &utxo, &dest, policy)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};
    use crosslock_btc::claim::sign_ladder;
    use crosslock_core::secret::Hashlock;
    use crosslock_core::time::BtcHeight;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_slice(&[n; 32]).expect("a valid key")
    }

    fn utxo(amount: u64) -> HtlcUtxo {
        let secp = Secp256k1::new();
        let params = HtlcParams::new(
            Hashlock([7; 32]),
            key(1).public_key(&secp),
            key(2).public_key(&secp),
            BtcHeight(500),
        )
        .expect("valid parameters");
        HtlcUtxo {
            outpoint: bitcoin::OutPoint::new(bitcoin::Txid::from_byte_array([3; 32]), 0),
            amount: crosslock_core::amount::Sats(amount),
            params,
        }
    }

    /// What the maker's client (`swapctl --claim-fee-rates`, default 1,2,5,10,25,50 sat/vB)
    /// signs must pass the default policy, down to the smallest BTC lock the core allows.
    #[test]
    fn the_default_policy_accepts_the_makers_default_ladder_and_refuses_a_flat_or_cheap_one() {
        let dest = ScriptBuf::new_p2wsh(&ScriptBuf::from_bytes(vec![0x51]).wscript_hash());
        let rates = [1, 2, 5, 10, 25, 50].map(FeeRate::from_sat_per_vb_u32);
        for amount in [crosslock_core::fees::MIN_BTC_LOCK.0, 5_000_000] {
            let u = utxo(amount);
            let ladder = sign_ladder(&u, &dest, &rates, &key(1)).expect("signs");
            verify_ladder(&ladder, &u, &dest, &default_policy()).expect("accepted");
        }
        let u = utxo(1_000_000);
        let cheap = sign_ladder(&u, &dest, &rates[..3], &key(1)).expect("signs");
        assert!(matches!(
            verify_ladder(&cheap, &u, &dest, &default_policy()),
            Err(LadderError::RateTooLow { rung: 2, .. })
        ));
        let flat = sign_ladder(&u, &dest, &[rates[3], rates[3]], &key(1)).expect("signs");
        assert!(matches!(
            verify_ladder(&flat, &u, &dest, &default_policy()),
            Err(LadderError::NotRising { rung: 1 })
        ));
    }
}
