//! The relayer: public API, order book, chain watchers and the durable swap state machines.
//!
//! It never holds a signing key. Its service loop lands with the relayer issue; until then the
//! binary refuses to start rather than pretend to serve.
