// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title The verification half of ERC-7007 (AI-generated content)
interface IAigcVerifier {
    /// @notice True when `aigcData` is the proven output of the model on `prompt`.
    /// @param prompt The model input.
    /// @param aigcData The model output.
    /// @param proof Scheme-specific evidence (for opML: the request id).
    function verify(bytes calldata prompt, bytes calldata aigcData, bytes calldata proof)
        external
        view
        returns (bool success);
}
