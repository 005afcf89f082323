//! The on-chain side of opML, from Rust.
//!
//! - In process: the committed Solidity contracts (`onchain/artifacts/*.json`,
//!   exported from `forge build`) deployed in an in-memory EVM ([`evm`], revm
//!   under Cancun rules), and the one-step verifier with outcomes that compare
//!   one to one with the Rust reference ([`verifier`]).
//! - On a chain, for the CLI and the agents: typed bindings ([`bindings`]), a
//!   client that owns its nonces and retries ([`client`]), deployment and
//!   registration ([`protocol`]), log following ([`follow`]), the game player
//!   ([`player`], pure; [`play`], on the chain), persistence ([`store`]) and
//!   fault injection for tests ([`faults`]).
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

pub mod agent;
pub mod bindings;
pub mod client;
pub mod error;
pub mod evm;
pub mod faults;
pub mod follow;
pub mod metrics;
pub mod play;
pub mod player;
pub mod protocol;
pub mod report;
pub mod store;
pub mod verifier;

/// The primitive types of the public API (revert arguments are `uint256`).
pub use alloy_primitives::{Address, Bytes, U256};
pub use error::{Error, Result};
pub use evm::{Evm, Gas};
pub use verifier::{EvmVerifier, StepOutcome, VerifierError};
