// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title Cheatcodes newer than PRBTest's Vm interface (same cheatcode address)
interface VmExtra {
    /// @notice Whether `key` exists in the JSON string `json`.
    function keyExistsJson(string calldata json, string calldata key) external view returns (bool);
}
