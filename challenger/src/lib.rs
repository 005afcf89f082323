//! opML challenger.
//!
//! The challenger service: re-executes every posted claim, challenges mismatches, plays the bisection game and collects bounties.
//!
//! This crate is a placeholder: it lands with its milestone (see the project
//! issues). The compiler and runtime it builds on live in `opml-vm`.
