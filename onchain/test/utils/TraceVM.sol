// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IOneStepVerifier} from "../../contracts/interfaces/IOneStepVerifier.sol";

/// @title A one-step verifier whose traces are trivial to compute (in the spirit of Optimism's AlphabetVM)
/// @notice State i of the run with seed `seed` halting at step `halt` is
/// `keccak256(abi.encode(seed, i, halt))` for i <= halt; the halted state (i = halt) is a fixed point,
/// like the opML machine's. A proof reveals the preimage `abi.encode(seed, i, halt)`.
contract TraceVM is IOneStepVerifier {
    /// @notice The proof does not open the pre-state.
    error BadProof();

    /// @notice State `i` of a run (`i` beyond `halt` is the halted state).
    function stateHash(bytes32 seed, uint64 i, uint64 halt) public pure returns (bytes32) {
        return keccak256(abi.encode(seed, i < halt ? i : halt, halt));
    }

    /// @inheritdoc IOneStepVerifier
    function step(bytes32 preState, bytes calldata proof) external pure returns (bytes32) {
        if (proof.length != 96) revert BadProof();
        (bytes32 seed, uint64 i, uint64 halt) = abi.decode(proof, (bytes32, uint64, uint64));
        if (i > halt || keccak256(abi.encode(seed, i, halt)) != preState) revert BadProof();
        return i < halt ? keccak256(abi.encode(seed, i + 1, halt)) : preState;
    }
}
