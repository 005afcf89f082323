// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC7641} from "./IERC7641.sol";

/// @title A model's revenue-share token: ERC-7641, the market's deposit, and claims that cannot get stuck
/// @notice Beyond ERC-7641: every snapshot can be claimed for {claimWindow} seconds, after which anyone
/// may {expire} it to return its unclaimed remainder to the revenue of the next snapshot; and a share can
/// be claimed on behalf of its holder ({claimFor}, {claimTo}) for holders that cannot call {claim}.
interface IRevenueShare is IERC7641 {
    /// @notice Adds `msg.value` to the revenue of the model; only the market.
    function depositRevenue() external payable;

    /// @notice Seconds after a snapshot during which it can be claimed.
    function claimWindow() external view returns (uint256);

    /// @notice Claims `account`'s revenue at `snapshotId` and pays it to `account`; anyone may call.
    function claimFor(address account, uint256 snapshotId) external;

    /// @notice Claims `account`'s revenue at `snapshotId` and pays it to `to`; only `account` or
    /// `claimerOf(account)`.
    function claimTo(address account, uint256 snapshotId, address to) external;

    /// @notice Lets `claimer` call {claimTo} for the caller (replacing any earlier claimer; the zero
    /// address revokes).
    function setClaimer(address claimer) external;

    /// @notice The address `account` allowed to call {claimTo} for it (zero: none).
    function claimerOf(address account) external view returns (address);

    /// @notice After snapshot `snapshotId`'s claim deadline, returns its unclaimed revenue (rounding dust
    /// included) to the revenue waiting for the next snapshot; anyone may call, once per snapshot.
    /// @return remainder The amount returned.
    function expire(uint256 snapshotId) external returns (uint256 remainder);

    /// @notice A snapshot's claim deadline (the last second at which it can be claimed), the revenue not
    /// claimed yet (zero once expired), and whether it was expired.
    function claimStatus(uint256 snapshotId)
        external
        view
        returns (uint256 deadline, uint256 unclaimed, bool expired);
}
