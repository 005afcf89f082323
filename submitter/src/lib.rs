//! opML submitter.
//!
//! The submitter service: watches inference requests, runs models, posts claims with bonds, defends disputes, finalizes and withdraws.
//!
//! This crate is a placeholder: it lands with its milestone (see the project
//! issues). The compiler and runtime it builds on live in `opml-vm`.
