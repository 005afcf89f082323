// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAigcVerifier} from "./interfaces/IAigcVerifier.sol";
import {InferenceMarket} from "./InferenceMarket.sol";

/// @title ERC-7007 verifier backed by settled opML results
/// @notice Answers ERC-7007's `verify(prompt, aigcData, proof)` for one model: true exactly when
/// `proof` names a request of that model whose input is `prompt` and whose finalized (challenge window
/// passed, every dispute won by the submitter) output is `aigcData`. A pending, voided, refunded or
/// unknown request, another model's request, or a malformed proof gives false; it never reverts.
contract AigcAdapter is IAigcVerifier {
    /// @notice The market whose settled results count.
    InferenceMarket public immutable market;
    /// @notice The model whose results this adapter accepts.
    bytes32 public immutable modelId;

    /// @param market_ The market.
    /// @param modelId_ The model.
    constructor(InferenceMarket market_, bytes32 modelId_) {
        market = market_;
        modelId = modelId_;
    }

    /// @inheritdoc IAigcVerifier
    /// @param proof `abi.encode(uint256 requestId)` (see {proofFor}).
    function verify(bytes calldata prompt, bytes calldata aigcData, bytes calldata proof)
        external
        view
        returns (bool success)
    {
        if (proof.length != 32) return false;
        uint256 requestId = abi.decode(proof, (uint256));
        (bool finalized, bytes32 model, bytes32 inputHash, bytes32 outputHash) = market.result(requestId);
        return
            finalized && model == modelId && inputHash == keccak256(prompt)
                && outputHash == keccak256(aigcData);
    }

    /// @notice The `proof` argument of {verify} for a request.
    function proofFor(uint256 requestId) external pure returns (bytes memory) {
        return abi.encode(requestId);
    }
}
