//! Every claim and refund the builders make is judged by Bitcoin Core's script interpreter
//! (libbitcoinkernel `verify`, all consensus flags, the spent amount and script). The right
//! secret and key pass; a wrong secret, a preimage of any length but 32, the wrong key, or a
//! refund before its height (nLockTime below the CLTV value, or a final sequence) fail.

#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns are test code too.

mod common;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::{Hash, sha256};
use bitcoin::{FeeRate, Sequence, Witness};
use common::*;
use crosslock_btc::claim::{self, LadderError, LadderPolicy};
use crosslock_btc::htlc::HtlcParams;
use crosslock_btc::spend::{self, Branch, HtlcUtxo, SpendError};
use crosslock_btc::types::{BtcHeight, Hashlock, Sats, Secret};
use crosslock_btc::{refund, secret};

fn rate(sat_vb: u32) -> FeeRate {
    FeeRate::from_sat_per_vb_u32(sat_vb)
}

fn claim_witness(sig: &[u8], preimage: &[u8], u: &HtlcUtxo) -> Witness {
    Witness::from_slice(&[
        sig,
        preimage,
        &[1u8][..],
        u.params.witness_script().as_bytes(),
    ])
}

#[test]
fn claim_with_the_right_secret_and_key_passes_at_every_rate() {
    let u = utxo();
    for r in [1, 2, 5, 10, 50, 100, 250] {
        let c = claim::build(&u, &dest(9), rate(r), &secret(), &sk(CLAIM)).unwrap();
        verify_spend(&c.tx, &u).unwrap();
        // Exact weight: the real transaction never weighs more than what the fee was paid for,
        // and the rate paid is never below the one asked for.
        assert!(
            c.tx.weight() <= c.weight,
            "{} > {}",
            c.tx.weight(),
            c.weight
        );
        assert!(c.effective_rate() >= rate(r));
        assert_eq!(c.fee.0, 100_000 - c.tx.output[0].value.to_sat());
        assert_eq!(c.tx.input[0].sequence, Sequence(0xFFFF_FFFD));
        assert_eq!(c.tx.lock_time, LockTime::ZERO);
    }
}

#[test]
fn weight_estimate_is_exact_for_low_r_signatures() {
    // 300 different secrets give 300 different signatures: the estimate is exact whenever the
    // ground signature is 71 bytes, and one byte over otherwise (R or S with a leading zero).
    let (mut exact, mut over) = (0, 0);
    for i in 0..300u32 {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        let s = Secret::new(b);
        let u = utxo_with(&s, 50_000);
        let c = claim::build(&u, &dest(9), rate(3), &s, &sk(CLAIM)).unwrap();
        let sig_len = c.tx.input[0].witness.nth(0).unwrap().len();
        assert!(sig_len <= spend::OWN_SIG_MAX_LEN);
        let diff = c.weight.to_wu() - c.tx.weight().to_wu();
        assert_eq!(diff, (spend::OWN_SIG_MAX_LEN - sig_len) as u64);
        if diff == 0 {
            exact += 1
        } else {
            over += 1
        }
        verify_spend(&c.tx, &u).unwrap();
    }
    assert!(exact > 280, "exact {exact}, over {over}");
}

#[test]
fn refund_with_the_right_key_at_its_height_passes() {
    let u = utxo();
    for r in [1, 7, 100] {
        let t = refund::build(&u, &dest(8), rate(r), &sk(REFUND)).unwrap();
        verify_spend(&t.tx, &u).unwrap();
        assert_eq!(t.tx.lock_time, LockTime::from_height(TIMEOUT).unwrap());
        assert_eq!(t.tx.input[0].sequence, Sequence(0xFFFF_FFFD));
        assert!(t.tx.weight() <= t.weight);
        assert!(t.effective_rate() >= rate(r));
    }
    assert_eq!(refund::earliest_height(&u), BtcHeight(TIMEOUT + 1));
}

#[test]
fn a_wrong_secret_fails_in_core() {
    let u = utxo();
    let c = claim::build(&u, &dest(9), rate(2), &secret(), &sk(CLAIM)).unwrap();
    let sig = c.tx.input[0].witness.nth(0).unwrap().to_vec();
    let mut bad = c.tx.clone();
    bad.input[0].witness = claim_witness(&sig, &[0x5f; 32], &u);
    assert!(verify_spend(&bad, &u).is_err());
    // The builder refuses it before Core has to.
    assert_eq!(
        claim::build(&u, &dest(9), rate(2), &Secret::new([0x5f; 32]), &sk(CLAIM)),
        Err(SpendError::WrongSecret)
    );
}

