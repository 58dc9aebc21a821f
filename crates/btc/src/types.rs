//! The value types this crate shares with `crosslock-core`, and their conversions to the
//! `bitcoin` crate's types.
//!
//! Owns only glue: the newtypes themselves (heights, amounts, hashlock, secret) are the core's,
//! re-exported so the rest of the crate names one path. It must never hold protocol rules.

pub use crosslock_core::amount::Sats;
pub use crosslock_core::secret::{Hashlock, Secret};
pub use crosslock_core::time::BtcHeight;

/// `Sats` as a `bitcoin` amount.
pub const fn to_amount(s: Sats) -> bitcoin::Amount {
    bitcoin::Amount::from_sat(s.0)
}

/// A `bitcoin` amount as `Sats`.
pub fn sats(a: bitcoin::Amount) -> Sats {
    Sats(a.to_sat())
}
