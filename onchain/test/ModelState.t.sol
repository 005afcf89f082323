// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {PRBTest} from "@prb/test/PRBTest.sol";
import {ModelState} from "../contracts/vm/ModelState.sol";

/// Exposes the library with calldata arguments, as the market calls it.
contract ModelStateHarness {
    function modelId(ModelState.Commitment memory c) external pure returns (bytes32) {
        return ModelState.modelId(c);
    }

    function checkCommitment(ModelState.Commitment memory c, bytes32[] memory siblings) external pure {
        ModelState.checkCommitment(c, siblings);
    }

    function initialState(ModelState.Commitment memory c, bytes32[] memory siblings, bytes calldata input)
        external
        pure
        returns (bytes32)
    {
        return ModelState.initialState(c, siblings, input);
    }

    function outputMatches(
        ModelState.Commitment memory c,
        bytes32 finalState,
        uint64 steps,
        bytes calldata output,
        bytes calldata proof
    ) external pure returns (bool) {
        return ModelState.outputMatches(c, finalState, steps, output, proof);
    }
}

/// Checks the library against a real fixture's vectors written by Rust
/// (vm/tests/chain_vectors.rs).
contract ModelStateTest is PRBTest {
    ModelStateHarness internal lib;
    string internal json;
    ModelState.Commitment internal c;
    bytes32[] internal siblings;

    function setUp() public {
        lib = new ModelStateHarness();
        json = vm.readFile("test/vectors/model.json");
        c = ModelState.Commitment({
            codeRoot: vm.parseJsonBytes32(json, ".codeRoot"),
            memoryRoot: vm.parseJsonBytes32(json, ".memoryRoot"),
            memorySize: uint64(vm.parseJsonUint(json, ".memorySize")),
            globalsRoot: vm.parseJsonBytes32(json, ".globalsRoot"),
            entryPc: uint32(vm.parseJsonUint(json, ".entryPc")),
            entryLocals: uint32(vm.parseJsonUint(json, ".entryLocals")),
            inputOffset: uint32(vm.parseJsonUint(json, ".inputOffset")),
            inputSize: uint64(vm.parseJsonUint(json, ".inputSize")),
            outputOffset: uint32(vm.parseJsonUint(json, ".outputOffset")),
            outputSize: uint64(vm.parseJsonUint(json, ".outputSize"))
        });
        bytes32[] memory s = vm.parseJsonBytes32Array(json, ".inputSiblings");
        for (uint256 i = 0; i < s.length; i++) {
            siblings.push(s[i]);
        }
    }

    function _steps() internal view returns (uint64) {
        return uint64(vm.parseJsonUint(json, ".steps"));
    }

    function test_modelIdMatchesRust() public {
        assertEq(lib.modelId(c), vm.parseJsonBytes32(json, ".modelId"));
    }

    function test_initialStateMatchesRust() public {
        lib.checkCommitment(c, siblings);
        bytes memory input = vm.parseJsonBytes(json, ".input");
        assertEq(lib.initialState(c, siblings, input), vm.parseJsonBytes32(json, ".initialState"));
    }

    function test_shortInputIsZeroPadded() public {
        bytes memory input = vm.parseJsonBytes(json, ".input");
        bytes memory trimmed = new bytes(input.length - 1);
        for (uint256 i = 0; i < trimmed.length; i++) {
            trimmed[i] = input[i];
        }
        bytes32 expected = lib.initialState(c, siblings, input);
        if (input[input.length - 1] == 0) assertEq(lib.initialState(c, siblings, trimmed), expected);
        else assertNotEq(lib.initialState(c, siblings, trimmed), expected);
    }

    function test_outputMatchesRust() public {
        bytes32 fin = vm.parseJsonBytes32(json, ".finalState");
        bytes memory output = vm.parseJsonBytes(json, ".output");
        bytes memory proof = vm.parseJsonBytes(json, ".outputProof");
        assertTrue(lib.outputMatches(c, fin, _steps(), output, proof));
        // a different output, step count, state or sibling is rejected
        output[0] ^= 0x01;
        assertFalse(lib.outputMatches(c, fin, _steps(), output, proof));
        output[0] ^= 0x01;
        assertFalse(lib.outputMatches(c, fin, _steps() + 1, output, proof));
        assertFalse(lib.outputMatches(c, bytes32(uint256(fin) ^ 1), _steps(), output, proof));
        proof[proof.length - 1] ^= 0x01;
        assertFalse(lib.outputMatches(c, fin, _steps(), output, proof));
    }

    function test_outputOfWrongLengthIsRejected() public {
        bytes32 fin = vm.parseJsonBytes32(json, ".finalState");
        bytes memory output = vm.parseJsonBytes(json, ".output");
        bytes memory proof = vm.parseJsonBytes(json, ".outputProof");
        assertFalse(lib.outputMatches(c, fin, _steps(), bytes.concat(output, hex"00"), proof));
        assertFalse(lib.outputMatches(c, fin, _steps(), output, bytes.concat(proof, hex"00")));
        assertFalse(lib.outputMatches(c, fin, _steps(), output, new bytes(100)));
    }

    function test_RevertWhen_InputIsTooLong() public {
        bytes memory input = new bytes(c.inputSize + 1);
        vm.expectRevert(abi.encodeWithSelector(ModelState.InputTooLong.selector, input.length, c.inputSize));
        lib.initialState(c, siblings, input);
    }

    function test_RevertWhen_InputSiblingsAreWrong() public {
        bytes32[] memory s = siblings;
        s[0] ^= bytes32(uint256(1));
        vm.expectRevert(ModelState.BadInputSiblings.selector);
        lib.checkCommitment(c, s);
        bytes32[] memory short = new bytes32[](siblings.length - 1);
        vm.expectRevert(ModelState.BadInputSiblings.selector);
        lib.checkCommitment(c, short);
    }

    function testFuzz_RevertWhen_RegionIsMisaligned(uint32 offset, uint64 size) public {
        vm.assume(size < 32 || size & (size - 1) != 0 || offset % size != 0);
        ModelState.Commitment memory bad = c;
        bad.inputOffset = offset;
        bad.inputSize = size;
        vm.expectRevert(abi.encodeWithSelector(ModelState.BadRegion.selector, offset, size, c.memorySize));
        lib.checkCommitment(bad, siblings);
    }

    function testFuzz_RevertWhen_RegionIsOutsideMemory(uint8 log2Size) public {
        uint64 size = uint64(1) << (5 + (log2Size % 20));
        ModelState.Commitment memory bad = c;
        bad.outputSize = size;
        // forge-lint: disable-next-line(unsafe-typecast) overflow is excluded by the assume below
        bad.outputOffset = uint32((c.memorySize / size + 1) * size);
        vm.assume(bad.outputOffset == (c.memorySize / size + 1) * size); // no uint32 overflow
        vm.expectRevert(
            abi.encodeWithSelector(ModelState.BadRegion.selector, bad.outputOffset, size, c.memorySize)
        );
        lib.checkCommitment(bad, siblings);
    }
}
