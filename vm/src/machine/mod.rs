//! The provable machine: lowered code, the stepper, state commitments and
//! one-step proofs (see `docs/STATE.md`).

#[cfg(feature = "testkit")]
pub mod difftest;
pub mod exec;
pub mod hash;
pub mod isa;
pub mod lower;
pub mod model;
pub mod proof;
pub mod solidity;
pub mod state;

pub use exec::{Frame, Machine, Status, Trap};
pub use isa::{Instr, Op};
pub use lower::{Program, lower};
pub use proof::{ProofError, StepProof, prove, verify_step};
pub use state::{Committer, Header};
