// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {
    TAG_FRAME,
    TAG_STACK,
    TAG_STATE,
    TAG_LOCALS_LEAF,
    TAG_LOCALS_NODE,
    HEADER_BYTES
} from "./generated/VmConstants.sol";

/// @title Commitments of the opML machine state
/// @notice Every hash is keccak256(tag || data) with a one-byte domain tag
/// (docs/STATE.md). These helpers hash in scratch memory past the free memory
/// pointer, which they never move, so a Merkle path costs one keccak per level
/// and no allocation.
library VmHash {
    /// @notice keccak256(tag || data): a leaf of a code, memory, locals or globals tree.
    function leaf(uint8 tag, bytes32 data) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, tag)
            mstore(add(p, 1), data)
            h := keccak256(p, 33)
        }
    }

    /// @notice keccak256(tag || left || right): an inner node, or a stack entry (value, below).
    function node(uint8 tag, bytes32 left, bytes32 right) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, tag)
            mstore(add(p, 1), left)
            mstore(add(p, 33), right)
            h := keccak256(p, 65)
        }
    }

    /// @notice A value-stack entry: the value (a 64-bit word) on top of the chain `below`.
    function stackEntry(uint256 value, bytes32 below) internal pure returns (bytes32) {
        return node(TAG_STACK, bytes32(value), below);
    }

    /// @notice A call frame on top of the frame chain `below`.
    function frameEntry(uint256 ret, uint256 count, bytes32 localsRoot, bytes32 below)
        internal
        pure
        returns (bytes32 h)
    {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, TAG_FRAME)
            mstore(add(p, 1), ret)
            mstore(add(p, 33), count)
            mstore(add(p, 65), localsRoot)
            mstore(add(p, 97), below)
            h := keccak256(p, 129)
        }
    }

    /// @notice Depth of a complete binary tree with `n` leaves: ceil(log2(max(n, 1))).
    function depthFor(uint256 n) internal pure returns (uint256 d) {
        if (n <= 1) return 0;
        uint256 x = n - 1;
        // bit length of n - 1
        while (x != 0) {
            x >>= 1;
            d++;
        }
    }

    /// @notice Root of an all-zero tree of the given depth.
    function emptyRoot(uint8 leafTag, uint8 nodeTag, uint256 depth) internal pure returns (bytes32 h) {
        h = leaf(leafTag, bytes32(0));
        for (uint256 k = 0; k < depth; k++) {
            h = node(nodeTag, h, h);
        }
    }

    /// @notice Root of the zeroed locals of a new frame with `count` locals.
    function emptyLocalsRoot(uint256 count) internal pure returns (bytes32) {
        return emptyRoot(TAG_LOCALS_LEAF, TAG_LOCALS_NODE, depthFor(count));
    }

    /// @notice Root reached from the leaf `data` at `index` through a path of
    /// `len` siblings (bottom up) stored in calldata at absolute offset `path`.
    function rootFromCalldata(
        uint8 leafTag,
        uint8 nodeTag,
        uint256 index,
        bytes32 data,
        uint256 path,
        uint256 len
    ) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, leafTag)
            mstore(add(p, 1), data)
            h := keccak256(p, 33)
            mstore8(p, nodeTag)
            for { let k := 0 } lt(k, len) { k := add(k, 1) } {
                let sib := calldataload(add(path, mul(k, 32)))
                switch and(shr(k, index), 1)
                case 0 {
                    mstore(add(p, 1), h)
                    mstore(add(p, 33), sib)
                }
                default {
                    mstore(add(p, 1), sib)
                    mstore(add(p, 33), h)
                }
                h := keccak256(p, 65)
            }
        }
    }

    /// @notice Root reached from the subtree root `h` at position `index` of its
    /// level through `siblings` (bottom up, in memory).
    function rootFromNode(uint8 nodeTag, uint256 index, bytes32 h, bytes32[] memory siblings)
        internal
        pure
        returns (bytes32)
    {
        for (uint256 k = 0; k < siblings.length; k++) {
            h = (index >> k) & 1 == 0 ? node(nodeTag, h, siblings[k]) : node(nodeTag, siblings[k], h);
        }
        return h;
    }

    /// @notice The state hash of an encoded 189-byte header in calldata.
    function headerHash(bytes calldata header) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, TAG_STATE)
            calldatacopy(add(p, 1), header.offset, HEADER_BYTES)
            h := keccak256(p, add(HEADER_BYTES, 1))
        }
    }
}
