//! The on-chain side of opML, from Rust.
//!
//! - In process: the committed Solidity contracts (`onchain/artifacts/*.json`,
//!   exported from `forge build`) deployed in an in-memory EVM ([`evm`], revm
//!   under Cancun rules), and the one-step verifier with outcomes that compare
//!   one to one with the Rust reference ([`verifier`]).
//! - For a chain: typed bindings of the contracts ([`bindings`]) and the
//!   protocol as one deployment ([`protocol`]: what to deploy with which
//!   arguments, the deployment file, what registering a model sends, amounts).
//!   Sending them, and everything the agents run, is the `opml-agents` crate.
//!
//! ```
//! use opml_onchain::U256;
//! use opml_onchain::verifier::{EvmVerifier, VerifierError, rust_step};
//!
//! let mut evm = EvmVerifier::new()?;
//! let pre = [0u8; 32];
//! // An empty proof is truncated at its version byte, in the EVM and in Rust alike.
//! let on_chain = evm.step(pre, &[]).map(|(post, _gas)| post);
//! let reference = rust_step(&pre, &[]);
//! assert_eq!(on_chain, reference);
//! assert_eq!(
//!     reference,
//!     Err(VerifierError::ProofTruncated { at: U256::ZERO, needed: U256::from(1) })
//! );
//! # Ok::<(), opml_onchain::Error>(())
//! ```

pub mod bindings;
pub mod error;
pub mod evm;
pub mod protocol;
pub mod report;
pub mod verifier;

/// The primitive types of the public API (revert arguments are `uint256`).
pub use alloy_primitives::{Address, Bytes, U256};
pub use error::{Error, Result};
pub use evm::{Evm, Gas};
pub use verifier::{EvmVerifier, StepOutcome, VerifierError};
