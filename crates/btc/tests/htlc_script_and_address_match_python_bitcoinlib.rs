//! Known answers for the HTLC script and its P2WSH addresses, two-sided: the constants below were
//! produced by python-bitcoinlib (an independent encoder, pinned in `scripts/requirements.txt`),
//! the Rust encoder must produce them, and the test runs the Python encoder again and compares.
//!
//! Keys are secp256k1's `G` and `2G`; the hashlock is SHA-256 of 32 zero bytes. Heights cover
//! every CLTV push size (1 to 4 bytes, with and without a sign-padding byte).

#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns are test code too.

use std::path::{Path, PathBuf};
use std::process::Command;

use bitcoin::hashes::{Hash, sha256};
use bitcoin::secp256k1::PublicKey;
use bitcoin::{Network, Script};
use crosslock_btc::htlc::HtlcParams;
use crosslock_btc::types::{BtcHeight, Hashlock};

const CLAIM_PUBKEY: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
const REFUND_PUBKEY: &str = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5";
const HASHLOCK: &str = "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925";

struct Kat {
    timeout: u32,
    script: &'static str,
    mainnet: &'static str,
    testnet: &'static str,
    signet: &'static str,
    regtest: &'static str,
}

const KATS: [Kat; 5] = [
    Kat {
        timeout: 17,
        script: "6382012088a82066687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f292588210279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798670111b1752102c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee568ac",
        mainnet: "bc1qzrrlse6cmhzechemw8fygunamu4xydgdlz3gdm5pxuc2ky8wpjts0lgpw6",
        testnet: "tb1qzrrlse6cmhzechemw8fygunamu4xydgdlz3gdm5pxuc2ky8wpjtsch7w54",
        signet: "tb1qzrrlse6cmhzechemw8fygunamu4xydgdlz3gdm5pxuc2ky8wpjtsch7w54",
        regtest: "bcrt1qzrrlse6cmhzechemw8fygunamu4xydgdlz3gdm5pxuc2ky8wpjts4w5gp0",
    },
    Kat {
        timeout: 255,
        script: "6382012088a82066687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f292588210279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f817986702ff00b1752102c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee568ac",
        mainnet: "bc1qft07jjrhn75rueg4a4escpj6vuvemlfcuu3e8j4enh8xl4gkvcqqh25uwp",
        testnet: "tb1qft07jjrhn75rueg4a4escpj6vuvemlfcuu3e8j4enh8xl4gkvcqqqzzn5w",
        signet: "tb1qft07jjrhn75rueg4a4escpj6vuvemlfcuu3e8j4enh8xl4gkvcqqqzzn5w",
        regtest: "bcrt1qft07jjrhn75rueg4a4escpj6vuvemlfcuu3e8j4enh8xl4gkvcqqdmg4p5",
    },
    Kat {
        timeout: 500_000,
        script: "6382012088a82066687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f292588210279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798670320a107b1752102c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee568ac",
        mainnet: "bc1q58nyegarqtxapacfts9ux76k95qatjd6cyd25mepy36ja4m6xqmqdm04yg",
        testnet: "tb1q58nyegarqtxapacfts9ux76k95qatjd6cyd25mepy36ja4m6xqmq6ne678",
        signet: "tb1q58nyegarqtxapacfts9ux76k95qatjd6cyd25mepy36ja4m6xqmq6ne678",
        regtest: "bcrt1q58nyegarqtxapacfts9ux76k95qatjd6cyd25mepy36ja4m6xqmqh2nuta",
    },
    Kat {
        timeout: 8_388_608,
        script: "6382012088a82066687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f292588210279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798670400008000b1752102c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee568ac",
        mainnet: "bc1qud3lcnpj74qlhyt5a2yvfqa2svnluggxusrzu56k9n6jsn0wklcs7xdz94",
        testnet: "tb1qud3lcnpj74qlhyt5a2yvfqa2svnluggxusrzu56k9n6jsn0wklcsfwmdl6",
        signet: "tb1qud3lcnpj74qlhyt5a2yvfqa2svnluggxusrzu56k9n6jsn0wklcsfwmdl6",
        regtest: "bcrt1qud3lcnpj74qlhyt5a2yvfqa2svnluggxusrzu56k9n6jsn0wklcsyh3t2q",
    },
    Kat {
        timeout: 499_999_999,
        script: "6382012088a82066687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f292588210279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f817986704ff64cd1db1752102c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee568ac",
        mainnet: "bc1qeshhj65uuuhyq9frkdxawh48s4l4xtmgfzfsj947445he5zge7pqy02ufr",
        testnet: "tb1qeshhj65uuuhyq9frkdxawh48s4l4xtmgfzfsj947445he5zge7pqn8unnv",
        signet: "tb1qeshhj65uuuhyq9frkdxawh48s4l4xtmgfzfsj947445he5zge7pqn8unnv",
        regtest: "bcrt1qeshhj65uuuhyq9frkdxawh48s4l4xtmgfzfsj947445he5zge7pq77k4xk",
    },
];