/// The hashlock is the hash of a preimage of length `len`, so `OP_SHA256 <H> OP_EQUALVERIFY`
/// would pass: only `OP_SIZE 32 OP_EQUALVERIFY` can refuse it.
fn claim_with_preimage_len(len: usize) -> Result<(), String> {
    let pre: Vec<u8> = (0..len)
        .map(|i| u8::try_from(i % 251).unwrap() ^ 0xa5)
        .collect();
    let h = Hashlock(sha256::Hash::hash(&pre).to_byte_array());
    let params = HtlcParams::new(h, pk(CLAIM), pk(REFUND), BtcHeight(TIMEOUT)).unwrap();
    let u = HtlcUtxo { params, ..utxo() };
    let ladder = claim::sign_ladder(&u, &dest(9), &[rate(2)], &sk(CLAIM)).unwrap();
    let rung = &ladder.rungs[0];
    let mut tx = rung.tx.clone();
    tx.input[0].witness = claim_witness(&rung.signature.to_vec(), &pre, &u);
    verify_spend(&tx, &u)
}

#[test]
fn only_a_32_byte_preimage_passes_for_lengths_0_to_600() {
    let passing: Vec<usize> = (0..600)
        .filter(|&len| claim_with_preimage_len(len).is_ok())
        .collect();
    assert_eq!(passing, vec![32]);
    assert!(claim_with_preimage_len(31).is_err());
    assert!(claim_with_preimage_len(33).is_err());
}

#[test]
fn the_wrong_key_fails_in_core() {
    let u = utxo();
    // A claim signed by the refund key, and a refund signed by the claim key.
    let c = claim::build(&u, &dest(9), rate(2), &secret(), &sk(CLAIM)).unwrap();
    let mut bad = c.tx.clone();
    bad.input[0].witness =
        claim_witness(&sign_input(&c.tx, &u, &sk(REFUND)), secret().expose(), &u);
    assert!(verify_spend(&bad, &u).is_err());
    let mut bad = c.tx.clone();
    bad.input[0].witness = claim_witness(&sign_input(&c.tx, &u, &sk(3)), secret().expose(), &u);
    assert!(verify_spend(&bad, &u).is_err());

    let r = refund::build(&u, &dest(8), rate(2), &sk(REFUND)).unwrap();
    let mut bad = r.tx.clone();
    let script = u.params.witness_script();
    bad.input[0].witness = Witness::from_slice(&[
        &sign_input(&r.tx, &u, &sk(CLAIM))[..],
        &[][..],
        script.as_bytes(),
    ]);
    assert!(verify_spend(&bad, &u).is_err());

    // The builders refuse both before Core has to.
    assert_eq!(
        claim::build(&u, &dest(9), rate(2), &secret(), &sk(REFUND)),
        Err(SpendError::WrongKey(Branch::Claim))
    );
    assert_eq!(
        refund::build(&u, &dest(9), rate(2), &sk(CLAIM)),
        Err(SpendError::WrongKey(Branch::Refund))
    );
}

#[test]
fn a_refund_before_its_height_or_with_a_final_sequence_fails_in_core() {
    let u = utxo();
    let r = refund::build(&u, &dest(8), rate(2), &sk(REFUND)).unwrap();
    let script = u.params.witness_script();
    let resign = |tx: &mut bitcoin::Transaction| {
        let sig = sign_input(tx, &u, &sk(REFUND));
        tx.input[0].witness = Witness::from_slice(&[&sig[..], &[][..], script.as_bytes()]);
    };

    // nLockTime one below the CLTV value: Core refuses.
    let mut early = r.tx.clone();
    early.lock_time = LockTime::from_height(TIMEOUT - 1).unwrap();
    resign(&mut early);
    assert!(verify_spend(&early, &u).is_err());

    // nLockTime zero: refused too.
    let mut zero = r.tx.clone();
    zero.lock_time = LockTime::ZERO;
    resign(&mut zero);
    assert!(verify_spend(&zero, &u).is_err());

    // A final sequence disables nLockTime, so CLTV refuses.
    let mut fin = r.tx.clone();
    fin.input[0].sequence = Sequence::MAX;
    resign(&mut fin);
    assert!(verify_spend(&fin, &u).is_err());

    // Control: the same re-signing at the right lock time passes, and a later one too.
    let mut ok = r.tx.clone();
    resign(&mut ok);
    verify_spend(&ok, &u).unwrap();
    let mut later = r.tx.clone();
    later.lock_time = LockTime::from_height(TIMEOUT + 100).unwrap();
    resign(&mut later);
    verify_spend(&later, &u).unwrap();

    // The refund branch with a 32-byte "secret" pushed instead of the empty selector fails.
    let mut wrong_branch = r.tx.clone();
    wrong_branch.input[0].witness = Witness::from_slice(&[
        &sign_input(&r.tx, &u, &sk(REFUND))[..],
        &[1u8][..],
        script.as_bytes(),
    ]);
    assert!(verify_spend(&wrong_branch, &u).is_err());
}

