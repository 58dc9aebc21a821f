//! The value types this crate shares with `crosslock-core`, and their conversions to the
//! `bitcoin` crate's types.
//!
//! Owns only glue: the newtypes themselves (heights, amounts, hashlock, secret) are the core's,
//! re-exported so the rest of the crate names one path. It must never hold protocol rules.

pub use crosslock_core::amount::Sats;
pub use crosslock_core::secret::{Hashlock, Secret};
pub use crosslock_core::time::{BtcHeight, UnixTime};

/// `Sats` as a `bitcoin` amount.
pub const fn to_amount(s: Sats) -> bitcoin::Amount {
    bitcoin::Amount::from_sat(s.0)
}

/// A `bitcoin` amount as `Sats`.
pub fn sats(a: bitcoin::Amount) -> Sats {
    Sats(a.to_sat())
}

/// An outpoint as the core's lock id.
pub fn lock_id(op: bitcoin::OutPoint) -> crosslock_core::chain::LockId {
    use bitcoin::hashes::Hash;
    crosslock_core::chain::LockId::BtcOutpoint {
        txid: crosslock_core::chain::TxId(op.txid.to_byte_array()),
        vout: op.vout,
    }
}

/// The outpoint of a Bitcoin lock id.
pub fn outpoint(id: &crosslock_core::chain::LockId) -> Option<bitcoin::OutPoint> {
    use bitcoin::hashes::Hash;
    match id {
        crosslock_core::chain::LockId::BtcOutpoint { txid, vout } => Some(bitcoin::OutPoint {
            txid: bitcoin::Txid::from_byte_array(txid.0),
            vout: *vout,
        }),
        crosslock_core::chain::LockId::EthEscrow { .. } => None,
    }
}

/// A txid as the core's transaction id.
pub fn tx_id(txid: bitcoin::Txid) -> crosslock_core::chain::TxId {
    use bitcoin::hashes::Hash;
    crosslock_core::chain::TxId(txid.to_byte_array())
}

/// A compressed key from the core (prefix checked there) as a curve point (checked here).
pub fn pubkey(
    key: &crosslock_core::chain::BtcPubkey,
) -> Result<bitcoin::secp256k1::PublicKey, bitcoin::secp256k1::Error> {
    bitcoin::secp256k1::PublicKey::from_slice(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    #[test]
    fn lock_ids_round_trip_and_keys_are_checked_on_the_curve() {
        let op = bitcoin::OutPoint {
            txid: bitcoin::Txid::from_byte_array([3; 32]),
            vout: 9,
        };
        assert_eq!(outpoint(&lock_id(op)), Some(op));
        let eth = crosslock_core::chain::LockId::EthEscrow { id: [0; 32] };
        assert_eq!(outpoint(&eth), None);
        let mut bad = [0xffu8; 33];
        bad[0] = 2;
        let bad = crosslock_core::chain::BtcPubkey::from_bytes(&bad).unwrap();
        assert!(pubkey(&bad).is_err());
    }
}
