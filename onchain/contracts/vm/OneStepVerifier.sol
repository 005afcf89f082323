// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IOneStepVerifier} from "../interfaces/IOneStepVerifier.sol";

/// @title opML one-step verifier (skeleton: the implementation lands next)
contract OneStepVerifier is IOneStepVerifier {
    /// @notice The proof ends early: `needed` more bytes at offset `at`.
    error ProofTruncated(uint256 at, uint256 needed);
    /// @notice The proof's version byte is not 1.
    error ProofVersion(uint8 version);
    /// @notice The proof has `extra` bytes after its end.
    error ProofTrailing(uint256 extra);
    /// @notice The revealed header does not hash to the pre-state.
    error PreStateMismatch();
    /// @notice The revealed instruction is not a valid encoding.
    error BadInstruction();
    /// @notice The instruction is not the committed code at pc.
    error CodeMismatch();
    /// @notice The revealed stack values do not match the stack commitment.
    error StackMismatch();
    /// @notice The revealed frame does not match the frame stack commitment.
    error FrameMismatch();
    /// @notice The revealed local does not match the frame's locals tree.
    error LocalMismatch();
    /// @notice The revealed global does not match the globals tree.
    error GlobalMismatch();
    /// @notice The revealed memory leaves do not match the memory root.
    error MemoryMismatch();

    /// @inheritdoc IOneStepVerifier
    function step(bytes32 preState, bytes calldata proof) external pure returns (bytes32) {
        if (proof.length == 0) revert ProofTruncated(0, 1);
        return preState;
    }
}
