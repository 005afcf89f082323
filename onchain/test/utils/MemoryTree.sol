// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// Whole memory trees built in Solidity for tests, independent of the contracts
/// under test (docs/STATE.md: leaf = keccak(0x01 || 32 bytes), node = keccak(0x02 || l || r)).
library MemoryTree {
    /// Every level of the tree of `image` (32-byte leaves, a power of two of them), leaves first.
    function tree(bytes memory image) internal pure returns (bytes32[][] memory levels) {
        uint256 n = image.length / 32;
        uint256 depth;
        while ((uint256(1) << depth) < n) ++depth;
        levels = new bytes32[][](depth + 1);
        levels[0] = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            bytes32 w;
            assembly {
                w := mload(add(add(image, 32), mul(i, 32)))
            }
            levels[0][i] = keccak256(abi.encodePacked(bytes1(0x01), w));
        }
        for (uint256 d = 1; d <= depth; ++d) {
            uint256 m = levels[d - 1].length / 2;
            levels[d] = new bytes32[](m);
            for (uint256 i = 0; i < m; ++i) {
                levels[d][i] =
                    keccak256(abi.encodePacked(bytes1(0x02), levels[d - 1][2 * i], levels[d - 1][2 * i + 1]));
            }
        }
    }

    /// The siblings, bottom up, of node `index` at `level`.
    function siblings(bytes32[][] memory levels, uint256 level, uint256 index)
        internal
        pure
        returns (bytes32[] memory s)
    {
        s = new bytes32[](levels.length - 1 - level);
        for (uint256 i = 0; i < s.length; ++i) {
            s[i] = levels[level + i][(index >> i) ^ 1];
        }
    }
}
