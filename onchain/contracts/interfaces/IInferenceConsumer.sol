// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title A contract that receives finalized opML results from {InferenceOracle}
interface IInferenceConsumer {
    /// @notice Called once per request, by the oracle only, with exactly the gas limit the request paid
    /// for, after the market finalized the request. A revert or out-of-gas here is recorded by the oracle
    /// and changes nothing else: the result stays readable on the market, the delivery is not retried.
    /// @param requestId The market's request id (also the oracle's).
    /// @param output The finalized output bytes (their keccak256 is the market's output hash).
    function onInferenceResult(uint256 requestId, bytes calldata output) external;
}
