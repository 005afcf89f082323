//! The Solidity one-step verifier (`contracts/vm/OneStepVerifier.sol`) run in
//! the in-process EVM, with outcomes comparable to the Rust reference
//! ([`opml_vm::machine::verify_step`]).
//!
//! The bindings and the creation code come from the committed artifact
//! `onchain/artifacts/OneStepVerifier.json` at compile time (the `sol!` macro
//! tracks the file, so a new artifact rebuilds this crate).

use crate::error::{Error, Result};
use crate::evm::{CallResult, Evm, Gas};
use alloy_primitives::{Address, Bytes, FixedBytes, U256};
use alloy_sol_types::{Panic, Revert, SolCall, SolError, SolInterface, sol};
use opml_vm::machine::{ProofError, verify_step};

sol!(
    #[allow(missing_docs)]
    #[derive(Debug, PartialEq, Eq)]
    OneStepVerifier,
    "artifacts/OneStepVerifier.json"
);

pub use OneStepVerifier::OneStepVerifierErrors;

/// Why the verifier rejected a proof, or failed to answer.
///
/// The first eleven variants are the contract's custom errors, which mirror
/// [`ProofError`] one to one (see [`VerifierError::from_proof_error`]); the
/// others are EVM outcomes that the Rust reference has no counterpart for, so
/// they always count as a disagreement in a differential test.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifierError {
    /// `ProofTruncated(at, needed)`: the proof ends early.
    #[error("proof is truncated: needed {needed} more bytes at offset {at}")]
    ProofTruncated {
        /// Offset of the read.
        at: U256,
        /// Bytes missing.
        needed: U256,
    },
    /// `ProofVersion(version)`: unknown version byte.
    #[error("proof version {0} is not supported")]
    ProofVersion(u8),
    /// `ProofTrailing(extra)`: bytes after the end.
    #[error("proof has {0} trailing bytes")]
    ProofTrailing(U256),
    /// `PreStateMismatch()`: the revealed header does not hash to the pre-state.
    #[error("the proof's state does not hash to the pre-state")]
    PreStateMismatch,
    /// `BadInstruction()`: the instruction bytes are not a valid instruction.
    #[error("the proof's instruction is malformed")]
    BadInstruction,
    /// `CodeMismatch()`: the instruction is not the committed code at pc.
    #[error("the instruction is not the committed code at pc")]
    CodeMismatch,
    /// `StackMismatch()`: the revealed stack values do not match the stack commitment.
    #[error("the revealed stack values do not match the committed stack")]
    StackMismatch,
    /// `FrameMismatch()`: the revealed frame does not match the frame stack commitment.
    #[error("the revealed frame does not match the committed frames")]
    FrameMismatch,
    /// `LocalMismatch()`: the revealed local does not match the frame's locals tree.
    #[error("the revealed local does not match its committed tree")]
    LocalMismatch,
    /// `GlobalMismatch()`: the revealed global does not match the globals tree.
    #[error("the revealed global does not match its committed tree")]
    GlobalMismatch,
    /// `MemoryMismatch()`: the revealed memory leaves do not match the memory root.
    #[error("the revealed memory does not match the committed memory")]
    MemoryMismatch,
    /// A Solidity panic (`Panic(uint256)`: overflow, array bounds, ...): a verifier bug.
    #[error("the verifier panicked with Solidity panic code {0:#x}")]
    Panic(U256),
    /// A `require` message (`Error(string)`).
    #[error("the verifier reverted: {0}")]
    Message(String),
    /// Revert data that is none of the above (e.g. empty, from ABI decoding).
    #[error("the verifier reverted with unrecognized data 0x{0:x}")]
    UnknownRevert(Bytes),
    /// An exceptional halt (out of gas, invalid opcode, ...).
    #[error("the verifier halted: {0}")]
    Halted(String),
    /// Returned data that is not one `bytes32`.
    #[error("the verifier returned 0x{0:x}, not one bytes32")]
    BadReturn(Bytes),
    /// The EVM itself failed.
    #[error(transparent)]
    Evm(#[from] Error),
}

