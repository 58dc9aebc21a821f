//! The claim: spending an HTLC with the secret and the claim key (`<sig> <s> 1 <script>`), its
//! RBF replacements, and the maker's pre-signed claim ladder with the service's check of it.
//!
//! Owns every rule a claim must meet before it leaves this crate. It must never sign with a key
//! that is not the script's claim key, nor accept a ladder rung that pays anyone but the maker's
//! address, pays a fee outside the ladder's bounds, or could be held back by a lock time.
//!
//! A claim has `nLockTime = 0` and sequence `0xFFFFFFFD`: final as soon as it is seen, and
//! replaceable. The ladder is the same transaction at several fee rates, each signed by the maker
//! with `SIGHASH_ALL`; the signature commits to the transaction and not to the witness, so the
//! maker signs before revealing the secret and the service adds the secret afterwards.

use bitcoin::ecdsa;
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::{FeeRate, ScriptBuf, Transaction};
use thiserror::Error;

use crate::htlc::SECRET_LEN;
use crate::spend::{
    self, Branch, HtlcUtxo, OWN_SIG_MAX_LEN, RBF_SEQUENCE, SignedSpend, SpendError,
};
use crate::types::{Sats, Secret};

/// Builds and signs the claim of `utxo` to `dest` at `fee_rate`.
pub fn build(
    utxo: &HtlcUtxo,
    dest: &ScriptBuf,
    fee_rate: FeeRate,
    secret: &Secret,
    claim_key: &SecretKey,
) -> Result<SignedSpend, SpendError> {
    spend::build(utxo, Branch::Claim, dest, fee_rate, claim_key, Some(secret))
}

/// Builds a replacement of `prev` (a claim of the same `utxo`) at a higher `fee_rate`, refusing
/// one that the network would not accept as a replacement.
pub fn bump(
    prev: &SignedSpend,
    utxo: &HtlcUtxo,
    dest: &ScriptBuf,
    fee_rate: FeeRate,
    secret: &Secret,
    claim_key: &SecretKey,
) -> Result<SignedSpend, SpendError> {
    let next = build(utxo, dest, fee_rate, secret, claim_key)?;
    spend::check_replacement(prev.fee, next.fee, next.weight, fee_rate)?;
    Ok(next)
}

/// One rung of the maker's ladder: the unsigned claim and the maker's signature of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LadderRung {
    /// The claim without its witness.
    pub tx: Transaction,
    /// The maker's signature (`SIGHASH_ALL`) of input 0.
    pub signature: ecdsa::Signature,
}

impl LadderRung {
    /// The broadcastable claim once the secret is known.
    pub fn complete(&self, utxo: &HtlcUtxo, secret: &Secret) -> Result<Transaction, SpendError> {
        if secret.hashlock() != utxo.params.hashlock() {
            return Err(SpendError::WrongSecret);
        }
        let mut tx = self.tx.clone();
        if let Some(input) = tx.input.first_mut() {
            input.witness = spend::witness(
                &utxo.params,
                &self.signature.to_vec(),
                Some(&secret.expose()[..]),
            );
        }
        Ok(tx)
    }

    /// The fee this rung pays.
    pub fn fee(&self, utxo: &HtlcUtxo) -> Sats {
        let out: u64 = self.tx.output.iter().map(|o| o.value.to_sat()).sum();
        Sats(utxo.amount.0.saturating_sub(out))
    }
}

/// The same claim at rising fee rates, signed by the maker, lowest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimLadder {
    /// The rungs, lowest fee first.
    pub rungs: Vec<LadderRung>,
}

impl ClaimLadder {
    /// Every rung completed with `secret`, lowest fee first: what the relayer stores (the core's
    /// `PresignedClaim` holds these serialised) and broadcasts one by one.
    pub fn complete_all(
        &self,
        utxo: &HtlcUtxo,
        secret: &Secret,
    ) -> Result<Vec<Transaction>, SpendError> {
        self.rungs
            .iter()
            .map(|r| r.complete(utxo, secret))
            .collect()
    }

