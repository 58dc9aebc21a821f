//! The resolver: liquidity, keys, and the executors that lock, claim and refund on both chains.
//!
//! Its service loop lands with the resolver issue; until then the binary refuses to start rather
//! than pretend to serve.
