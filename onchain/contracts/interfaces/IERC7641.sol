// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title ERC-7641 Intrinsic RevShare Token
/// @notice An ERC-20 whose holders claim revenue pro rata at snapshots and may burn tokens to redeem a
/// proportional share of the revenue pool.
interface IERC7641 is IERC20 {
    /// @notice ETH `account` can claim now for snapshot `snapshotId`.
    function claimableRevenue(address account, uint256 snapshotId) external view returns (uint256);

    /// @notice Claims the caller's revenue at `snapshotId`.
    function claim(uint256 snapshotId) external;

    /// @notice Snapshots balances and assigns the revenue received since the previous snapshot.
    function snapshot() external returns (uint256);

    /// @notice ETH redeemed by burning `amount` tokens now.
    function redeemableOnBurn(uint256 amount) external view returns (uint256);

    /// @notice Burns `amount` of the caller's tokens and pays out `redeemableOnBurn(amount)`.
    function burn(uint256 amount) external;
}
