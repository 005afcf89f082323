// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC7641} from "./IERC7641.sol";

/// @title A model's revenue-share token as the market sees it
interface IRevenueShare is IERC7641 {
    /// @notice Adds `msg.value` to the revenue of the model; only the market.
    function depositRevenue() external payable;
}
