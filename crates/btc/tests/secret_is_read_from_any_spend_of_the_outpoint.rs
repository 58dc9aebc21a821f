//! The secret is read out of any transaction that spends the HTLC outpoint, whoever built it:
//! matched by outpoint, never by txid, and refused unless the preimage is 32 bytes hashing to H.

#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns are test code too.

mod common;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, FeeRate, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use common::*;
use crosslock_btc::secret::{HtlcSpend, SpendReadError, extract_secret, read_spend};
use crosslock_btc::{claim, refund};

fn other_input(n: u8) -> TxIn {
    TxIn {
        previous_output: OutPoint {
            txid: Txid::from_byte_array([n; 32]),
            vout: 0,
        },
        script_sig: ScriptBuf::new(),
        sequence: Sequence::MAX,
        witness: Witness::from_slice(&[[1u8; 71].as_slice(), &[2u8; 33]]),
    }
}

#[test]
fn a_claim_built_by_someone_else_reveals_the_secret() {
    let u = utxo();
    // Someone else's claim: the HTLC input is the third of three, paying two outputs, with a
    // non-minimal (but consensus-valid) true selector and an odd version and lock time.
    let script = u.params.witness_script();
    let tx = Transaction {
        version: Version(1),
        lock_time: LockTime::from_height(12).unwrap(),
        input: vec![
            other_input(1),
            other_input(2),
            TxIn {
                previous_output: u.outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ZERO,
                witness: Witness::from_slice(&[
                    &[0x30; 72][..],
                    secret().expose(),
                    &[0x02][..],
                    script.as_bytes(),
                ]),
            },
        ],
        output: vec![
            TxOut {
                value: Amount::from_sat(40_000),
                script_pubkey: dest(5),
            },
            TxOut {
                value: Amount::from_sat(50_000),
                script_pubkey: dest(6),
            },
        ],
    };
    assert_eq!(
        read_spend(&tx, u.outpoint, &u.params),
        Ok(HtlcSpend::Claim {
            input: 2,
            secret: secret()
        })
    );
}

#[test]
fn our_claim_reveals_it_and_our_refund_does_not() {
    let u = utxo();
    let rate = FeeRate::from_sat_per_vb_u32(3);
    let c = claim::build(&u, &dest(9), rate, &secret(), &sk(CLAIM)).unwrap();
    assert_eq!(
        extract_secret(&c.tx, u.outpoint, &u.params),
        Ok(Some(secret()))
    );
    let r = refund::build(&u, &dest(9), rate, &sk(REFUND)).unwrap();
    assert_eq!(extract_secret(&r.tx, u.outpoint, &u.params), Ok(None));
}

#[test]
fn matching_is_by_outpoint_and_bad_preimages_are_refused() {
    let u = utxo();
    let rate = FeeRate::from_sat_per_vb_u32(3);
    let c = claim::build(&u, &dest(9), rate, &secret(), &sk(CLAIM)).unwrap();
    // Another output of the same funding transaction: not a spend of ours.
    let other = OutPoint {
        vout: 0,
        ..u.outpoint
    };
    assert_eq!(
        read_spend(&c.tx, other, &u.params),
        Err(SpendReadError::NotSpending(other))
    );
    let script = u.params.witness_script();
    let with = |pre: &[u8]| {
        let mut t = c.tx.clone();
        t.input[0].witness =
            Witness::from_slice(&[&[0x30; 71][..], pre, &[1u8][..], script.as_bytes()]);
        read_spend(&t, u.outpoint, &u.params)
    };
    for len in [0usize, 1, 20, 31, 33, 64, 520] {
        assert_eq!(
            with(&vec![0x5e; len]),
            Err(SpendReadError::PreimageLength(len)),
            "{len}"
        );
    }
    assert_eq!(with(&[0x5f; 32]), Err(SpendReadError::PreimageMismatch));
    // A witness for some other script.
    let mut t = c.tx.clone();
    t.input[0].witness = Witness::from_slice(&[&[0x30; 71][..], &[0x51u8][..]]);
    assert_eq!(
        read_spend(&t, u.outpoint, &u.params),
        Err(SpendReadError::OtherScript(0))
    );
    let mut t = c.tx.clone();
    t.input[0].witness = Witness::from_slice(&[
        &[1u8][..],
        &[1u8][..],
        &[1u8][..],
        &[1u8][..],
        script.as_bytes(),
    ]);
    assert_eq!(
        read_spend(&t, u.outpoint, &u.params),
        Err(SpendReadError::UnknownShape { input: 0, items: 5 })
    );
}
