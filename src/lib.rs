//! The `opml` package as a library: the local-chain harness ([`devnet`]) and
//! the end-to-end demo ([`demo`]) that the `opml` binary and the top-level
//! tests (`tests/`) share.

pub mod demo;
pub mod devnet;
pub mod dispute;