#[test]
fn dust_is_refused() {
    // At 100 sat/vB a claim (139 vB) costs 13,900 sat and a refund (131 vB) 13,100 sat: an
    // HTLC of 13,300 sat can be neither claimed nor refunded without a dust output.
    let u = utxo_with(&secret(), 13_300);
    assert!(matches!(
        claim::build(&u, &dest(9), rate(100), &secret(), &sk(CLAIM)),
        Err(SpendError::Dust { .. })
    ));
    assert!(matches!(
        refund::build(&u, &dest(9), rate(100), &sk(REFUND)),
        Err(SpendError::Dust { .. })
    ));
    // The output left must be at least the P2WPKH dust limit (294 sat).
    let c = claim::build(&u, &dest(9), rate(1), &secret(), &sk(CLAIM)).unwrap();
    assert!(c.tx.output[0].value.to_sat() >= 294);
    let min = crosslock_btc::fund::min_htlc_amount(&u.params, &dest(9), rate(100)).unwrap();
    let just = utxo_with(&secret(), min.0);
    let c = claim::build(&just, &dest(9), rate(100), &secret(), &sk(CLAIM)).unwrap();
    verify_spend(&c.tx, &just).unwrap();
    assert!(matches!(
        claim::build(
            &utxo_with(&secret(), min.0 - 150),
            &dest(9),
            rate(100),
            &secret(),
            &sk(CLAIM)
        ),
        Err(SpendError::Dust { .. })
    ));
}

#[test]
fn rbf_bumps_pay_more_and_still_verify() {
    let u = utxo();
    let c1 = claim::build(&u, &dest(9), rate(2), &secret(), &sk(CLAIM)).unwrap();
    // The smallest accepted bump adds the incremental relay fee (1 sat/vB) for its own size.
    let min = spend::min_bump_rate(&c1);
    let c2 = claim::bump(&c1, &u, &dest(9), min, &secret(), &sk(CLAIM)).unwrap();
    assert!(c2.fee.0 >= c1.fee.0 + c2.tx.vsize() as u64);
    verify_spend(&c2.tx, &u).unwrap();
    // Same rate, or a hair more: refused.
    assert!(matches!(
        claim::bump(&c1, &u, &dest(9), rate(2), &secret(), &sk(CLAIM)),
        Err(SpendError::BumpTooSmall { .. })
    ));
    let r1 = refund::build(&u, &dest(8), rate(5), &sk(REFUND)).unwrap();
    let r2 = refund::bump(&r1, &u, &dest(8), rate(20), &sk(REFUND)).unwrap();
    assert!(r2.fee > r1.fee);
    verify_spend(&r2.tx, &u).unwrap();
    assert!(matches!(
        refund::bump(&r1, &u, &dest(8), rate(5), &sk(REFUND)),
        Err(SpendError::BumpTooSmall { .. })
    ));
}

fn policy() -> LadderPolicy {
    LadderPolicy {
        min_rate: rate(1),
        min_top_rate: rate(50),
        max_fee: Sats(20_000),
        max_rungs: 8,
    }
}

