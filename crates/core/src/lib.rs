//! The swap protocol as pure logic: types, state machine, timelock and amount rules.
//!
//! This crate never performs I/O. It takes inputs and returns the new state plus the actions
//! to carry out; adapters elsewhere do the carrying out.

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
