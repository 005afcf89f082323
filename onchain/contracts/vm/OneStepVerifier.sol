// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IOneStepVerifier} from "../interfaces/IOneStepVerifier.sol";
import {VmHash} from "./VmHash.sol";
import "./generated/VmConstants.sol";

/// @title opML one-step verifier
/// @notice Re-executes one instruction of the lowered opML machine from a
/// committed pre-state and returns the post-state hash. It mirrors the Rust
/// reference `opml_vm::machine::proof::verify_step` exactly, including which
/// error a malformed proof gets: a proof is first decoded in full (truncation,
/// version, instruction encoding, trailing bytes), then checked against the
/// pre-state, then executed. Golden vectors and differential tests from Rust
/// keep the two in step. Every state any code can reach has a proof: a pc past
/// the code, a stack underflow or overflow, a `return` or local op without a
/// frame, a local index past the frame's count, a global index past the globals
/// tree and a `call` with too many locals all trap.
/// @dev Proof layout v2 (docs/STATE.md): version (1) | header (189) | when running:
/// instruction (32, the code leaf at pc mod 2^n) | code path (n siblings) | unless
/// the fetch (pc >= 2^n) or the stack bounds trap: popped values (8 each, top
/// first) | stack below (32) | [frame: ret 4, count 4, locals root 32, below 32;
/// at frame depth > 0] | [cell: value 8, path; locals below the frame's count,
/// globals at index mod 2^n] | [memory: count 1, count x (leaf 32, path)]; a path
/// is a length byte n and n siblings of 32 bytes, bottom up.
contract OneStepVerifier is IOneStepVerifier {
    /// @notice The proof ends early: `needed` more bytes at offset `at`.
    error ProofTruncated(uint256 at, uint256 needed);
    /// @notice The proof's version byte is not the supported one.
    error ProofVersion(uint8 version);
    /// @notice The proof has `extra` bytes after its end.
    error ProofTrailing(uint256 extra);
    /// @notice The revealed header does not hash to the pre-state.
    error PreStateMismatch();
    /// @notice The revealed instruction is not a valid encoding.
    error BadInstruction();
    /// @notice The instruction is not the committed code at pc.
    error CodeMismatch();
    /// @notice The revealed stack values do not match the stack commitment.
    error StackMismatch();
    /// @notice The revealed frame does not match the frame stack commitment.
    error FrameMismatch();
    /// @notice The revealed local does not match the frame's locals tree.
    error LocalMismatch();
    /// @notice The revealed global does not match the globals tree.
    error GlobalMismatch();
    /// @notice The revealed memory leaves do not match the memory root.
    error MemoryMismatch();

    uint256 private constant M32 = 0xffffffff;
    uint256 private constant M64 = 0xffffffffffffffff;

    /// @dev The header fields (integers widened to uint256).
    struct Header {
        uint256 status;
        uint256 pc;
        uint256 step;
        bytes32 codeRoot;
        uint256 memorySize;
        bytes32 memoryRoot;
        bytes32 globalsRoot;
        bytes32 stack;
        bytes32 frames;
        uint256 frameDepth;
        uint256 stackDepth;
    }

    /// @dev What a running step reveals; paths are absolute calldata offsets.
    struct Witness {
        uint256 op;
        uint256 a;
        uint256 b;
        uint256 codePath;
        uint256 codePathLen;
        uint256 pops;
        bool reachesStack;
        bool hasFrame;
        uint256[3] s;
        bytes32 stackBelow;
        uint256 frameRet;
        uint256 frameCount;
        bytes32 localsRoot;
        bytes32 framesBelow;
        uint256 cellValue;
        uint256 cellPath;
        uint256 cellPathLen;
        uint256 leaves;
        bytes32[2] leaf;
        uint256[2] leafPath;
        uint256[2] leafPathLen;
    }

    /// @inheritdoc IOneStepVerifier
    function step(bytes32 preState, bytes calldata proof) external pure returns (bytes32) {
        uint256 len = proof.length;
        _need(0, 1, len);
        uint8 version = uint8(proof[0]);
        if (version != PROOF_VERSION) revert ProofVersion(version);
        _need(1, HEADER_BYTES, len);
        Header memory h = _readHeader(_offset(proof) + 1);
        uint256 at = 1 + HEADER_BYTES;
        if (h.status != STATUS_RUNNING) {
            if (len != at) revert ProofTrailing(len - at);
            if (VmHash.headerHash(proof[1:at]) != preState) revert PreStateMismatch();
            return preState; // halted and trapped states are fixed points
        }
        Witness memory w = _decode(proof, at, h);
        if (VmHash.headerHash(proof[1:at]) != preState) revert PreStateMismatch();
        _checkCode(h, w);
        if (!w.reachesStack) return _trap(_offset(proof) + 1); // pc past the code tree, stack bounds
        _checkStack(h, w);
        return _execute(h, w, _offset(proof) + 1);
    }

    // ---------------------------------------------------------------- decoding

    function _need(uint256 at, uint256 n, uint256 len) private pure {
        if (at + n > len) revert ProofTruncated(at, at + n - len);
    }

    /// @dev `count` items of `size` bytes each, read one after another.
    function _needItems(uint256 at, uint256 count, uint256 size, uint256 len) private pure {
        if (at + count * size > len) {
            uint256 whole = (len - at) / size; // the first item that does not fit
            _need(at + whole * size, size, len);
        }
    }

    function _offset(bytes calldata b) private pure returns (uint256 o) {
        assembly ("memory-safe") {
            o := b.offset
        }
    }

    function _word(uint256 offset) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := calldataload(offset)
        }
    }

    /// @dev Big-endian integer of `n` bytes at an absolute calldata offset.
    function _uint(uint256 offset, uint256 n) private pure returns (uint256) {
        return _word(offset) >> (256 - 8 * n);
    }

    function _readHeader(uint256 base) private pure returns (Header memory h) {
        h.status = _uint(base + HEADER_STATUS_AT, HEADER_STATUS_LEN);
        h.pc = _uint(base + HEADER_PC_AT, HEADER_PC_LEN);
        h.step = _uint(base + HEADER_STEP_AT, HEADER_STEP_LEN);
        h.codeRoot = bytes32(_word(base + HEADER_CODE_ROOT_AT));
        h.memorySize = _uint(base + HEADER_MEMORY_SIZE_AT, HEADER_MEMORY_SIZE_LEN);
        h.memoryRoot = bytes32(_word(base + HEADER_MEMORY_ROOT_AT));
        h.globalsRoot = bytes32(_word(base + HEADER_GLOBALS_ROOT_AT));
        h.stack = bytes32(_word(base + HEADER_STACK_AT));
        h.frames = bytes32(_word(base + HEADER_FRAMES_AT));
        h.frameDepth = _uint(base + HEADER_FRAME_DEPTH_AT, HEADER_FRAME_DEPTH_LEN);
        h.stackDepth = _uint(base + HEADER_STACK_DEPTH_AT, HEADER_STACK_DEPTH_LEN);
    }

    /// @dev Whether `index` lies past a tree whose paths have `depth` siblings
    /// (deeper paths are rejected, so they never trap here).
    function _pastTree(uint256 index, uint256 depth) private pure returns (bool) {
        return depth <= MAX_TREE_DEPTH && index >> depth != 0;
    }

    /// @dev Whether `op` pops more values than a stack of `depth` holds, or adds one to a full stack.
    function _stackTraps(uint256 op, uint256 pops, uint256 depth) private pure returns (bool) {
        return depth < pops || ((OPS_GROWS >> op) & 1 == 1 && depth >= MAX_STACK);
    }

    /// @dev Reads a path at `at`; returns (absolute offset, length, next `at`).
    function _path(bytes calldata proof, uint256 at) private pure returns (uint256, uint256, uint256) {
        uint256 len = proof.length;
        _need(at, 1, len);
        uint256 n = uint8(proof[at]);
        _needItems(at + 1, n, 32, len);
        return (_offset(proof) + at + 1, n, at + 1 + 32 * n);
    }

    /// @dev What follows the code path depends on the header, the instruction,
    /// the path's length and the frame's local count, all read before it.
    function _decode(bytes calldata proof, uint256 at, Header memory h)
        private
        pure
        returns (Witness memory w)
    {
        uint256 len = proof.length;
        uint256 base = _offset(proof);
        _need(at, INSTR_BYTES, len);
        uint256 ins = _word(base + at);
        w.op = ins >> 248;
        if ((OPS_VALID >> w.op) & 1 == 0 || (ins >> 96) & ((1 << 152) - 1) != 0) revert BadInstruction();
        w.a = (ins >> 64) & M32;
        w.b = ins & M64;
        at += INSTR_BYTES;
        (w.codePath, w.codePathLen, at) = _path(proof, at);

        w.pops = ((OPS_POPS_1 >> w.op) & 1) + 2 * ((OPS_POPS_2 >> w.op) & 1);
        w.reachesStack = !_pastTree(h.pc, w.codePathLen) && !_stackTraps(w.op, w.pops, h.stackDepth);
        if (w.reachesStack) at = _decodeParts(proof, at, h, w);
        if (len != at) revert ProofTrailing(len - at);
    }

    /// @dev The parts after the code path: stack, frame, cell, memory; returns the next `at`.
    function _decodeParts(bytes calldata proof, uint256 at, Header memory h, Witness memory w)
        private
        pure
        returns (uint256)
    {
        uint256 len = proof.length;
        uint256 base = _offset(proof);
        _needItems(at, w.pops, 8, len);
        for (uint256 i = 0; i < w.pops; i++) {
            w.s[i] = _uint(base + at, 8);
            at += 8;
        }
        _need(at, 32, len);
        w.stackBelow = bytes32(_word(base + at));
        at += 32;

        if ((OPS_FRAME >> w.op) & 1 == 1 && h.frameDepth != 0) {
            w.hasFrame = true;
            _need(at, 4, len);
            w.frameRet = _uint(base + at, 4);
            _need(at + 4, 4, len);
            w.frameCount = _uint(base + at + 4, 4);
            _need(at + 8, 32, len);
            w.localsRoot = bytes32(_word(base + at + 8));
            _need(at + 40, 32, len);
            w.framesBelow = bytes32(_word(base + at + 40));
            at += 72;
        }
        bool localCell = (OPS_LOCAL >> w.op) & 1 == 1 && w.hasFrame && w.a < w.frameCount;
        if (localCell || (OPS_GLOBAL >> w.op) & 1 == 1) {
            _need(at, 8, len);
            w.cellValue = _uint(base + at, 8);
            (w.cellPath, w.cellPathLen, at) = _path(proof, at + 8);
        }
        if ((OPS_MEMORY >> w.op) & 1 == 1) {
            _need(at, 1, len);
            w.leaves = uint8(proof[at]);
            if (w.leaves > 2) revert MemoryMismatch();
            at += 1;
            for (uint256 k = 0; k < w.leaves; k++) {
                _need(at, 32, len);
                w.leaf[k] = bytes32(_word(base + at));
                (w.leafPath[k], w.leafPathLen[k], at) = _path(proof, at + 32);
            }
        }
        return at;
    }

    // ---------------------------------------------------------------- checks

    function _checkCode(Header memory h, Witness memory w) private pure {
        bytes32 instr = bytes32((w.op << 248) | (w.a << 64) | w.b);
        if (
            w.codePathLen > MAX_TREE_DEPTH
                || VmHash.rootFromCalldata(
                        TAG_CODE_LEAF, TAG_CODE_NODE, h.pc, instr, w.codePath, w.codePathLen
                    ) != h.codeRoot
        ) revert CodeMismatch();
    }

    function _checkStack(Header memory h, Witness memory w) private pure {
        bytes32 chain = w.stackBelow;
        for (uint256 i = w.pops; i > 0; i--) {
            chain = VmHash.stackEntry(w.s[i - 1], chain);
        }
        if (chain != h.stack) revert StackMismatch();
    }

    function _checkFrame(Header memory h, Witness memory w) private pure {
        if (VmHash.frameEntry(w.frameRet, w.frameCount, w.localsRoot, w.framesBelow) != h.frames) {
            revert FrameMismatch();
        }
    }

    // ---------------------------------------------------------------- execution

    function _hash(Header memory p) private pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                TAG_STATE,
                uint8(p.status),
                uint32(p.pc),
                uint64(p.step),
                p.codeRoot,
                uint64(p.memorySize),
                p.memoryRoot,
                p.globalsRoot,
                p.stack,
                p.frames,
                uint32(p.frameDepth),
                uint32(p.stackDepth)
            )
        );
    }

    /// @dev A trap: the pre-state with status trapped and the step counter advanced.
    function _trap(uint256 headerAt) private pure returns (bytes32) {
        Header memory t = _readHeader(headerAt);
        t.status = STATUS_TRAPPED;
        t.step = (t.step + 1) & M64;
        return _hash(t);
    }

    function _push(Header memory post, uint256 v) private pure {
        post.stack = VmHash.stackEntry(v, post.stack);
    }

    function _execute(Header memory h, Witness memory w, uint256 headerAt) private pure returns (bytes32) {
        uint256 op = w.op;
        // `h` is read again so the post-state starts as an independent copy.
        Header memory post = _readHeader(headerAt);
        // Counters wrap, as in Rust; only crafted headers reach the limits.
        post.step = (h.step + 1) & M64;
        post.pc = h.pc + 1; // pc < 2^31: it is inside the code tree
        post.stack = w.stackBelow;
        post.stackDepth = h.stackDepth - w.pops + ((OPS_PUSHES >> op) & 1); // the stack bounds hold

        if (op <= OP_HALT) {
            if (op == OP_UNREACHABLE) return _trap(headerAt);
            if (op == OP_JUMP) {
                post.pc = w.a;
            } else if (op == OP_JUMP_IF_ZERO) {
                if (w.s[0] & M32 == 0) post.pc = w.a;
            } else if (op == OP_JUMP_IF_NON_ZERO) {
                if (w.s[0] & M32 != 0) post.pc = w.a;
            } else if (op == OP_JUMP_TABLE) {
                uint256 index = w.s[0] & M32;
                post.pc = (h.pc + 1 + (index < w.a ? index : w.a)) & M32;
            } else if (op == OP_CALL) {
                if (h.frameDepth >= MAX_FRAMES || w.b > MAX_LOCALS) return _trap(headerAt);
                uint256 count = w.b;
                post.frames = VmHash.frameEntry(h.pc + 1, count, VmHash.emptyLocalsRoot(count), h.frames);
                post.frameDepth = h.frameDepth + 1;
                post.pc = w.a;
            } else if (op == OP_RETURN) {
                if (h.frameDepth == 0) return _trap(headerAt);
                _checkFrame(h, w);
                post.frames = w.framesBelow;
                post.frameDepth = h.frameDepth - 1;
                post.pc = w.frameRet;
            } else if (op == OP_HALT) {
                post.status = STATUS_HALTED;
                post.pc = h.pc;
            }
            // OP_NOP: nothing else changes
        } else if (op == OP_DROP) {} else if (op == OP_DROP_UNDER) {
            _push(post, w.s[0]);
        } else if (op == OP_SELECT) {
            _push(post, w.s[0] & M32 != 0 ? w.s[2] : w.s[1]);
        } else if ((OPS_LOCAL >> op) & 1 == 1) {
            if (!_local(h, w, post)) return _trap(headerAt);
        } else if ((OPS_GLOBAL >> op) & 1 == 1) {
            if (!_global(h, w, post)) return _trap(headerAt);
        } else if ((OPS_MEMORY >> op) & 1 == 1) {
            if (!_memory(h, w, post)) return _trap(headerAt);
        } else if (op == OP_I32_CONST || op == OP_I64_CONST) {
            _push(post, w.b);
        } else {
            (bool trapped, uint256 v) = _alu(op, w.s[0], w.s[1]);
            if (trapped) return _trap(headerAt);
            _push(post, v);
        }
        return _hash(post);
    }

    /// @dev Local ops; false when they trap (no frame, or an index past the frame's count).
    function _local(Header memory h, Witness memory w, Header memory post) private pure returns (bool) {
        if (h.frameDepth == 0) return false;
        _checkFrame(h, w);
        if (w.a >= w.frameCount) return false;
        if (
            w.cellPathLen != VmHash.depthFor(w.frameCount)
                || VmHash.rootFromCalldata(
                        TAG_LOCALS_LEAF, TAG_LOCALS_NODE, w.a, bytes32(w.cellValue), w.cellPath, w.cellPathLen
                    ) != w.localsRoot
        ) revert LocalMismatch();
        if (w.op == OP_LOCAL_GET) {
            _push(post, w.cellValue);
            return true;
        }
        bytes32 root = VmHash.rootFromCalldata(
            TAG_LOCALS_LEAF, TAG_LOCALS_NODE, w.a, bytes32(w.s[0]), w.cellPath, w.cellPathLen
        );
        post.frames = VmHash.frameEntry(w.frameRet, w.frameCount, root, w.framesBelow);
        if (w.op == OP_LOCAL_TEE) _push(post, w.s[0]);
        return true;
    }

    /// @dev Global ops; false when they trap (an index past the globals tree,
    /// whose depth the cell path proves; the path is the leaf at index mod 2^n).
    function _global(Header memory h, Witness memory w, Header memory post) private pure returns (bool) {
        if (
            w.cellPathLen > MAX_TREE_DEPTH
                || VmHash.rootFromCalldata(
                        TAG_GLOBALS_LEAF,
                        TAG_GLOBALS_NODE,
                        w.a,
                        bytes32(w.cellValue),
                        w.cellPath,
                        w.cellPathLen
                    ) != h.globalsRoot
        ) revert GlobalMismatch();
        if (_pastTree(w.a, w.cellPathLen)) return false;
        if (w.op == OP_GLOBAL_GET) {
            _push(post, w.cellValue);
        } else {
            post.globalsRoot = VmHash.rootFromCalldata(
                TAG_GLOBALS_LEAF, TAG_GLOBALS_NODE, w.a, bytes32(w.s[0]), w.cellPath, w.cellPathLen
            );
        }
        return true;
    }

    /// @dev Loads and stores; false when the access is out of bounds (a trap).
    function _memory(Header memory h, Witness memory w, Header memory post) private pure returns (bool) {
        bool isStore = w.pops == 2;
        // forge-lint: disable-next-line(incorrect-shift) the width is 1 shifted by its log2
        uint256 width = 1 << (((OPS_WIDTH_2 >> w.op) & 1) + 2 * ((OPS_WIDTH_4 >> w.op) & 1));
        uint256 addr = (w.s[isStore ? 1 : 0] & M32) + w.b;
        if (addr + width > h.memorySize) return false;
        uint256 first = addr / 32;
        uint256 depth = VmHash.depthFor((h.memorySize + 31) / 32);
        _checkLeaves(h, w, first, (addr + width - 1) / 32 - first + 1, depth);
        if (isStore) {
            post.memoryRoot = _store(w, first, addr % 32, width, depth);
        } else {
            _push(post, _load(w, addr % 32, width));
        }
        return true;
    }

    function _checkLeaves(Header memory h, Witness memory w, uint256 first, uint256 count, uint256 depth)
        private
        pure
    {
        if (w.leaves != count) revert MemoryMismatch();
        for (uint256 k = 0; k < count; k++) {
            if (
                w.leafPathLen[k] != depth
                    || VmHash.rootFromCalldata(
                            TAG_MEMORY_LEAF, TAG_MEMORY_NODE, first + k, w.leaf[k], w.leafPath[k], depth
                        ) != h.memoryRoot
            ) revert MemoryMismatch();
        }
    }

    /// @dev Writes the low `width` bytes of the top value, little-endian, at
    /// byte `off` of the revealed leaves; returns the new memory root.
    function _store(Witness memory w, uint256 first, uint256 off, uint256 width, uint256 depth)
        private
        pure
        returns (bytes32)
    {
        bytes32 l0 = w.leaf[0];
        bytes32 l1 = w.leaf[1];
        uint256 value = w.s[0];
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, l0)
            mstore(add(p, 32), l1)
            for { let i := 0 } lt(i, width) { i := add(i, 1) } {
                mstore8(add(p, add(off, i)), and(shr(mul(8, i), value), 0xff))
            }
            l0 := mload(p)
            l1 := mload(add(p, 32))
        }
        if (w.leaves == 1) {
            return VmHash.rootFromCalldata(TAG_MEMORY_LEAF, TAG_MEMORY_NODE, first, l0, w.leafPath[0], depth);
        }
        return _updateTwo(first, l0, w.leafPath[0], l1, w.leafPath[1], depth);
    }

    /// @dev Reads `width` bytes little-endian at byte `off` of the revealed
    /// leaves, sign-extended for the signed loads.
    function _load(Witness memory w, uint256 off, uint256 width) private pure returns (uint256) {
        bytes32 l0 = w.leaf[0];
        bytes32 l1 = w.leaf[1];
        uint256 raw;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, l0)
            mstore(add(p, 32), l1)
            let word := mload(add(p, off))
            for { let i := 0 } lt(i, width) { i := add(i, 1) } {
                raw := or(raw, shl(mul(8, i), byte(i, word)))
            }
        }
        uint256 op = w.op;
        if (op == OP_I32_LOAD8_S || op == OP_I32_LOAD16_S) return _signExtend(raw, width - 1) & M32;
        if (op == OP_I64_LOAD8_S || op == OP_I64_LOAD16_S || op == OP_I64_LOAD32_S) {
            return _signExtend(raw, width - 1) & M64;
        }
        return raw;
    }

    /// @dev New memory root after writing the adjacent leaves `i` and `i + 1`:
    /// the second path's sibling that covers leaf `i` is the updated subtree.
    function _updateTwo(uint256 i, bytes32 leaf1, uint256 path1, bytes32 leaf2, uint256 path2, uint256 depth)
        private
        pure
        returns (bytes32 h)
    {
        bytes32[] memory nodes = new bytes32[](depth + 1);
        nodes[0] = VmHash.leaf(TAG_MEMORY_LEAF, leaf1);
        for (uint256 k = 0; k < depth; k++) {
            bytes32 sib = bytes32(_word(path1 + 32 * k));
            nodes[k + 1] = (i >> k) & 1 == 0
                ? VmHash.node(TAG_MEMORY_NODE, nodes[k], sib)
                : VmHash.node(TAG_MEMORY_NODE, sib, nodes[k]);
        }
        uint256 j = i + 1;
        h = VmHash.leaf(TAG_MEMORY_LEAF, leaf2);
        for (uint256 k = 0; k < depth; k++) {
            bytes32 sib = ((j >> k) ^ 1) == (i >> k) ? nodes[k] : bytes32(_word(path2 + 32 * k));
            h = (j >> k) & 1 == 0
                ? VmHash.node(TAG_MEMORY_NODE, h, sib)
                : VmHash.node(TAG_MEMORY_NODE, sib, h);
        }
    }

    // ---------------------------------------------------------------- arithmetic

    /// @dev Sign-extends from byte `b` (0 = 8 bits, 3 = 32 bits, 7 = 64 bits) to 256 bits.
    function _signExtend(uint256 x, uint256 b) private pure returns (uint256 r) {
        assembly ("memory-safe") {
            r := signextend(b, x)
        }
    }

    function _lt(uint256 a, uint256 b, uint256 signByte) private pure returns (bool r) {
        uint256 sa = _signExtend(a, signByte);
        uint256 sb = _signExtend(b, signByte);
        assembly ("memory-safe") {
            r := slt(sa, sb)
        }
    }

    /// @dev Index of the highest set bit; `x` must be nonzero.
    function _log2(uint256 x) private pure returns (uint256 r) {
        if (x >> 32 != 0) {
            x >>= 32;
            r += 32;
        }
        if (x >> 16 != 0) {
            x >>= 16;
            r += 16;
        }
        if (x >> 8 != 0) {
            x >>= 8;
            r += 8;
        }
        if (x >> 4 != 0) {
            x >>= 4;
            r += 4;
        }
        if (x >> 2 != 0) {
            x >>= 2;
            r += 2;
        }
        if (x >> 1 != 0) r += 1;
    }

    function _popcount(uint256 x) private pure returns (uint256 c) {
        unchecked {
            x = x - ((x >> 1) & 0x5555555555555555);
            x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333);
            x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0f;
            c = ((x * 0x0101010101010101) & M64) >> 56;
        }
    }

    /// @dev Comparisons, arithmetic and conversions on the popped values
    /// (`s0` is the top of the stack). Returns (trapped, result).
    function _alu(uint256 op, uint256 s0, uint256 s1) private pure returns (bool, uint256) {
        if (op <= OP_I64_GE_U) return (false, _compare(op, s0, s1) ? 1 : 0);
        if (op <= OP_I32_ROTR) return _arith(op, s1 & M32, s0 & M32, 32, M32, 3);
        if (op <= OP_I64_ROTR) return _arith(op - (OP_I64_CLZ - OP_I32_CLZ), s1, s0, 64, M64, 7);
        if (op == OP_I32_WRAP_I64 || op == OP_I64_EXTEND_I32_U) return (false, s0 & M32);
        if (op == OP_I64_EXTEND_I32_S) return (false, _signExtend(s0, 3) & M64);
        if (op == OP_I32_EXTEND8_S) return (false, _signExtend(s0, 0) & M32);
        if (op == OP_I32_EXTEND16_S) return (false, _signExtend(s0, 1) & M32);
        if (op == OP_I64_EXTEND8_S) return (false, _signExtend(s0, 0) & M64);
        if (op == OP_I64_EXTEND16_S) return (false, _signExtend(s0, 1) & M64);
        return (false, _signExtend(s0, 3) & M64); // OP_I64_EXTEND32_S
    }

    function _compare(uint256 op, uint256 s0, uint256 s1) private pure returns (bool) {
        if (op == OP_I32_EQZ) return s0 & M32 == 0;
        if (op == OP_I64_EQZ) return s0 == 0;
        uint256 signByte = 7;
        if (op < OP_I64_EQZ) {
            // i32 ops, mapped onto the i64 opcodes of the same comparison
            (s0, s1, signByte) = (s0 & M32, s1 & M32, 3);
            op += OP_I64_EQ - OP_I32_EQ;
        }
        (uint256 a, uint256 b) = (s1, s0);
        if (op == OP_I64_EQ) return a == b;
        if (op == OP_I64_NE) return a != b;
        if (op == OP_I64_LT_S) return _lt(a, b, signByte);
        if (op == OP_I64_LT_U) return a < b;
        if (op == OP_I64_GT_S) return _lt(b, a, signByte);
        if (op == OP_I64_GT_U) return a > b;
        if (op == OP_I64_LE_S) return !_lt(b, a, signByte);
        if (op == OP_I64_LE_U) return a <= b;
        if (op == OP_I64_GE_S) return !_lt(a, b, signByte);
        return a >= b; // OP_I64_GE_U
    }

    /// @dev i32 arithmetic on (a, b) = (second, top); i64 ops arrive mapped onto
    /// the i32 opcodes with `bits`, `mask` and `signByte` of their width.
    function _arith(uint256 op, uint256 a, uint256 b, uint256 bits, uint256 mask, uint256 signByte)
        private
        pure
        returns (bool, uint256)
    {
        unchecked {
            if (op == OP_I32_ADD) return (false, (a + b) & mask);
            if (op == OP_I32_SUB) return (false, (a - b) & mask);
            if (op == OP_I32_MUL) return (false, (a * b) & mask);
            if (op == OP_I32_AND) return (false, a & b);
            if (op == OP_I32_OR) return (false, a | b);
            if (op == OP_I32_XOR) return (false, a ^ b);
            if (op == OP_I32_SHL) return (false, (a << (b & (bits - 1))) & mask);
            if (op == OP_I32_SHR_U) return (false, a >> (b & (bits - 1)));
            if (op == OP_I32_SHR_S) {
                int256 sa = int256(_signExtend(a, signByte));
                // two's complement reinterpretation, then masked to the width
                // forge-lint: disable-next-line(unsafe-typecast)
                return (false, uint256(sa >> (b & (bits - 1))) & mask);
            }
            if (op == OP_I32_ROTL || op == OP_I32_ROTR) {
                uint256 k = b & (bits - 1);
                if (op == OP_I32_ROTR) k = (bits - k) & (bits - 1);
                return (false, ((a << k) | (a >> (bits - k))) & mask);
            }
            // the unary ops take the top value, `b`
            if (op == OP_I32_CLZ) return (false, b == 0 ? bits : bits - 1 - _log2(b));
            if (op == OP_I32_CTZ) return (false, b == 0 ? bits : _log2(b & (~b + 1)));
            if (op == OP_I32_POPCNT) return (false, _popcount(b));
            if (b == 0) return (true, 0); // every division and remainder traps on zero
            if (op == OP_I32_DIV_U) return (false, a / b);
            if (op == OP_I32_REM_U) return (false, a % b);
            int256 x = int256(_signExtend(a, signByte));
            int256 y = int256(_signExtend(b, signByte));
            if (op == OP_I32_DIV_S) {
                // the only overflowing quotient: MIN / -1
                // forge-lint: disable-next-line(incorrect-shift) 1 << (bits - 1) is the width's MIN magnitude
                if (y == -1 && x == -int256(1 << (bits - 1))) return (true, 0);
                // forge-lint: disable-next-line(unsafe-typecast) two's complement, masked to the width
                return (false, uint256(x / y) & mask);
            }
            // forge-lint: disable-next-line(unsafe-typecast) two's complement, masked to the width
            return (false, uint256(x % y) & mask); // OP_I32_REM_S
        }
    }
}
