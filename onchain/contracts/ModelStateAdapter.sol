// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ModelState} from "./vm/ModelState.sol";
import {IModelState} from "./interfaces/IModelState.sol";

/// @title The `ModelState` library as a contract
/// @notice The production {IModelState}: each function calls the library of the same name, so the
/// registry and market check commitments, derive initial states and verify outputs exactly as the Rust
/// machine does (see docs/STATE.md).
contract ModelStateAdapter is IModelState {
    /// @inheritdoc IModelState
    function modelId(ModelState.Commitment calldata c) external pure returns (bytes32) {
        return ModelState.modelId(c);
    }

    /// @inheritdoc IModelState
    function checkCommitment(ModelState.Commitment calldata c, bytes32[] calldata inputSiblings)
        external
        pure
    {
        ModelState.checkCommitment(c, inputSiblings);
    }

    /// @inheritdoc IModelState
    function initialState(
        ModelState.Commitment calldata c,
        bytes32[] calldata inputSiblings,
        bytes calldata input
    ) external pure returns (bytes32) {
        return ModelState.initialState(c, inputSiblings, input);
    }

    /// @inheritdoc IModelState
    function outputMatches(
        ModelState.Commitment calldata c,
        bytes32 finalState,
        uint64 steps,
        bytes calldata output,
        bytes calldata outputProof
    ) external pure returns (bool) {
        return ModelState.outputMatches(c, finalState, steps, output, outputProof);
    }
}