#[test]
fn the_makers_ladder_verifies_and_every_rung_passes_in_core() {
    let u = utxo();
    let rates = [rate(1), rate(3), rate(10), rate(30), rate(100)];
    let ladder = claim::sign_ladder(&u, &dest(9), &rates, &sk(CLAIM)).unwrap();
    claim::verify_ladder(&ladder, &u, &dest(9), &policy()).unwrap();
    for rung in &ladder.rungs {
        let tx = rung.complete(&u, &secret()).unwrap();
        verify_spend(&tx, &u).unwrap();
        assert_eq!(
            secret::extract_secret(&tx, u.outpoint, &u.params).unwrap(),
            Some(secret())
        );
    }
    assert!(ladder.rungs[0].complete(&u, &Secret::new([0; 32])).is_err());

    // The form the maker's client sends with the reveal: completed claims. Read back, they are
    // the same ladder, and they verify.
    let done = ladder.complete_all(&u, &secret()).unwrap();
    let (back, s) = claim::ClaimLadder::from_completed(&done, &u).unwrap();
    assert_eq!(back, ladder);
    assert_eq!(s, secret());
    claim::verify_ladder(&back, &u, &dest(9), &policy()).unwrap();
    // A rung with another secret, a non-minimal selector, or no signature is refused.
    let mut odd = done.clone();
    let script = u.params.witness_script();
    odd[1].input[0].witness = Witness::from_slice(&[
        odd[1].input[0].witness.nth(0).unwrap(),
        secret().expose(),
        &[2u8][..],
        script.as_bytes(),
    ]);
    assert_eq!(
        claim::ClaimLadder::from_completed(&odd, &u).map(|_| ()),
        Err(LadderError::BadWitness { rung: 1 })
    );
    let mut nosig = done.clone();
    nosig[0].input[0].witness =
        Witness::from_slice(&[&[][..], secret().expose(), &[1u8][..], script.as_bytes()]);
    assert_eq!(
        claim::ClaimLadder::from_completed(&nosig, &u).map(|_| ()),
        Err(LadderError::BadWitness { rung: 0 })
    );
}

#[test]
fn a_tampered_ladder_is_refused() {
    let u = utxo();
    let rates = [rate(1), rate(10), rate(60)];
    let good = claim::sign_ladder(&u, &dest(9), &rates, &sk(CLAIM)).unwrap();
    let p = policy();

    // Paying someone else (the signature would not match either; destination is checked first).
    let other = claim::sign_ladder(&u, &dest(7), &rates, &sk(CLAIM)).unwrap();
    assert_eq!(
        claim::verify_ladder(&other, &u, &dest(9), &p),
        Err(LadderError::WrongDestination { rung: 0 })
    );
    // A changed output value under the maker's signature.
    let mut t = good.clone();
    t.rungs[1].tx.output[0].value -= bitcoin::Amount::from_sat(1);
    assert_eq!(
        claim::verify_ladder(&t, &u, &dest(9), &p),
        Err(LadderError::BadSignature { rung: 1 })
    );
    // A signature by someone else's key.
    let mut t = good.clone();
    let fake = claim::sign_ladder(
        &HtlcUtxo {
            params: HtlcParams::new(secret().hashlock(), pk(4), pk(REFUND), BtcHeight(TIMEOUT))
                .unwrap(),
            ..u
        },
        &dest(9),
        &rates,
        &sk(4),
    )
    .unwrap();
    t.rungs[2].signature = fake.rungs[2].signature;
    assert_eq!(
        claim::verify_ladder(&t, &u, &dest(9), &p),
        Err(LadderError::BadSignature { rung: 2 })
    );
    // A lock time or a relative lock that would delay the claim.
    let mut t = good.clone();
    t.rungs[0].tx.lock_time = LockTime::from_height(TIMEOUT + 10).unwrap();
    assert_eq!(
        claim::verify_ladder(&t, &u, &dest(9), &p),
        Err(LadderError::Delayable { rung: 0 })
    );
    let mut t = good.clone();
    t.rungs[0].tx.input[0].sequence = Sequence(100);
    assert_eq!(
        claim::verify_ladder(&t, &u, &dest(9), &p),
        Err(LadderError::Delayable { rung: 0 })
    );
    // Another outpoint.
    let mut t = good.clone();
    t.rungs[1].tx.input[0].previous_output.vout = 0;
    assert_eq!(
        claim::verify_ladder(&t, &u, &dest(9), &p),
        Err(LadderError::WrongOutpoint { rung: 1 })
    );
    // Fee above the cap, top rung too low, rungs not rising, too many or no rungs.
    let rich = claim::sign_ladder(&u, &dest(9), &[rate(1), rate(200)], &sk(CLAIM)).unwrap();
    assert!(matches!(
        claim::verify_ladder(&rich, &u, &dest(9), &p),
        Err(LadderError::FeeTooHigh { rung: 1, .. })
    ));
    let low = claim::sign_ladder(&u, &dest(9), &[rate(1), rate(10)], &sk(CLAIM)).unwrap();
    assert!(matches!(
        claim::verify_ladder(&low, &u, &dest(9), &p),
        Err(LadderError::RateTooLow { rung: 1, .. })
    ));
    let flat = claim::sign_ladder(&u, &dest(9), &[rate(60), rate(60)], &sk(CLAIM)).unwrap();
    assert_eq!(
        claim::verify_ladder(&flat, &u, &dest(9), &p),
        Err(LadderError::NotRising { rung: 1 })
    );
    let many = claim::sign_ladder(&u, &dest(9), &[rate(60); 9], &sk(CLAIM)).unwrap();
    assert_eq!(
        claim::verify_ladder(&many, &u, &dest(9), &p),
        Err(LadderError::RungCount(9))
    );
    assert_eq!(
        claim::verify_ladder(&claim::ClaimLadder { rungs: vec![] }, &u, &dest(9), &p),
        Err(LadderError::RungCount(0))
    );
    // The maker can only sign with the claim key.
    assert_eq!(
        claim::sign_ladder(&u, &dest(9), &rates, &sk(REFUND)),
        Err(SpendError::WrongKey(Branch::Claim))
    );
}