impl VerifierError {
    /// The contract error that corresponds to a Rust [`ProofError`]: the same
    /// variant with the same arguments.
    pub fn from_proof_error(e: &ProofError) -> VerifierError {
        match e {
            ProofError::Truncated { at, needed } => VerifierError::ProofTruncated {
                at: U256::from(*at),
                needed: U256::from(*needed),
            },
            ProofError::Version(v) => VerifierError::ProofVersion(*v),
            ProofError::Trailing(n) => VerifierError::ProofTrailing(U256::from(*n)),
            ProofError::PreState => VerifierError::PreStateMismatch,
            ProofError::Instruction => VerifierError::BadInstruction,
            ProofError::Code => VerifierError::CodeMismatch,
            ProofError::Stack => VerifierError::StackMismatch,
            ProofError::Frame => VerifierError::FrameMismatch,
            // the stepper names two kinds of cells: "local" and "global"
            ProofError::Cell(kind) if *kind == "global" => VerifierError::GlobalMismatch,
            ProofError::Cell(_) => VerifierError::LocalMismatch,
            ProofError::Memory => VerifierError::MemoryMismatch,
        }
    }

    /// Whether this is one of the contract's custom errors (a verdict on the
    /// proof), as opposed to a panic, an unknown revert, a halt or an EVM failure.
    pub fn is_verdict(&self) -> bool {
        !matches!(
            self,
            VerifierError::Panic(_)
                | VerifierError::Message(_)
                | VerifierError::UnknownRevert(_)
                | VerifierError::Halted(_)
                | VerifierError::BadReturn(_)
                | VerifierError::Evm(_)
        )
    }

    /// The contract error's name (`ProofTruncated`, ...), or a short label for the other outcomes.
    pub fn name(&self) -> &'static str {
        match self {
            VerifierError::ProofTruncated { .. } => "ProofTruncated",
            VerifierError::ProofVersion(_) => "ProofVersion",
            VerifierError::ProofTrailing(_) => "ProofTrailing",
            VerifierError::PreStateMismatch => "PreStateMismatch",
            VerifierError::BadInstruction => "BadInstruction",
            VerifierError::CodeMismatch => "CodeMismatch",
            VerifierError::StackMismatch => "StackMismatch",
            VerifierError::FrameMismatch => "FrameMismatch",
            VerifierError::LocalMismatch => "LocalMismatch",
            VerifierError::GlobalMismatch => "GlobalMismatch",
            VerifierError::MemoryMismatch => "MemoryMismatch",
            VerifierError::Panic(_) => "panic",
            VerifierError::Message(_) => "revert message",
            VerifierError::UnknownRevert(_) => "unknown revert",
            VerifierError::Halted(_) => "halt",
            VerifierError::BadReturn(_) => "bad return data",
            VerifierError::Evm(_) => "EVM error",
        }
    }

    /// Decodes the revert data of a call to the verifier.
    pub fn from_revert(data: &[u8]) -> VerifierError {
        use OneStepVerifierErrors as E;
        if let Ok(e) = E::abi_decode(data) {
            return match e {
                E::ProofTruncated(e) => VerifierError::ProofTruncated {
                    at: e.at,
                    needed: e.needed,
                },
                E::ProofVersion(e) => VerifierError::ProofVersion(e.version),
                E::ProofTrailing(e) => VerifierError::ProofTrailing(e.extra),
                E::PreStateMismatch(_) => VerifierError::PreStateMismatch,
                E::BadInstruction(_) => VerifierError::BadInstruction,
                E::CodeMismatch(_) => VerifierError::CodeMismatch,
                E::StackMismatch(_) => VerifierError::StackMismatch,
                E::FrameMismatch(_) => VerifierError::FrameMismatch,
                E::LocalMismatch(_) => VerifierError::LocalMismatch,
                E::GlobalMismatch(_) => VerifierError::GlobalMismatch,
                E::MemoryMismatch(_) => VerifierError::MemoryMismatch,
            };
        }
        if let Ok(p) = Panic::abi_decode(data) {
            return VerifierError::Panic(p.code);
        }
        if let Ok(r) = Revert::abi_decode(data) {
            return VerifierError::Message(r.reason);
        }
        VerifierError::UnknownRevert(Bytes::copy_from_slice(data))
    }
}