    /// Reads a ladder back from completed claims (as the maker's client sends them with the
    /// secret), returning it with the secret. Check it with [`verify_ladder`] before use.
    pub fn from_completed(
        txs: &[Transaction],
        utxo: &HtlcUtxo,
    ) -> Result<(Self, Secret), LadderError> {
        let mut secret: Option<Secret> = None;
        let mut rungs = Vec::with_capacity(txs.len());
        for (rung, tx) in txs.iter().enumerate() {
            let bad = || LadderError::BadWitness { rung };
            let s = match crate::secret::read_spend(tx, utxo.outpoint, &utxo.params) {
                Ok(crate::secret::HtlcSpend::Claim { input: 0, secret }) => secret,
                _ => return Err(bad()),
            };
            let w = &tx.input[0].witness;
            if w.nth(2) != Some(&[1u8][..]) || secret.as_ref().is_some_and(|x| *x != s) {
                return Err(bad());
            }
            let signature =
                ecdsa::Signature::from_slice(w.nth(0).unwrap_or_default()).map_err(|_| bad())?;
            let mut template = tx.clone();
            template.input[0].witness = bitcoin::Witness::new();
            rungs.push(LadderRung {
                tx: template,
                signature,
            });
            secret = Some(s);
        }
        let secret = secret.ok_or(LadderError::RungCount(0))?;
        Ok((Self { rungs }, secret))
    }
}

/// What the service accepts in a ladder (per network and amount band, set by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LadderPolicy {
    /// The lowest rung must pay at least this rate.
    pub min_rate: FeeRate,
    /// The highest rung must pay at least this rate, so the service can outbid a fee spike.
    pub min_top_rate: FeeRate,
    /// No rung may pay more than this fee (protects the maker from a service that picks the top).
    pub max_fee: Sats,
    /// Bounds the work of checking and storing a ladder.
    pub max_rungs: usize,
}

/// Why a ladder is refused; `rung` is the index of the first offending rung.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LadderError {
    /// No rungs, or more than the policy allows.
    #[error("ladder has {0} rungs")]
    RungCount(usize),
    /// The rung is not version 2, or has other than one input and one output.
    #[error("rung {rung}: must be version 2 with exactly one input and one output")]
    Shape {
        /// Rung index.
        rung: usize,
    },
    /// The input is not the HTLC outpoint.
    #[error("rung {rung}: does not spend the HTLC outpoint")]
    WrongOutpoint {
        /// Rung index.
        rung: usize,
    },
    /// The lock time or sequence could delay the claim, or the input carries data already.
    #[error("rung {rung}: lock time must be 0, sequence 0xFFFFFFFD, script_sig and witness empty")]
    Delayable {
        /// Rung index.
        rung: usize,
    },
    /// The output does not pay the maker's address.
    #[error("rung {rung}: output does not pay the maker's address")]
    WrongDestination {
        /// Rung index.
        rung: usize,
    },
    /// The output is dust or more than the HTLC holds.
    #[error("rung {rung}: output value is dust or exceeds the HTLC")]
    BadValue {
        /// Rung index.
        rung: usize,
    },
    /// The fee is above the policy's cap.
    #[error("rung {rung}: fee {fee} above the cap {cap}")]
    FeeTooHigh {
        /// Rung index.
        rung: usize,
        /// The rung's fee.
        fee: Sats,
        /// The policy's cap.
        cap: Sats,
    },
    /// The rate is below the policy's floor (first rung) or the top rate (last rung).
    #[error("rung {rung}: fee rate {rate} below {min}")]
    RateTooLow {
        /// Rung index.
        rung: usize,
        /// The rung's rate, measured on its completed weight.
        rate: FeeRate,
        /// The required minimum.
        min: FeeRate,
    },
    /// The rung does not replace the one below it under BIP125.
    #[error("rung {rung}: fee does not rise enough over the rung below to replace it")]
    NotRising {
        /// Rung index.
        rung: usize,
    },
    /// A completed rung's witness is not `<sig> <s> 1 <script>` with this HTLC's script, a
    /// parseable signature and the same secret (opening the hashlock) in every rung.
    #[error("rung {rung}: witness is not a claim of this HTLC with the secret")]
    BadWitness {
        /// Rung index.
        rung: usize,
    },
    /// The signature is not `SIGHASH_ALL`, or is invalid for the claim key.
    #[error("rung {rung}: signature is not a valid SIGHASH_ALL signature by the claim key")]
    BadSignature {
        /// Rung index.
        rung: usize,
    },
}