/// The kernel's `verify` takes consensus flags only (it refuses any other bit), so the policy
/// ("standard") rules a relaying node adds are checked here directly: MINIMALIF (the branch
/// selector is exactly `01` or empty), strict DER with low S, SIGHASH_ALL, witness items within
/// the P2WSH standard sizes (80 bytes each, script at most 3,600), and version 2.
#[test]
fn policy_rules_the_kernel_flags_cannot_express_hold_for_every_spend() {
    let u = utxo();
    let mut spends = vec![];
    for r in [1, 20, 300] {
        spends.push(claim::build(&u, &dest(9), rate(r), &secret(), &sk(CLAIM)).unwrap());
        spends.push(refund::build(&u, &dest(9), rate(r), &sk(REFUND)).unwrap());
    }
    for s in &spends {
        let w = &s.tx.input[0].witness;
        let items: Vec<&[u8]> = w.iter().collect();
        let selector = items[items.len() - 2];
        match s.branch {
            Branch::Claim => assert_eq!((items.len(), selector), (4, &[1u8][..])),
            Branch::Refund => assert_eq!((items.len(), selector), (3, &[][..])),
        }
        let sig = bitcoin::ecdsa::Signature::from_slice(items[0]).unwrap();
        assert_eq!(sig.sighash_type, bitcoin::EcdsaSighashType::All);
        let mut normalized = sig.signature;
        normalized.normalize_s();
        assert_eq!(normalized, sig.signature, "high S");
        assert!(items[0].len() <= spend::OWN_SIG_MAX_LEN);
        for item in &items[..items.len() - 1] {
            assert!(item.len() <= 80);
        }
        assert!(items[items.len() - 1].len() <= 3_600);
        assert_eq!(s.tx.version, bitcoin::transaction::Version::TWO);
        verify_spend(&s.tx, &u).unwrap();
    }
    // And the kernel indeed takes no policy flag: asking for one more bit than VERIFY_ALL is an
    // error, not a stricter check.
    let c = &spends[0];
    let bytes = bitcoin::consensus::serialize(&c.tx);
    let ktx = bitcoinkernel::Transaction::new(&bytes).unwrap();
    let spk = bitcoinkernel::ScriptPubkey::new(spent(&u).script_pubkey.as_bytes()).unwrap();
    let out = bitcoinkernel::TxOut::new(&spk, 100_000);
    let data = bitcoinkernel::PrecomputedTransactionData::new(&ktx, &[out]).unwrap();
    let policy_bit = bitcoinkernel::VERIFY_ALL.wrapping_shl(1) & !bitcoinkernel::VERIFY_ALL;
    let extra = bitcoinkernel::VERIFY_ALL | policy_bit;
    assert!(bitcoinkernel::verify(&spk, Some(100_000), &ktx, 0, Some(extra), &data).is_err());
}
