// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {VmHash} from "./VmHash.sol";
import {
    HEADER_BYTES,
    HEADER_STATUS_AT,
    HEADER_STEP_AT,
    HEADER_CODE_ROOT_AT,
    HEADER_MEMORY_SIZE_AT,
    HEADER_MEMORY_ROOT_AT,
    STATUS_HALTED,
    TAG_MEMORY_LEAF,
    TAG_MEMORY_NODE,
    TAG_STATE
} from "./generated/VmConstants.sol";

/// @title A registered model as a machine: its id, initial state and output check
/// @notice Mirrors `opml_vm::machine::model` (docs/STATE.md, "Models"). The input
/// and output regions are aligned power-of-two subtrees of the memory tree, so
/// the initial state follows from the commitment and the input bytes, and an
/// output is checked against a final state with one Merkle path.
library ModelState {
    /// @notice What a publisher commits to (as in the artifact manifest).
    struct Commitment {
        /// Root of the lowered code tree.
        bytes32 codeRoot;
        /// Memory root of the initial image with an all-zero input region.
        bytes32 memoryRoot;
        /// Memory size in bytes.
        uint64 memorySize;
        /// Root of the initial globals.
        bytes32 globalsRoot;
        /// First instruction of the entry function `run`.
        uint32 entryPc;
        /// Locals of `run`.
        uint32 entryLocals;
        /// Input region: byte offset (a multiple of its size).
        uint32 inputOffset;
        /// Input region: size in bytes (a power of two, at least 32).
        uint64 inputSize;
        /// Output region: byte offset (a multiple of its size).
        uint32 outputOffset;
        /// Output region: size in bytes (a power of two, at least 32).
        uint64 outputSize;
    }

    /// @notice A region is not an aligned power-of-two subtree of at least one leaf inside memory.
    error BadRegion(uint256 offset, uint256 size, uint256 memorySize);
    /// @notice The input siblings do not lead from a zero input region to the memory root.
    error BadInputSiblings();
    /// @notice The input is longer than the model's input region.
    error InputTooLong(uint256 length, uint256 maximum);

    /// @notice The model id, equal to the Rust `artifact::model_id`.
    function modelId(Commitment memory c) internal pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                bytes1(0x00),
                "opml.model.v1",
                c.codeRoot,
                c.memoryRoot,
                c.memorySize,
                c.globalsRoot,
                c.entryPc,
                c.entryLocals,
                c.inputOffset,
                c.inputSize,
                c.outputOffset,
                c.outputSize
            )
        );
    }

    /// @notice Reverts unless both regions are aligned powers of two of at
    /// least 32 bytes inside memory and `inputSiblings` lead from an all-zero
    /// input region to `c.memoryRoot`.
    function checkCommitment(Commitment memory c, bytes32[] memory inputSiblings) internal pure {
        _checkRegion(c.inputOffset, c.inputSize, c.memorySize);
        _checkRegion(c.outputOffset, c.outputSize, c.memorySize);
        uint256 level = VmHash.depthFor(c.inputSize / 32);
        if (level + inputSiblings.length != VmHash.depthFor((uint256(c.memorySize) + 31) / 32)) {
            revert BadInputSiblings();
        }
        bytes32 zero = VmHash.emptyRoot(TAG_MEMORY_LEAF, TAG_MEMORY_NODE, level);
        bytes32 root = VmHash.rootFromNode(TAG_MEMORY_NODE, c.inputOffset / c.inputSize, zero, inputSiblings);
        if (root != c.memoryRoot) revert BadInputSiblings();
    }

    function _checkRegion(uint256 offset, uint256 size, uint256 memorySize) private pure {
        if (size < 32 || size & (size - 1) != 0 || offset % size != 0 || offset + size > memorySize) {
            revert BadRegion(offset, size, memorySize);
        }
    }

    /// @notice The initial state hash for `input` (zero padded to the input region).
    /// @dev One keccak per 32 input bytes and per inner node of the region.
    function initialState(Commitment memory c, bytes32[] memory inputSiblings, bytes calldata input)
        internal
        pure
        returns (bytes32)
    {
        if (input.length > c.inputSize) revert InputTooLong(input.length, c.inputSize);
        bytes32 region = regionRoot(input, c.inputSize);
        bytes32 memoryRoot =
            VmHash.rootFromNode(TAG_MEMORY_NODE, c.inputOffset / c.inputSize, region, inputSiblings);
        bytes32 frames =
            VmHash.frameEntry(0, c.entryLocals, VmHash.emptyLocalsRoot(c.entryLocals), bytes32(0));
        return keccak256(
            abi.encodePacked(
                TAG_STATE,
                uint8(0), // running
                c.entryPc,
                uint64(0), // step
                c.codeRoot,
                c.memorySize,
                memoryRoot,
                c.globalsRoot,
                bytes32(0), // empty value stack
                frames,
                uint32(1), // frame depth
                uint32(0) // stack depth
            )
        );
    }

    /// @notice Root of a memory region of `size` bytes (a power of two >= 32)
    /// holding `data` followed by zeros.
    function regionRoot(bytes calldata data, uint256 size) internal pure returns (bytes32 root) {
        uint256 leaves = size / 32;
        bytes32[] memory level = new bytes32[](leaves);
        for (uint256 i = 0; i < leaves; i++) {
            bytes32 chunk;
            uint256 start = 32 * i;
            if (start < data.length) {
                assembly ("memory-safe") {
                    chunk := calldataload(add(data.offset, start))
                }
                uint256 valid = data.length - start;
                if (valid < 32) chunk &= bytes32(~(type(uint256).max >> (8 * valid)));
            }
            level[i] = VmHash.leaf(TAG_MEMORY_LEAF, chunk);
        }
        for (uint256 n = leaves; n > 1; n /= 2) {
            for (uint256 i = 0; i < n / 2; i++) {
                level[i] = VmHash.node(TAG_MEMORY_NODE, level[2 * i], level[2 * i + 1]);
            }
        }
        return level[0];
    }

    /// @notice True when `outputProof` = state header (189 bytes) || output
    /// region siblings (32 bytes each, bottom up) shows that `finalState` is
    /// halted at step `steps` with the model's code and memory size, and that
    /// its output region holds exactly `output`.
    function outputMatches(
        Commitment memory c,
        bytes32 finalState,
        uint64 steps,
        bytes calldata output,
        bytes calldata outputProof
    ) internal pure returns (bool) {
        if (output.length != c.outputSize || outputProof.length < HEADER_BYTES) {
            return false;
        }
        if ((outputProof.length - HEADER_BYTES) % 32 != 0) return false;
        (bool ok, bytes32 memoryRoot) = _finalHeader(c, finalState, steps, outputProof[:HEADER_BYTES]);
        if (!ok) return false;
        return _outputInMemory(c, output, _words(outputProof[HEADER_BYTES:]), memoryRoot);
    }

    /// @dev Whether the output region holding `output` reaches `memoryRoot` through `siblings`.
    function _outputInMemory(
        Commitment memory c,
        bytes calldata output,
        bytes32[] memory siblings,
        bytes32 memoryRoot
    ) private pure returns (bool) {
        uint256 memoryDepth = VmHash.depthFor((uint256(c.memorySize) + 31) / 32);
        if (VmHash.depthFor(c.outputSize / 32) + siblings.length != memoryDepth) return false;
        bytes32 region = regionRoot(output, c.outputSize);
        return
            VmHash.rootFromNode(TAG_MEMORY_NODE, c.outputOffset / c.outputSize, region, siblings)
                == memoryRoot;
    }

    /// @dev Whether `header` is `finalState`, halted at `steps` with the model's
    /// code and memory size; and its memory root.
    function _finalHeader(Commitment memory c, bytes32 finalState, uint64 steps, bytes calldata header)
        private
        pure
        returns (bool, bytes32)
    {
        bool ok = VmHash.headerHash(header) == finalState && uint8(header[HEADER_STATUS_AT]) == STATUS_HALTED
            && uint64(bytes8(header[HEADER_STEP_AT:HEADER_STEP_AT + 8])) == steps
            && bytes32(header[HEADER_CODE_ROOT_AT:HEADER_CODE_ROOT_AT + 32]) == c.codeRoot
            && uint64(bytes8(header[HEADER_MEMORY_SIZE_AT:HEADER_MEMORY_SIZE_AT + 8])) == c.memorySize;
        return (ok, bytes32(header[HEADER_MEMORY_ROOT_AT:HEADER_MEMORY_ROOT_AT + 32]));
    }

    /// @dev Calldata of whole 32-byte words as an array.
    function _words(bytes calldata data) private pure returns (bytes32[] memory words) {
        words = new bytes32[](data.length / 32);
        for (uint256 k = 0; k < words.length; k++) {
            words[k] = bytes32(data[32 * k:32 * k + 32]);
        }
    }
}
