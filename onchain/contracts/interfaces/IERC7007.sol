// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";

/// @title ERC-7007: verifiable AI-generated content token
/// @notice ERC-165 id 0x702c55a6 (`addAigcData.selector ^ verify.selector`). `verify` is declared here
/// rather than inherited from {IAigcVerifier} because an interface id counts only the interface's own
/// functions.
interface IERC7007 is IERC165, IERC721 {
    /// @notice AIGC data was added to token `tokenId` (on mint, and by {addAigcData}).
    event AigcData(uint256 indexed tokenId, bytes indexed prompt, bytes indexed aigcData, bytes proof);

    /// @notice Adds AIGC data to token `tokenId`, given its prompt, the data and a proof that
    /// {verify} accepts.
    function addAigcData(
        uint256 tokenId,
        bytes calldata prompt,
        bytes calldata aigcData,
        bytes calldata proof
    ) external;

    /// @notice True when `aigcData` is the proven output of the token contract's model on `prompt`.
    function verify(bytes calldata prompt, bytes calldata aigcData, bytes calldata proof)
        external
        view
        returns (bool success);
}
