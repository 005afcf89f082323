// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {TestBase} from "./utils/TestBase.sol";
import {ModelState} from "../contracts/vm/ModelState.sol";
import {ModelStateAdapter} from "../contracts/ModelStateAdapter.sol";
import {MemoryTree} from "./utils/MemoryTree.sol";

/// @notice The production IModelState against memory trees built here from docs/STATE.md: input region
/// siblings, zero padding of inputs, and output proofs (state header + output region siblings).
contract ModelStateAdapterTest is TestBase {
    uint64 internal constant MEM = 4096; // 128 leaves, depth 7
    uint32 internal constant IN_OFF = 0;
    uint64 internal constant IN_SIZE = 256; // 8 leaves: 4 siblings
    uint32 internal constant OUT_OFF = 1024;
    uint64 internal constant OUT_SIZE = 64; // 2 leaves: 6 siblings

    ModelStateAdapter internal adapter;
    ModelState.Commitment internal c;
    bytes32[] internal inputSiblings;

    function setUp() public {
        adapter = new ModelStateAdapter();
        bytes memory image = new bytes(MEM);
        image[2048] = 0x2a; // some initialized data outside the IO regions
        image[4095] = 0x07;
        bytes32[][] memory levels = MemoryTree.tree(image);
        c = ModelState.Commitment({
            codeRoot: keccak256("code"),
            memoryRoot: levels[7][0],
            memorySize: MEM,
            globalsRoot: keccak256("globals"),
            entryPc: 5,
            entryLocals: 3,
            inputOffset: IN_OFF,
            inputSize: IN_SIZE,
            outputOffset: OUT_OFF,
            outputSize: OUT_SIZE
        });
        inputSiblings = MemoryTree.siblings(levels, 3, IN_OFF / IN_SIZE);
    }

    function header(uint8 status, uint64 steps, bytes32 memRoot) internal view returns (bytes memory) {
        return abi.encodePacked(
            status,
            uint32(0),
            steps,
            c.codeRoot,
            c.memorySize,
            memRoot,
            c.globalsRoot,
            keccak256("values"),
            keccak256("frames"),
            uint32(0),
            uint32(0)
        );
    }

    /// A halted final state whose output region holds `output`, and its output proof.
    function finalStateWith(bytes memory output, uint64 steps, uint8 status)
        internal
        returns (bytes32 state, bytes memory proof)
    {
        bytes memory image = new bytes(MEM);
        image[7] = 0x55; // the input and other memory changed during the run
        for (uint256 i = 0; i < output.length; ++i) {
            image[OUT_OFF + i] = output[i];
        }
        bytes32[][] memory levels = MemoryTree.tree(image);
        bytes memory h = header(status, steps, levels[7][0]);
        assertEq(h.length, 189);
        state = keccak256(abi.encodePacked(bytes1(0x0b), h));
        proof = abi.encodePacked(h, MemoryTree.siblings(levels, 1, OUT_OFF / OUT_SIZE));
    }

    function output64(bytes32 seed) internal pure returns (bytes memory) {
        return abi.encodePacked(keccak256(abi.encode(seed, 0)), keccak256(abi.encode(seed, 1)));
    }

    // ---------------------------------------------------------------------------------------------
    // tests
    // ---------------------------------------------------------------------------------------------

    function test_modelId_isDomainSeparatedEncoding() public {
        bytes32 expected = keccak256(
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
        assertEq(adapter.modelId(c), expected);
    }

    function test_checkCommitment_acceptsConsistentSiblings() public view {
        adapter.checkCommitment(c, inputSiblings);
    }

    function test_checkCommitment_rejectsWrongSiblings() public {
        bytes32[] memory bad = inputSiblings;
        bad[2] = keccak256("tampered");
        vm.expectRevert();
        adapter.checkCommitment(c, bad);
        vm.expectRevert();
        adapter.checkCommitment(c, new bytes32[](3));
    }

    function test_checkCommitment_rejectsMisalignedRegions() public {
        ModelState.Commitment memory m = c;
        m.outputOffset = OUT_OFF + 32; // not aligned to its size
        vm.expectRevert();
        adapter.checkCommitment(m, inputSiblings);
        m = c;
        m.inputSize = 96; // not a power of two
        vm.expectRevert();
        adapter.checkCommitment(m, inputSiblings);
        m = c;
        m.outputOffset = 4096; // outside memory
        vm.expectRevert();
        adapter.checkCommitment(m, inputSiblings);
    }

    function test_initialState_zeroPadsTheInput() public {
        bytes32 empty = adapter.initialState(c, inputSiblings, "");
        assertEq(adapter.initialState(c, inputSiblings, new bytes(IN_SIZE)), empty);
        assertEq(adapter.initialState(c, inputSiblings, new bytes(5)), empty);
        assertNotEq(adapter.initialState(c, inputSiblings, hex"01"), empty);
    }

    function testFuzz_initialState_dependsOnTheInput(bytes32 a, bytes32 b) public {
        vm.assume(a != b);
        assertNotEq(
            adapter.initialState(c, inputSiblings, abi.encode(a)),
            adapter.initialState(c, inputSiblings, abi.encode(b))
        );
    }

    function test_initialState_rejectsLongInput() public {
        vm.expectRevert();
        adapter.initialState(c, inputSiblings, new bytes(IN_SIZE + 1));
    }

    function test_outputMatches_acceptsTheHaltedOutput() public {
        bytes memory out = output64("run");
        (bytes32 state, bytes memory proof) = finalStateWith(out, 1234, 1);
        assertTrue(adapter.outputMatches(c, state, 1234, out, proof));
    }

    function test_outputMatches_rejectsEveryMismatch() public {
        bytes memory out = output64("run");
        (bytes32 state, bytes memory proof) = finalStateWith(out, 1234, 1);
        assertFalse(adapter.outputMatches(c, state, 1233, out, proof), "steps");
        assertFalse(adapter.outputMatches(c, bytes32(uint256(state) ^ 1), 1234, out, proof), "state");
        assertFalse(adapter.outputMatches(c, state, 1234, output64("other"), proof), "output");
        bytes memory shortOut = new bytes(32);
        assertFalse(adapter.outputMatches(c, state, 1234, shortOut, proof), "output length");
        bytes memory tampered = bytes.concat(proof);
        tampered[tampered.length - 1] ^= 0x01;
        assertFalse(adapter.outputMatches(c, state, 1234, out, tampered), "sibling");
        (bytes32 running, bytes memory runningProof) = finalStateWith(out, 1234, 0);
        assertFalse(adapter.outputMatches(c, running, 1234, out, runningProof), "not halted");
    }
}