/// The Rust reference verdict, in the contract's terms: `verify_step` with
/// its error mapped by [`VerifierError::from_proof_error`].
pub fn rust_step(pre: &[u8; 32], proof: &[u8]) -> Result<[u8; 32], VerifierError> {
    verify_step(pre, proof).map_err(|e| VerifierError::from_proof_error(&e))
}

/// What one call of `step` gave and cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    /// The post-state, or why the proof was rejected.
    pub result: Result<[u8; 32], VerifierError>,
    /// Gas of the call (also for rejections).
    pub gas: Gas,
    /// Bytes of calldata (the ABI-encoded call, selector included).
    pub calldata_bytes: usize,
}

/// The committed `OneStepVerifier`, deployed once in an in-process EVM.
#[derive(Debug)]
pub struct EvmVerifier {
    evm: Evm,
    address: Address,
    code_size: usize,
    deploy_gas: Gas,
}

impl EvmVerifier {
    /// Deploys the committed artifact's creation code.
    pub fn new() -> Result<EvmVerifier> {
        let creation = &OneStepVerifier::BYTECODE;
        if creation.is_empty() {
            return Err(Error::Artifact {
                name: "OneStepVerifier".into(),
                why: "it has no creation bytecode".into(),
            });
        }
        let mut evm = Evm::new();
        let (address, deploy_gas) = evm.deploy("OneStepVerifier", creation)?;
        let code_size = evm.code(address).len();
        Ok(EvmVerifier {
            evm,
            address,
            code_size,
            deploy_gas,
        })
    }

    /// Where the verifier lives.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Size of the deployed runtime code in bytes (the EIP-170 limit is 24,576).
    pub fn code_size(&self) -> usize {
        self.code_size
    }

    /// Gas of the deployment transaction.
    pub fn deploy_gas(&self) -> Gas {
        self.deploy_gas
    }

    /// Calls `step(pre, proof)` and reports the result with its gas.
    pub fn run(&mut self, pre: &[u8; 32], proof: &[u8]) -> StepOutcome {
        let data = OneStepVerifier::stepCall {
            preState: FixedBytes(*pre),
            proof: Bytes::copy_from_slice(proof),
        }
        .abi_encode();
        let calldata_bytes = data.len();
        let call = match self.evm.call(self.address, &data) {
            Ok(c) => c,
            Err(e) => {
                return StepOutcome {
                    result: Err(e.into()),
                    gas: Gas::default(),
                    calldata_bytes,
                };
            }
        };
        let result = match call.result {
            CallResult::Returned(out) => {
                match OneStepVerifier::stepCall::abi_decode_returns_validate(&out) {
                    Ok(post) if out.len() == 32 => Ok(post.0),
                    _ => Err(VerifierError::BadReturn(out)),
                }
            }
            CallResult::Reverted(data) => Err(VerifierError::from_revert(&data)),
            CallResult::Halted(why) => Err(VerifierError::Halted(why)),
        };
        StepOutcome {
            result,
            gas: call.gas,
            calldata_bytes,
        }
    }

