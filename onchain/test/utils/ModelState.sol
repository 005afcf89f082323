// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title TEMPORARY stand-in for onchain/contracts/vm/ModelState.sol (being written on `main`)
/// @notice Same API as the library announced for main, implemented from docs/STATE.md so the protocol
/// contracts compile and the adapter can be exercised. Delete this file after merging main.
library ModelState {
    struct Commitment {
        bytes32 codeRoot;
        bytes32 memoryRoot;
        uint64 memorySize;
        bytes32 globalsRoot;
        uint32 entryPc;
        uint32 entryLocals;
        uint32 inputOffset;
        uint64 inputSize;
        uint32 outputOffset;
        uint64 outputSize;
    }

    error RegionInvalid(uint64 offset, uint64 size, uint64 memorySize);
    error InputSiblingsMismatch();
    error InputTooLong(uint256 length, uint64 size);

    uint256 private constant HEADER_LEN = 185;

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

    function checkCommitment(Commitment memory c, bytes32[] memory inputSiblings) internal pure {
        uint256 depth = _checkRegion(c, c.inputOffset, c.inputSize);
        _checkRegion(c, c.outputOffset, c.outputSize);
        if (inputSiblings.length != depth) revert InputSiblingsMismatch();
        bytes32 zeroRegion = _zero(_log2(c.inputSize / 32));
        if (_up(zeroRegion, c.inputOffset / c.inputSize, inputSiblings) != c.memoryRoot) {
            revert InputSiblingsMismatch();
        }
    }

    function initialState(Commitment memory c, bytes32[] memory inputSiblings, bytes calldata input)
        internal
        pure
        returns (bytes32)
    {
        if (input.length > c.inputSize) revert InputTooLong(input.length, c.inputSize);
        bytes32 region = _regionRoot(input, c.inputSize);
        bytes32 memRoot = _up(region, c.inputOffset / c.inputSize, inputSiblings);
        bytes32 locals = _tree(0x07, 0x08, c.entryLocals);
        bytes32 frame =
            keccak256(abi.encodePacked(bytes1(0x06), uint256(0), uint256(c.entryLocals), locals, bytes32(0)));
        return keccak256(
            abi.encodePacked(
                bytes1(0x0b),
                uint8(0),
                c.entryPc,
                uint64(0),
                c.codeRoot,
                c.memorySize,
                memRoot,
                c.globalsRoot,
                bytes32(0),
                frame,
                uint32(1)
            )
        );
    }

    function outputMatches(
        Commitment memory c,
        bytes32 finalState,
        uint64 steps,
        bytes calldata output,
        bytes calldata outputProof
    ) internal pure returns (bool) {
        if (output.length != c.outputSize || outputProof.length < HEADER_LEN) {
            return false;
        }
        if ((outputProof.length - HEADER_LEN) % 32 != 0) return false;
        (bool ok, bytes32 memRoot) = _header(c, finalState, steps, outputProof[:HEADER_LEN]);
        if (!ok) return false;
        bytes32[] memory siblings = _words(outputProof[HEADER_LEN:]);
        return _up(_regionRoot(output, c.outputSize), c.outputOffset / c.outputSize, siblings) == memRoot;
    }

    function _header(Commitment memory c, bytes32 finalState, uint64 steps, bytes calldata header)
        private
        pure
        returns (bool ok, bytes32 memRoot)
    {
        ok = keccak256(abi.encodePacked(bytes1(0x0b), header)) == finalState && uint8(header[0]) == 1
            && uint64(bytes8(header[5:13])) == steps && bytes32(header[13:45]) == c.codeRoot
            && uint64(bytes8(header[45:53])) == c.memorySize;
        memRoot = bytes32(header[53:85]);
    }

    function _words(bytes calldata data) private pure returns (bytes32[] memory w) {
        w = new bytes32[](data.length / 32);
        for (uint256 i = 0; i < w.length; ++i) {
            w[i] = bytes32(data[32 * i:32 * i + 32]);
        }
    }

    function _checkRegion(Commitment memory c, uint64 offset, uint64 size) private pure returns (uint256) {
        if (
            size < 32 || size & (size - 1) != 0 || offset % size != 0 || uint256(offset) + size > c.memorySize
        ) {
            revert RegionInvalid(offset, size, c.memorySize);
        }
        return _depth(c.memorySize / 32) - _log2(size / 32);
    }

    function _regionRoot(bytes calldata data, uint64 size) private pure returns (bytes32) {
        uint256 leaves = size / 32;
        bytes32[] memory level = new bytes32[](leaves);
        for (uint256 i = 0; i < leaves; ++i) {
            bytes32 word;
            uint256 start = 32 * i;
            if (start < data.length) {
                uint256 end = start + 32 > data.length ? data.length : start + 32;
                bytes memory chunk = new bytes(32);
                for (uint256 j = start; j < end; ++j) {
                    chunk[j - start] = data[j];
                }
                word = bytes32(chunk);
            }
            level[i] = keccak256(abi.encodePacked(bytes1(0x01), word));
        }
        while (leaves > 1) {
            leaves /= 2;
            for (uint256 i = 0; i < leaves; ++i) {
                level[i] = keccak256(abi.encodePacked(bytes1(0x02), level[2 * i], level[2 * i + 1]));
            }
        }
        return level[0];
    }

    function _up(bytes32 node, uint256 index, bytes32[] memory siblings) private pure returns (bytes32) {
        for (uint256 i = 0; i < siblings.length; ++i) {
            node = (index >> i) & 1 == 0
                ? keccak256(abi.encodePacked(bytes1(0x02), node, siblings[i]))
                : keccak256(abi.encodePacked(bytes1(0x02), siblings[i], node));
        }
        return node;
    }

    function _zero(uint256 depth) private pure returns (bytes32 h) {
        h = keccak256(abi.encodePacked(bytes1(0x01), bytes32(0)));
        for (uint256 i = 0; i < depth; ++i) {
            h = keccak256(abi.encodePacked(bytes1(0x02), h, h));
        }
    }

    function _tree(bytes1 leafTag, bytes1 nodeTag, uint256 leaves) private pure returns (bytes32 h) {
        h = keccak256(abi.encodePacked(leafTag, bytes32(0)));
        uint256 depth = _depth(leaves);
        for (uint256 i = 0; i < depth; ++i) {
            h = keccak256(abi.encodePacked(nodeTag, h, h));
        }
    }

    function _depth(uint256 leaves) private pure returns (uint256 d) {
        while ((uint256(1) << d) < leaves) ++d;
    }

    function _log2(uint256 x) private pure returns (uint256 r) {
        while (x > 1) {
            x >>= 1;
            ++r;
        }
    }
}