/// The maker's side: signs the claim of `utxo` to `dest` at each of `rates` (ascending).
pub fn sign_ladder(
    utxo: &HtlcUtxo,
    dest: &ScriptBuf,
    rates: &[FeeRate],
    claim_key: &SecretKey,
) -> Result<ClaimLadder, SpendError> {
    let secp = Secp256k1::signing_only();
    let pk = bitcoin::secp256k1::PublicKey::from_secret_key(&secp, claim_key);
    if pk != utxo.params.claim_pubkey() {
        return Err(SpendError::WrongKey(Branch::Claim));
    }
    let rungs = rates
        .iter()
        .map(|&rate| {
            let (tx, _, _) = spend::plan(utxo, Branch::Claim, dest, rate, OWN_SIG_MAX_LEN)?;
            let signature = spend::sign(&secp, &tx, utxo, claim_key)?;
            Ok(LadderRung { tx, signature })
        })
        .collect::<Result<_, SpendError>>()?;
    Ok(ClaimLadder { rungs })
}

/// The service's side: checks every rung before the secret is accepted.
pub fn verify_ladder(
    ladder: &ClaimLadder,
    utxo: &HtlcUtxo,
    maker_dest: &ScriptBuf,
    policy: &LadderPolicy,
) -> Result<(), LadderError> {
    let n = ladder.rungs.len();
    if n == 0 || n > policy.max_rungs {
        return Err(LadderError::RungCount(n));
    }
    let secp = Secp256k1::verification_only();
    let dust = maker_dest.minimal_non_dust().to_sat();
    let mut prev_fee: Option<Sats> = None;
    for (rung, r) in ladder.rungs.iter().enumerate() {
        let tx = &r.tx;
        let (Some(input), Some(output)) = (tx.input.first(), tx.output.first()) else {
            return Err(LadderError::Shape { rung });
        };
        if tx.version != bitcoin::transaction::Version::TWO
            || tx.input.len() != 1
            || tx.output.len() != 1
        {
            return Err(LadderError::Shape { rung });
        }
        if input.previous_output != utxo.outpoint {
            return Err(LadderError::WrongOutpoint { rung });
        }
        if tx.lock_time != bitcoin::absolute::LockTime::ZERO
            || input.sequence != RBF_SEQUENCE
            || !input.script_sig.is_empty()
            || !input.witness.is_empty()
        {
            return Err(LadderError::Delayable { rung });
        }
        if &output.script_pubkey != maker_dest {
            return Err(LadderError::WrongDestination { rung });
        }
        let value = output.value.to_sat();
        if value < dust || value >= utxo.amount.0 {
            return Err(LadderError::BadValue { rung });
        }
        let fee = r.fee(utxo);
        if fee > policy.max_fee {
            return Err(LadderError::FeeTooHigh {
                rung,
                fee,
                cap: policy.max_fee,
            });
        }
        let signed = spend::sighash(tx, utxo).is_some_and(|msg| {
            secp.verify_ecdsa(&msg, &r.signature.signature, &utxo.params.claim_pubkey())
                .is_ok()
        });
        if r.signature.sighash_type != EcdsaSighashType::All || !signed {
            return Err(LadderError::BadSignature { rung });
        }
        // The weight of the completed claim, with this signature's real length.
        let mut done = tx.clone();
        done.input[0].witness = spend::witness(
            &utxo.params,
            &r.signature.to_vec(),
            Some(&[0u8; SECRET_LEN][..]),
        );
        let weight = done.weight();
        let rate = spend::rate_of(fee, weight);
        let floor = if rung == 0 {
            policy.min_rate
        } else {
            FeeRate::ZERO
        };
        let floor = if rung + 1 == n {
            floor.max(policy.min_top_rate)
        } else {
            floor
        };
        if rate < floor {
            return Err(LadderError::RateTooLow {
                rung,
                rate,
                min: floor,
            });
        }
        if let Some(p) = prev_fee
            && spend::check_replacement(p, fee, weight, rate).is_err()
        {
            return Err(LadderError::NotRising { rung });
        }
        prev_fee = Some(fee);
    }
    Ok(())
}
