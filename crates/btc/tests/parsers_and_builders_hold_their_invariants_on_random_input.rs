//! Property tests (reliability row 18, malformed input): the script parser and the witness
//! reader never panic on arbitrary bytes, accept only canonical HTLC scripts, and the builders
//! never pay less than the asked rate nor leave dust.

#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns are test code too.

mod common;

use bitcoin::{FeeRate, Script, Witness};
use common::*;
use crosslock_btc::claim;
use crosslock_btc::htlc::HtlcParams;
use crosslock_btc::refund;
use crosslock_btc::secret::read_spend;
use crosslock_btc::spend::SpendError;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_parser_accepts_only_what_it_would_encode(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(p) = HtlcParams::from_witness_script(Script::from_bytes(&bytes)) {
            prop_assert_eq!(p.witness_script().to_bytes(), bytes);
        }
    }

    #[test]
    fn a_one_byte_change_is_refused_or_is_another_canonical_htlc(at in 0usize..117, to in any::<u8>()) {
        let good = utxo().params.witness_script().to_bytes();
        let mut bad = good.clone();
        bad[at] = to;
        match HtlcParams::from_witness_script(Script::from_bytes(&bad)) {
            Ok(p) => prop_assert_eq!(p.witness_script().to_bytes(), bad),
            Err(_) => prop_assert_ne!(bad, good),
        }
    }

    #[test]
    fn the_witness_reader_never_panics(items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..6), with_script in any::<bool>()) {
        let u = utxo();
        let c = claim::build(&u, &dest(9), FeeRate::from_sat_per_vb_u32(2), &secret(), &sk(CLAIM)).unwrap();
        let mut tx = c.tx;
        let mut items = items;
        if with_script {
            items.push(u.params.witness_script().to_bytes());
        }
        tx.input[0].witness = Witness::from_slice(&items);
        let _ = read_spend(&tx, u.outpoint, &u.params);
    }

    #[test]
    fn spends_pay_at_least_the_rate_and_never_leave_dust(amount in 1_000u64..2_000_000_000, sat_vb in 1u32..3_000) {
        let u = utxo_with(&secret(), amount);
        let rate = FeeRate::from_sat_per_vb_u32(sat_vb);
        let dust = dest(9).minimal_non_dust().to_sat();
        for built in [
            claim::build(&u, &dest(9), rate, &secret(), &sk(CLAIM)),
            refund::build(&u, &dest(9), rate, &sk(REFUND)),
        ] {
            match built {
                Ok(s) => {
                    let out = s.tx.output[0].value.to_sat();
                    prop_assert!(out >= dust);
                    prop_assert_eq!(out + s.fee.0, amount);
                    prop_assert!(s.effective_rate() >= rate);
                    prop_assert!(s.tx.weight() <= s.weight);
                }
                Err(SpendError::Dust { value, dust: d, .. }) => prop_assert!(value < d),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}
