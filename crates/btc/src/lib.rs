//! The Bitcoin leg of a swap, for both daemons: the P2WSH HTLC of `protocol.md` ([`htlc`]), the
//! transactions that fund ([`fund`]), claim ([`claim`]) and refund ([`refund`]) it, reading the
//! secret out of any spend ([`secret`]), the resolver's wallet ([`wallet`]), and the chain
//! watcher ([`watcher`], fed by the Electrum adapter in [`electrum`], its events mapped to the
//! core's state-machine inputs by [`inputs`]). [`spend`] holds what claim and refund share: the
//! exact weight, the fee, the low-R signature and the BIP125 replacement rule.
//!
//! The transaction modules are pure: they build, sign and check, and never touch the network.
//! Only [`electrum`] and [`wallet`] do I/O, and neither decides anything about a swap: they turn
//! chain data into [`watcher::ChainEvent`]s for the core and carry out what the core decided.

pub mod claim;
pub mod electrum;
pub mod fund;
pub mod htlc;
pub mod inputs;
pub mod refund;
pub mod secret;
pub mod spend;
pub mod types;
pub mod wallet;
pub mod watcher;

pub use htlc::HtlcParams;
pub use spend::{HtlcUtxo, SignedSpend};
pub use types::{BtcHeight, Hashlock, Sats, Secret};
