//! opML onchain.
//!
//! Solidity contracts (Foundry project), their committed ABI/bytecode artifacts and the typed Rust client for the model registry, the inference market and the dispute game.
//!
//! This crate is a placeholder: it lands with its milestone (see the project
//! issues). The compiler and runtime it builds on live in `opml-vm`.
