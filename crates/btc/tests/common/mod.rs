//! Test helpers: fixed keys, an HTLC on a fake funding outpoint, and Bitcoin Core's script
//! interpreter (libbitcoinkernel) as the judge of every spend.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Txid, WPubkeyHash};
use crosslock_btc::htlc::HtlcParams;
use crosslock_btc::spend::HtlcUtxo;
use crosslock_btc::types::{BtcHeight, Sats, Secret};

pub fn sk(n: u8) -> SecretKey {
    SecretKey::from_slice(&[n; 32]).unwrap()
}

pub fn pk(n: u8) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), &sk(n))
}

/// The maker's (claim) key is 1, the resolver's (refund) key is 2.
pub const CLAIM: u8 = 1;
pub const REFUND: u8 = 2;
pub const TIMEOUT: u32 = 500_000;

pub fn secret() -> Secret {
    Secret::new([0x5e; 32])
}

pub fn utxo_with(secret: &Secret, amount: u64) -> HtlcUtxo {
    let params =
        HtlcParams::new(secret.hashlock(), pk(CLAIM), pk(REFUND), BtcHeight(TIMEOUT)).unwrap();
    HtlcUtxo {
        outpoint: OutPoint {
            txid: Txid::from_byte_array([7; 32]),
            vout: 1,
        },
        amount: Sats(amount),
        params,
    }
}

pub fn utxo() -> HtlcUtxo {
    utxo_with(&secret(), 100_000)
}

/// A P2WPKH destination.
pub fn dest(n: u8) -> ScriptBuf {
    let key = bitcoin::CompressedPublicKey(pk(n));
    ScriptBuf::new_p2wpkh(&WPubkeyHash::from(key))
}

/// What the spent output looked like.
pub fn spent(u: &HtlcUtxo) -> TxOut {
    TxOut {
        value: Amount::from_sat(u.amount.0),
        script_pubkey: u.params.script_pubkey(),
    }
}

/// Bitcoin Core's verdict on input `index` of `tx` spending `prevout`, with every consensus
/// flag the kernel exposes (P2SH, DERSIG, NULLDUMMY, CLTV, CSV, WITNESS, TAPROOT).
pub fn kernel_verify(tx: &Transaction, index: usize, prevouts: &[TxOut]) -> Result<(), String> {
    let bytes = bitcoin::consensus::serialize(tx);
    let ktx = bitcoinkernel::Transaction::new(&bytes).map_err(|e| format!("decode: {e}"))?;
    let outs: Vec<bitcoinkernel::TxOut> = prevouts
        .iter()
        .map(|o| {
            let spk = bitcoinkernel::ScriptPubkey::new(o.script_pubkey.as_bytes()).unwrap();
            bitcoinkernel::TxOut::new(&spk, i64::try_from(o.value.to_sat()).unwrap())
        })
        .collect();
    let data = bitcoinkernel::PrecomputedTransactionData::new(&ktx, &outs)
        .map_err(|e| format!("precompute: {e}"))?;
    let spk = bitcoinkernel::ScriptPubkey::new(prevouts[index].script_pubkey.as_bytes()).unwrap();
    bitcoinkernel::verify(
        &spk,
        Some(i64::try_from(prevouts[index].value.to_sat()).unwrap()),
        &ktx,
        index,
        Some(bitcoinkernel::VERIFY_ALL),
        &data,
    )
    .map_err(|e| e.to_string())
}

/// Verifies a one-input spend of `u`.
pub fn verify_spend(tx: &Transaction, u: &HtlcUtxo) -> Result<(), String> {
    kernel_verify(tx, 0, &[spent(u)])
}

/// A SIGHASH_ALL signature of input 0 by `key`, made here rather than by the crate, so tests can
/// sign transactions the builders would refuse to make.
pub fn sign_input(tx: &Transaction, u: &HtlcUtxo, key: &SecretKey) -> Vec<u8> {
    let script = u.params.witness_script();
    let h = SighashCache::new(tx)
        .p2wsh_signature_hash(
            0,
            &script,
            Amount::from_sat(u.amount.0),
            EcdsaSighashType::All,
        )
        .unwrap();
    let sig = Secp256k1::new().sign_ecdsa(&Message::from_digest(h.to_byte_array()), key);
    bitcoin::ecdsa::Signature {
        signature: sig,
        sighash_type: EcdsaSighashType::All,
    }
    .to_vec()
}
