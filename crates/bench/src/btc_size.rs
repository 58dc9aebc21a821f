//! `btc-size`: virtual bytes of the funding, claim and refund transactions, built and signed by
//! crates/btc's own builders, checked against the core's fee-bound sizes.

use std::str::FromStr;

use anyhow::{Context, Result, bail};
use bitcoin::bip32::Xpriv;
use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::{
    Amount, FeeRate, Network, OutPoint, ScriptBuf, Transaction, TxIn, TxOut, Txid, WPubkeyHash,
    WScriptHash, XOnlyPublicKey,
};
use crosslock_btc::fund::FundingRequest;
use crosslock_btc::wallet::ResolverWallet;
use crosslock_btc::{BtcHeight, Hashlock, HtlcParams, HtlcUtxo, Sats, Secret, claim, refund};
use crosslock_core::fees::{CLAIM_VSIZE, REFUND_VSIZE};
use crosslock_core::time::UnixTime;
use serde_json::json;

use crate::out::Out;

struct Row {
    tx: &'static str,
    shape: String,
    vsize: u64,
    weight: u64,
    bound: Option<u64>,
}

fn key(b: u8) -> Result<SecretKey> {
    Ok(SecretKey::from_slice(&[b; 32])?)
}

pub(crate) fn run(out: &Out) -> Result<()> {
    let secp = Secp256k1::new();
    let (claim_sk, refund_sk) = (key(1)?, key(2)?);
    let secret = Secret::new([7; 32]);
    let params = HtlcParams::new(
        Hashlock::from_secret(&secret),
        PublicKey::from_secret_key(&secp, &claim_sk),
        PublicKey::from_secret_key(&secp, &refund_sk),
        // The largest height push the core budgets for (4 bytes).
        BtcHeight(0x0100_0000),
    )?;
    let mut rows = Vec::new();

    // Funding: a P2WPKH wallet with one coin pays the HTLC and takes change (1 in, 2 out).
    let dir = tempfile::tempdir()?;
    let master = Xpriv::new_master(Network::Regtest, &[42; 32])?;
    let mut wallet = ResolverWallet::open(
        &dir.path().join("wallet.db"),
        &format!("wpkh({master}/84'/1'/0'/0/*)"),
        &format!("wpkh({master}/84'/1'/0'/1/*)"),
        Network::Regtest,
    )?;
    let coin = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_str(
                    "1111111111111111111111111111111111111111111111111111111111111111",
                )?,
                vout: 0,
            },
            ..TxIn::default()
        }],
        output: vec![TxOut {
            value: Amount::from_sat(100_000_000),
            script_pubkey: wallet.new_address()?.script_pubkey(),
        }],
    };
    wallet.record(&coin, UnixTime(1_700_000_000))?;
    let p2wpkh = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([3; 20]));
    let funding = wallet
        .fund_htlc(
            &FundingRequest {
                htlc: params,
                amount: Sats(1_000_000),
                fee_rate: FeeRate::from_sat_per_vb_u32(2),
            },
            &p2wpkh,
            FeeRate::from_sat_per_vb_u32(50),
            UnixTime(1_700_000_001),
        )
        .context("failed to build the funding")?;
    let shape = format!(
        "{} in / {} out (P2WPKH wallet -> P2WSH HTLC + change)",
        funding.tx.input.len(),
        funding.tx.output.len()
    );
    if funding.tx.input.len() != 1 || funding.tx.output.len() != 2 {
        bail!("the funding is not 1-in/2-out: {shape}");
    }
    rows.push(Row {
        tx: "fund",
        shape,
        vsize: funding.tx.vsize() as u64,
        weight: funding.tx.weight().to_wu(),
        bound: None,
    });

    let utxo = HtlcUtxo {
        outpoint: funding.outpoint,
        amount: Sats(1_000_000),
        params,
    };
    let fee = FeeRate::from_sat_per_vb_u32(10);
    let xonly = XOnlyPublicKey::from(PublicKey::from_secret_key(&secp, &claim_sk));
    let dests = [
        ("P2WPKH", p2wpkh),
        (
            "P2WSH",
            ScriptBuf::new_p2wsh(&WScriptHash::from_byte_array([4; 32])),
        ),
        ("P2TR", ScriptBuf::new_p2tr(&secp, xonly, None)),
    ];
    for (name, dest) in &dests {
        let c = claim::build(&utxo, dest, fee, &secret, &claim_sk)?;
        rows.push(Row {
            tx: "claim",
            shape: format!("1 in (HTLC claim branch) / 1 out ({name})"),
            vsize: c.tx.vsize() as u64,
            weight: c.tx.weight().to_wu(),
            bound: Some(CLAIM_VSIZE),
        });
        let r = refund::build(&utxo, dest, fee, &refund_sk)?;
        rows.push(Row {
            tx: "refund",
            shape: format!("1 in (HTLC refund branch) / 1 out ({name})"),
            vsize: r.tx.vsize() as u64,
            weight: r.tx.weight().to_wu(),
            bound: Some(REFUND_VSIZE),
        });
    }

    println!(
        "{:<7} {:>6} {:>7} {:>12}  shape",
        "tx", "vB", "WU", "core bound"
    );
    let mut within = true;
    for r in &rows {
        let b = r.bound.map_or("-".to_owned(), |b| format!("{b} vB"));
        within &= r.bound.is_none_or(|b| r.vsize <= b);
        println!(
            "{:<7} {:>6} {:>7} {:>12}  {}",
            r.tx, r.vsize, r.weight, b, r.shape
        );
    }
    println!(
        "every claim/refund within the core's CLAIM_VSIZE/REFUND_VSIZE bound: {}",
        if within { "yes" } else { "NO" }
    );
    out.write(
        "btc-size",
        json!({
            "claim_vsize_bound": CLAIM_VSIZE,
            "refund_vsize_bound": REFUND_VSIZE,
            "within_bounds": within,
            "transactions": rows.iter().map(|r| json!({
                "tx": r.tx, "shape": r.shape, "vsize": r.vsize, "weight": r.weight, "bound_vsize": r.bound,
            })).collect::<Vec<_>>(),
        }),
    )?;
    if !within {
        bail!("a spend is larger than the core's fee bound");
    }
    Ok(())
}
