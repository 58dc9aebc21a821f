//! Integration tests of the swap core: one binary, so the 2-core CI links once.

mod fixture;
mod flows;
mod properties;
mod timelocks;
