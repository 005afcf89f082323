//! Errors of the in-process EVM (deployment and calls), as opposed to a
//! verifier's verdict on a proof ([`crate::verifier::VerifierError`]).

/// What went wrong while running the EVM itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A committed artifact cannot be used.
    #[error(
        "artifact `{name}` is unusable: {why} (re-export it with `forge build && node onchain/tools/artifacts.mjs`)"
    )]
    Artifact {
        /// The contract name.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// The creation code reverted, halted or returned no code.
    #[error("deploying `{name}` failed: {why}")]
    Deploy {
        /// The contract name.
        name: String,
        /// The revert, halt or validation error.
        why: String,
    },
    /// revm rejected the transaction before executing it (a bug in this crate's setup).
    #[error("the EVM rejected the transaction: {0}")]
    Transaction(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
