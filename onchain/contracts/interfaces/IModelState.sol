// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ModelState} from "../vm/ModelState.sol";

/// @title Model commitments of the opML machine, behind an interface
/// @notice The market and the registry reach the `ModelState` library through this interface so the
/// commitment scheme is a deployment parameter: production deploys {ModelStateAdapter} (the library
/// itself), protocol tests plug a trace VM whose states are trivial to compute.
/// @dev Functions are `view` so test implementations may read storage; the production adapter is `pure`.
interface IModelState {
    /// @notice The model id of a commitment (equal to the Rust model id).
    function modelId(ModelState.Commitment calldata c) external view returns (bytes32);

    /// @notice Reverts unless the IO regions are aligned powers of two inside memory and `inputSiblings`
    /// lead from an all-zero input region to `c.memoryRoot`.
    function checkCommitment(ModelState.Commitment calldata c, bytes32[] calldata inputSiblings) external view;

    /// @notice The initial state hash of a run on `input` (zero padded to `c.inputSize`).
    function initialState(
        ModelState.Commitment calldata c,
        bytes32[] calldata inputSiblings,
        bytes calldata input
    ) external view returns (bytes32);

    /// @notice True when `outputProof` shows that `finalState` is halted at step `steps` with `output` in
    /// its output region.
    function outputMatches(
        ModelState.Commitment calldata c,
        bytes32 finalState,
        uint64 steps,
        bytes calldata output,
        bytes calldata outputProof
    ) external view returns (bool);
}