    /// The post-state hash after one step from `pre`, with the gas of the call.
    pub fn step(&mut self, pre: [u8; 32], proof: &[u8]) -> Result<([u8; 32], Gas), VerifierError> {
        let out = self.run(&pre, proof);
        out.result.map(|post| (post, out.gas))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OneStepVerifier as V;

    /// Every Rust error, the contract error it corresponds to, encoded as the contract reverts.
    fn table() -> Vec<(ProofError, Vec<u8>)> {
        vec![
            (
                ProofError::Truncated { at: 7, needed: 300 },
                V::ProofTruncated {
                    at: U256::from(7),
                    needed: U256::from(300),
                }
                .abi_encode(),
            ),
            (
                ProofError::Version(9),
                V::ProofVersion { version: 9 }.abi_encode(),
            ),
            (
                ProofError::Trailing(33),
                V::ProofTrailing {
                    extra: U256::from(33),
                }
                .abi_encode(),
            ),
            (ProofError::PreState, V::PreStateMismatch {}.abi_encode()),
            (ProofError::Instruction, V::BadInstruction {}.abi_encode()),
            (ProofError::Code, V::CodeMismatch {}.abi_encode()),
            (ProofError::Stack, V::StackMismatch {}.abi_encode()),
            (ProofError::Frame, V::FrameMismatch {}.abi_encode()),
            (ProofError::Cell("local"), V::LocalMismatch {}.abi_encode()),
            (
                ProofError::Cell("global"),
                V::GlobalMismatch {}.abi_encode(),
            ),
            (ProofError::Memory, V::MemoryMismatch {}.abi_encode()),
        ]
    }

    #[test]
    fn every_contract_error_decodes_to_the_rust_error_it_mirrors() {
        let table = table();
        assert_eq!(
            table.len(),
            OneStepVerifierErrors::COUNT,
            "the ABI has errors this table does not cover"
        );
        let mut names = std::collections::BTreeSet::new();
        for (rust, revert) in &table {
            let want = VerifierError::from_proof_error(rust);
            assert_eq!(VerifierError::from_revert(revert), want, "{rust:?}");
            assert!(want.is_verdict());
            // the name is the ABI error's name
            let sig = OneStepVerifierErrors::abi_decode(revert).unwrap();
            assert!(
                format!("{sig:?}").starts_with(want.name()),
                "{sig:?} vs {}",
                want.name()
            );
            names.insert(want.name());
        }
        assert_eq!(names.len(), table.len(), "two errors map to one name");
    }

    #[test]
    fn other_reverts_are_not_verdicts() {
        let panic = Panic {
            code: U256::from(0x11),
        }
        .abi_encode();
        let message = Revert {
            reason: "no".into(),
        }
        .abi_encode();
        let cases = [
            (panic, VerifierError::Panic(U256::from(0x11))),
            (message, VerifierError::Message("no".into())),
            (vec![], VerifierError::UnknownRevert(Bytes::new())),
            (
                vec![1, 2, 3, 4, 5],
                VerifierError::UnknownRevert(Bytes::from_static(&[1, 2, 3, 4, 5])),
            ),
            // a known selector with missing arguments
            (
                V::ProofTruncated::SELECTOR.to_vec(),
                VerifierError::UnknownRevert(Bytes::copy_from_slice(&V::ProofTruncated::SELECTOR)),
            ),
        ];
        for (data, want) in cases {
            let got = VerifierError::from_revert(&data);
            assert_eq!(got, want);
            assert!(!got.is_verdict());
        }
    }

    #[test]
    fn the_committed_artifact_deploys_its_runtime_code() {
        let mut v = EvmVerifier::new().unwrap();
        assert_eq!(v.code_size(), OneStepVerifier::DEPLOYED_BYTECODE.len());
        let code = v.evm.code(v.address());
        assert_eq!(code, OneStepVerifier::DEPLOYED_BYTECODE);
        // an empty proof is truncated at the version byte in both verifiers
        let want = Err(VerifierError::ProofTruncated {
            at: U256::ZERO,
            needed: U256::from(1),
        });
        assert_eq!(rust_step(&[7; 32], &[]), want);
        let out = v.run(&[7; 32], &[]);
        assert_eq!(out.result, want);
        assert_eq!(
            out.calldata_bytes,
            4 + 32 + 32 + 32,
            "selector, pre, offset, length"
        );
    }
}