fn params(timeout: u32) -> HtlcParams {
    let key = |h: &str| PublicKey::from_slice(&hex::decode(h).unwrap()).unwrap();
    let h: [u8; 32] = hex::decode(HASHLOCK).unwrap().try_into().unwrap();
    HtlcParams::new(
        Hashlock(h),
        key(CLAIM_PUBKEY),
        key(REFUND_PUBKEY),
        BtcHeight(timeout),
    )
    .unwrap()
}

#[test]
fn rust_encoder_matches_the_committed_answers() {
    assert_eq!(
        hex::encode(sha256::Hash::hash(&[0u8; 32]).to_byte_array()),
        HASHLOCK
    );
    for k in &KATS {
        let p = params(k.timeout);
        assert_eq!(
            hex::encode(p.witness_script().as_bytes()),
            k.script,
            "{}",
            k.timeout
        );
        assert_eq!(p.address(Network::Bitcoin).to_string(), k.mainnet);
        assert_eq!(p.address(Network::Testnet).to_string(), k.testnet);
        assert_eq!(p.address(Network::Signet).to_string(), k.signet);
        assert_eq!(p.address(Network::Regtest).to_string(), k.regtest);
        let bytes = hex::decode(k.script).unwrap();
        assert_eq!(
            HtlcParams::from_witness_script(Script::from_bytes(&bytes)),
            Ok(p)
        );
    }
}

/// The project's virtualenv Python if it exists, else `python3` on PATH.
fn python() -> PathBuf {
    if let Some(home) = std::env::var_os("HOME") {
        let venv = Path::new(&home).join(".cache/crosslock/venv/bin/python3");
        if venv.exists() {
            return venv;
        }
    }
    PathBuf::from("python3")
}

#[test]
fn python_bitcoinlib_produces_the_same_answers() {
    // The runtime variable first: a cached test binary may have been built in another checkout.
    let dir =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let encoder = Path::new(&dir).join("tests/kat/htlc_bitcoinlib.py");
    for k in &KATS {
        let out = Command::new(python())
            .arg(&encoder)
            .args([
                HASHLOCK,
                CLAIM_PUBKEY,
                REFUND_PUBKEY,
                &k.timeout.to_string(),
            ])
            .output()
            .expect("python3 must be installed (scripts/setup makes the virtualenv)");
        assert!(
            out.status.success(),
            "python-bitcoinlib encoder failed (run scripts/setup to install \
             scripts/requirements.txt): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["script"], k.script, "{}", k.timeout);
        assert_eq!(v["mainnet"], k.mainnet);
        assert_eq!(v["testnet"], k.testnet);
        assert_eq!(v["signet"], k.signet);
        assert_eq!(v["regtest"], k.regtest);
        // And the Rust side, computed now, equals what Python computed now.
        let p = params(k.timeout);
        assert_eq!(v["script"], hex::encode(p.witness_script().as_bytes()));
        assert_eq!(v["regtest"], p.address(Network::Regtest).to_string());
    }
}
