// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {PRBTest} from "@prb/test/PRBTest.sol";
import {OneStepVerifier} from "../contracts/vm/OneStepVerifier.sol";
import {
    HEADER_BYTES,
    HEADER_STATUS_AT,
    HEADER_STEP_AT,
    STATUS_TRAPPED,
    TAG_STATE
} from "../contracts/vm/generated/VmConstants.sol";

/// Replays the golden vectors written by the Rust stepper (vm/tests/opcodes.rs)
/// and checks that malformed proofs fail the way the Rust verifier fails them.
contract OneStepVerifierTest is PRBTest {
    /// One vector; fields in the alphabetical order parseJson decodes them in.
    struct Vector {
        string name;
        bytes32 post;
        bytes32 pre;
        bytes proof;
    }

    OneStepVerifier internal verifier;
    Vector[] internal vectors;

    function setUp() public {
        verifier = new OneStepVerifier();
        string memory json = vm.readFile("test/vectors/golden.json");
        Vector[] memory all = abi.decode(vm.parseJson(json, ".vectors"), (Vector[]));
        for (uint256 i = 0; i < all.length; i++) {
            vectors.push(all[i]);
        }
    }

    /// The first vector whose name contains `needle`.
    function _find(string memory needle) internal view returns (Vector memory) {
        return _find(needle, "");
    }

    /// The first vector whose name contains both needles.
    function _find(string memory needle, string memory also) internal view returns (Vector memory) {
        for (uint256 i = 0; i < vectors.length; i++) {
            if (_contains(vectors[i].name, needle) && _contains(vectors[i].name, also)) return vectors[i];
        }
        revert(string.concat("no golden vector named like ", needle, " ", also));
    }

    function _contains(string memory hay, string memory needle) internal pure returns (bool) {
        bytes memory h = bytes(hay);
        bytes memory n = bytes(needle);
        for (uint256 i = 0; i + n.length <= h.length; i++) {
            bool same = true;
            for (uint256 j = 0; j < n.length && same; j++) {
                same = h[i + j] == n[j];
            }
            if (same) return true;
        }
        return false;
    }

    function test_goldenVectors() public {
        assertGt(vectors.length, 300, "golden vectors missing");
        for (uint256 i = 0; i < vectors.length; i++) {
            Vector memory v = vectors[i];
            assertEq(verifier.step(v.pre, v.proof), v.post, v.name);
        }
    }

    function test_haltedAndTrappedStatesAreFixedPoints() public {
        Vector memory halted = _find("i32ops(0xfffffff3, 0x7)", "fixed point");
        assertEq(halted.pre, halted.post);
        assertEq(verifier.step(halted.pre, halted.proof), halted.pre);
        Vector memory trapped = _find("div0(0x5)", "fixed point");
        assertEq(verifier.step(trapped.pre, trapped.proof), trapped.pre);
    }

    /// The state a trap leads to: the proof's header with status trapped and step + 1.
    function _trapped(bytes memory proof) internal pure returns (bytes32) {
        bytes memory header = new bytes(HEADER_BYTES);
        for (uint256 i = 0; i < HEADER_BYTES; i++) {
            header[i] = proof[i + 1];
        }
        header[HEADER_STATUS_AT] = bytes1(STATUS_TRAPPED);
        uint64 step;
        for (uint256 i = 0; i < 8; i++) {
            step = (step << 8) | uint8(header[HEADER_STEP_AT + i]);
        }
        unchecked {
            step += 1;
        }
        bytes8 next = bytes8(step);
        for (uint256 i = 0; i < 8; i++) {
            header[HEADER_STEP_AT + i] = next[i];
        }
        return keccak256(abi.encodePacked(TAG_STATE, header));
    }

    /// Crafted code and states (vm/tests/opcodes.rs) reach every limit of the
    /// machine; each one traps: the pre-state with status trapped and step + 1.
    function test_everyLimitOfTheMachineTraps() public {
        string[2][17] memory traps = [
            ["trap: pc in the code padding:", "step 2 pc past the code"],
            ["trap: pc past the code tree:", "step 2 pc past the code"],
            ["trap: pc u32::MAX:", "step 2 pc past the code"],
            ["trap: return past the code:", "step 2 pc past the code"],
            ["trap: return at frame depth 0:", "step 1 return"],
            ["trap: local.get at frame depth 0:", "step 1 local.get"],
            ["trap: local.set at frame depth 0:", "step 2 local.set"],
            ["trap: local.get past the local count:", "step 2 local.get"],
            ["trap: local.set past the local count:", "step 1 local.set"],
            ["trap: local.tee in a frame without locals:", "step 1 local.tee"],
            ["trap: globals padding then past the tree:", "step 5 global.get"],
            ["trap: global.set past the tree:", "step 1 global.set"],
            ["trap: stack underflow popping 1:", "step 1 drop"],
            ["trap: stack underflow popping 2:", "step 1 i64.store"],
            ["trap: stack underflow popping 3:", "step 1 select"],
            ["trap: stack overflow:", "step 2 i64.const"],
            ["trap: too many locals:", "step 5 call"]
        ];
        for (uint256 i = 0; i < traps.length; i++) {
            Vector memory v = _find(traps[i][0], traps[i][1]);
            assertEq(verifier.step(v.pre, v.proof), v.post, v.name);
            assertEq(v.post, _trapped(v.proof), v.name);
        }
        // the padding of the globals tree reads zero and takes writes
        Vector memory padding = _find("trap: globals padding then past the tree:", "step 4 global.get");
        assertTrue(padding.post != _trapped(padding.proof), "a global in the padding does not trap");
    }

    // ------------------------------------------------------------ failure paths

    function _copy(bytes memory b) internal pure returns (bytes memory c) {
        c = new bytes(b.length);
        for (uint256 i = 0; i < b.length; i++) {
            c[i] = b[i];
        }
    }

    function _slice(bytes memory b, uint256 n) internal pure returns (bytes memory c) {
        c = new bytes(n);
        for (uint256 i = 0; i < n; i++) {
            c[i] = b[i];
        }
    }

    function test_RevertWhen_ProofIsEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.ProofTruncated.selector, 0, 1));
        verifier.step(bytes32(0), "");
    }

    function test_RevertWhen_VersionIsUnknown() public {
        Vector memory v = vectors[0];
        bytes memory p = _copy(v.proof);
        p[0] = 0x01; // the version before the stack depth joined the header
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.ProofVersion.selector, uint8(1)));
        verifier.step(v.pre, p);
    }

    function test_RevertWhen_HeaderIsTruncated() public {
        Vector memory v = vectors[0];
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.ProofTruncated.selector, 1, 89));
        verifier.step(v.pre, _slice(v.proof, 101));
    }

    function test_RevertWhen_WitnessIsTruncated() public {
        Vector memory v = vectors[0];
        uint256 n = v.proof.length - 1;
        // the last item is a 32-byte sibling (or stack word) that now misses one byte
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.ProofTruncated.selector, n - 31, 1));
        verifier.step(v.pre, _slice(v.proof, n));
    }

    function test_RevertWhen_ProofHasTrailingBytes() public {
        Vector memory v = vectors[0];
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.ProofTrailing.selector, 2));
        verifier.step(v.pre, bytes.concat(v.proof, hex"0000"));
        Vector memory halted = _find("fixed point");
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.ProofTrailing.selector, 1));
        verifier.step(halted.pre, bytes.concat(halted.proof, hex"00"));
    }

    function test_RevertWhen_PreStateDiffers() public {
        Vector memory v = vectors[0];
        vm.expectRevert(OneStepVerifier.PreStateMismatch.selector);
        verifier.step(bytes32(uint256(v.pre) ^ 1), v.proof);
        Vector memory halted = _find("fixed point");
        vm.expectRevert(OneStepVerifier.PreStateMismatch.selector);
        verifier.step(bytes32(uint256(halted.pre) ^ 1), halted.proof);
    }

    function test_RevertWhen_InstructionIsMalformed() public {
        Vector memory v = vectors[0];
        bytes memory p = _copy(v.proof);
        p[190 + 5] = 0x01; // padding byte of the instruction
        vm.expectRevert(OneStepVerifier.BadInstruction.selector);
        verifier.step(v.pre, p);
        p = _copy(v.proof);
        p[190] = 0xff; // no such opcode
        vm.expectRevert(OneStepVerifier.BadInstruction.selector);
        verifier.step(v.pre, p);
    }

    function test_RevertWhen_InstructionIsNotTheCommittedCode() public {
        Vector memory v = _find("i32.add");
        bytes memory p = _copy(v.proof);
        p[190] = 0x6b; // i32.sub: same shape, different code
        vm.expectRevert(OneStepVerifier.CodeMismatch.selector);
        verifier.step(v.pre, p);
        p = _copy(v.proof);
        p[190 + 32 + 1] ^= 0x01; // first code-path sibling
        vm.expectRevert(OneStepVerifier.CodeMismatch.selector);
        verifier.step(v.pre, p);
    }

    function test_RevertWhen_StackValueIsWrong() public {
        Vector memory v = _find("i32.add");
        uint256 pathLen = uint8(v.proof[190 + 32]);
        bytes memory p = _copy(v.proof);
        p[190 + 32 + 1 + 32 * pathLen + 7] ^= 0x01; // low byte of the top value
        vm.expectRevert(OneStepVerifier.StackMismatch.selector);
        verifier.step(v.pre, p);
    }

    /// Offset of the witness part after the code path and `pops` stack values.
    function _afterStack(bytes memory proof, uint256 pops) internal pure returns (uint256) {
        return 190 + 32 + 1 + 32 * uint256(uint8(proof[190 + 32])) + 8 * pops + 32;
    }

    function test_RevertWhen_FrameIsWrong() public {
        Vector memory v = _find("local.get");
        bytes memory p = _copy(v.proof);
        p[_afterStack(p, 0) + 3] ^= 0x01; // return pc
        vm.expectRevert(OneStepVerifier.FrameMismatch.selector);
        verifier.step(v.pre, p);
    }

    function test_RevertWhen_LocalIsWrong() public {
        Vector memory v = _find("local.get");
        bytes memory p = _copy(v.proof);
        p[_afterStack(p, 0) + 72 + 7] ^= 0x01; // the local's value
        vm.expectRevert(OneStepVerifier.LocalMismatch.selector);
        verifier.step(v.pre, p);
    }

    function test_RevertWhen_GlobalIsWrong() public {
        Vector memory v = _find("global.get");
        bytes memory p = _copy(v.proof);
        p[_afterStack(p, 0) + 7] ^= 0x01; // the global's value
        vm.expectRevert(OneStepVerifier.GlobalMismatch.selector);
        verifier.step(v.pre, p);
    }

    function test_RevertWhen_MemoryLeafIsWrong() public {
        Vector memory v = _find("i64.load8_u");
        bytes memory p = _copy(v.proof);
        uint256 at = _afterStack(p, 1);
        assertEq(uint8(p[at]), 1, "one leaf");
        p[at + 1 + 31] ^= 0x01; // last byte of the leaf
        vm.expectRevert(OneStepVerifier.MemoryMismatch.selector);
        verifier.step(v.pre, p);
        p = _copy(v.proof);
        p[at] = 0x03; // more leaves than any access touches
        vm.expectRevert(OneStepVerifier.MemoryMismatch.selector);
        verifier.step(v.pre, p);
    }

    // ------------------------------------------------------------ soundness fuzz

    /// A mutated proof either reverts or yields the honest post-state, never another one.
    function testFuzz_mutatedProofNeverProvesAnotherState(uint256 which, uint256 position, uint8 flip)
        public
    {
        Vector memory v = vectors[which % vectors.length];
        bytes memory p = _copy(v.proof);
        uint256 at = position % p.length;
        p[at] = bytes1(uint8(p[at]) ^ (flip == 0 ? 1 : flip));
        try verifier.step(v.pre, p) returns (bytes32 post) {
            assertEq(post, v.post, v.name);
        } catch {}
    }

    /// The same with the proof cut short or extended by arbitrary bytes.
    function testFuzz_resizedProofNeverProvesAnotherState(uint256 which, uint256 cut, bytes memory tail)
        public
    {
        Vector memory v = vectors[which % vectors.length];
        bytes memory p = bytes.concat(_slice(v.proof, cut % (v.proof.length + 1)), tail);
        try verifier.step(v.pre, p) returns (bytes32 post) {
            assertEq(post, v.post, v.name);
        } catch {}
    }

    /// Mutations aimed at the parts that are executed: stack values, cells and leaves.
    function testFuzz_mutatedWitnessNeverProvesAnotherState(uint256 which, uint256 position, bytes32 noise)
        public
    {
        Vector memory v = vectors[which % vectors.length];
        if (v.proof.length <= 190 + 33) return; // a fixed point: no witness
        bytes memory p = _copy(v.proof);
        uint256 start = 190 + 33 + 32 * uint256(uint8(p[190 + 32]));
        if (start >= p.length) return; // a trap at the fetch or the stack bounds: nothing executed
        uint256 at = start + position % (p.length - start);
        for (uint256 i = 0; i < 8 && at + i < p.length; i++) {
            p[at + i] = bytes1(uint8(p[at + i]) ^ uint8(noise[i]));
        }
        try verifier.step(v.pre, p) returns (bytes32 post) {
            assertEq(post, v.post, v.name);
        } catch {}
    }
}
