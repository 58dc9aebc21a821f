//! The swap protocol as pure logic: types, state machine, timelock and amount rules.
//!
//! This crate never performs I/O, reads a clock or holds a private key. It takes inputs (a
//! lock or spend seen at some depth, a reorg, a revealed secret, the current heights, an
//! operator command) and returns the new state plus the actions to carry out; adapters
//! elsewhere carry them out (sans-IO). Its dependencies are `thiserror`, `sha2`, `hex` and
//! `tiny-keccak` (EIP-55) only.
//!
//! # Using it
//!
//! 1. At the API edge, [`validate::parse_order`] turns a client's [`validate::RawOrder`] into an
//!    [`order::Order`], with one typed error per bad field.
//! 2. A swap is an append-only log of [`swap::Event`]s starting with `Created`. For each new
//!    input, call [`swap::apply`]; on `Ok`, store the event and the returned [`swap::Swap`] in one
//!    transaction, then carry out the returned [`swap::Action`]s (persist, then act). On `Err`
//!    nothing changed and the event is not stored.
//! 3. After a restart, [`swap::fold`] rebuilds the record from the log, and
//!    `Event::Operator(OperatorCommand::Retry)` re-issues every action still due. Executors
//!    must treat actions as idempotent (one dst lock per swap id; re-broadcasting is harmless).
//! 4. Watchers report depth ([`finality::Depth`]) and the core decides finality; reorgs are
//!    `LockUnconfirmed` / `SpendUnconfirmed` events, not special cases.
//!
//! # Modules and the invariant each protects
//!
//! - [`time`]: heights, timestamps and [`time::convert`], the one Bitcoin-block <-> seconds
//!   conversion, biased toward the safe side for each use.
//! - [`chain`], [`amount`], [`secret`]: identity and amount newtypes; a secret is exactly 32
//!   bytes and never printed; the hashlock is SHA-256 on both chains.
//! - [`order`]: what the maker asks for and the two locks' parameters once matched.
//! - [`params`]: per-network safety margins as code, related ones checked at compile time.
//! - [`timelock`]: the 2:1 rule, the lock margin, "may the resolver lock dst", "may the maker
//!   reveal", the fee-escalation schedule (protects against the claim/refund race).
//! - [`finality`]: depth per amount band; when our own spends count as settled.
//! - [`fees`]: claim/refund sizes, dust-safe minimum amounts, payment tolerance.
//! - [`validate`]: no order or terms the later rules would have to reject get in.
//! - [`swap`]: the state machine; its `rules` never issue a refund while our claim can win,
//!   never claim after a refund, never lock dst or hand the secret on before the state allows.

pub mod amount;
pub mod chain;
pub mod fees;
pub mod finality;
pub mod order;
pub mod params;
pub mod secret;
pub mod swap;
pub mod time;
pub mod timelock;
pub mod validate;
