// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title One-step verifier of the opML machine
/// @notice Re-executes one lowered instruction from an agreed pre-state.
/// @dev The byte layout of `proof` is specified in docs/STATE.md; the Rust
/// function `opml_vm::machine::proof::verify_step` is the reference.
interface IOneStepVerifier {
    /// @notice Computes the state hash after one step.
    /// @param preState Hash of the state before the step.
    /// @param proof Encoded one-step proof (version byte, state header, witness).
    /// @return postState Hash of the state after the step. A halted or trapped
    /// pre-state is returned unchanged.
    function step(bytes32 preState, bytes calldata proof) external pure returns (bytes32 postState);
}
