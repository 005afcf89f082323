//! The `opml` package as a library: the end-to-end demo ([`demo`], on the
//! local chain of the `opml-testkit` harness), and disputes for researchers (export in
//! [`dispute`], replay in [`replay`], the HTML page in [`report`], checked in
//! a real browser by [`browser`]) that the `opml` binary and the top-level
//! tests (`tests/`) share.

pub mod browser;
pub mod demo;
pub mod dispute;
pub mod replay;
pub mod report;
