// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ModelState} from "../../contracts/vm/ModelState.sol";
import {IModelState} from "../../contracts/interfaces/IModelState.sol";
import {TraceVM} from "./TraceVM.sol";

/// @title Commitments for the {TraceVM} test machine
/// @notice A model's run on `input` is the TraceVM trace with seed
/// `keccak256(abi.encode(codeRoot, keccak256(input)))` halting at step `uint64(globalsRoot)`; its output is
/// the 32-byte word `keccak256(abi.encode("out", seed))`, and an output proof is `abi.encode(seed)`.
/// So tests can post honest claims, claims with another output, and claims with a wrong step count.
contract TraceModelState is IModelState {
    /// @notice Rejected commitment (input size 0 or output size not 32).
    error BadCommitment();
    /// @notice The input is longer than the input region.
    error InputTooLong(uint256 length, uint64 size);

    TraceVM public immutable traceVm;

    constructor(TraceVM traceVm_) {
        traceVm = traceVm_;
    }

    /// @notice The halting step of a model's runs.
    function haltOf(ModelState.Commitment calldata c) public pure returns (uint64) {
        return uint64(uint256(c.globalsRoot));
    }

    /// @notice The seed of a run.
    function seedOf(ModelState.Commitment calldata c, bytes calldata input) public pure returns (bytes32) {
        return keccak256(abi.encode(c.codeRoot, keccak256(input)));
    }

    /// @notice The output of a run with `seed`.
    function outputOf(bytes32 seed) public pure returns (bytes memory) {
        return abi.encode(keccak256(abi.encode("out", seed)));
    }

    /// @inheritdoc IModelState
    function modelId(ModelState.Commitment calldata c) external pure returns (bytes32) {
        return keccak256(abi.encode(c));
    }

    /// @inheritdoc IModelState
    function checkCommitment(ModelState.Commitment calldata c, bytes32[] calldata) external pure {
        if (c.inputSize == 0 || c.outputSize != 32) revert BadCommitment();
    }

    /// @inheritdoc IModelState
    function initialState(ModelState.Commitment calldata c, bytes32[] calldata, bytes calldata input)
        external
        view
        returns (bytes32)
    {
        if (input.length > c.inputSize) revert InputTooLong(input.length, c.inputSize);
        return traceVm.stateHash(seedOf(c, input), 0, haltOf(c));
    }

    /// @inheritdoc IModelState
    function outputMatches(
        ModelState.Commitment calldata,
        bytes32 finalState,
        uint64 steps,
        bytes calldata output,
        bytes calldata outputProof
    ) external view returns (bool) {
        if (outputProof.length != 32) return false;
        bytes32 seed = abi.decode(outputProof, (bytes32));
        return
            finalState == traceVm.stateHash(seed, steps, steps)
                && keccak256(output) == keccak256(outputOf(seed));
    }
}
