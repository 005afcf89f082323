//! The `opml` package as a library: the local-chain harness ([`devnet`], and
//! [`hostile`], a JSON-RPC endpoint that misbehaves on purpose), the
//! end-to-end demo ([`demo`]), and disputes for researchers (export in
//! [`dispute`], replay in [`replay`], the HTML page in [`report`], checked in
//! a real browser by [`browser`]) that the `opml` binary and the top-level
//! tests (`tests/`) share.

pub mod browser;
pub mod demo;
pub mod devnet;
pub mod dispute;
pub mod hostile;
pub mod replay;
pub mod report;
