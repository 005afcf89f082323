// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {PRBTest} from "@prb/test/PRBTest.sol";

/// @title Small helpers every protocol test uses (forge-std is not available here)
abstract contract TestBase is PRBTest {
    /// @dev Maps `x` into [lo, hi] (inclusive): values already inside are kept, others wrap around,
    /// so the fuzzer's edge values (0, max) land on the range's edges often.
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        require(lo <= hi, "bound: lo > hi");
        if (x >= lo && x <= hi) return x;
        uint256 width = hi - lo;
        if (width == type(uint256).max) return x;
        return lo + (x % (width + 1));
    }

    /// @dev A labelled address derived from `name`.
    function makeAddr(string memory name) internal returns (address a) {
        a = address(uint160(uint256(keccak256(abi.encodePacked("opml.test.addr", name)))));
        vm.label(a, name);
    }

    /// @dev Moves time forward by `secs` seconds and the block number by one.
    function skipTime(uint256 secs) internal {
        vm.warp(block.timestamp + secs);
        vm.roll(block.number + 1);
    }
}
