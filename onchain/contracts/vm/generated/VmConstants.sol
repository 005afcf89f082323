// SPDX-License-Identifier: Apache-2.0
// GENERATED from the Rust stepper (opml-vm, machine::solidity) by `just contracts`.
// Do not edit: vm/tests/opcodes.rs fails when this file is stale.
pragma solidity 0.8.30;

// Proof encoding (docs/STATE.md).
uint8 constant PROOF_VERSION = 2;
uint256 constant HEADER_BYTES = 189;
uint256 constant INSTR_BYTES = 32;
uint256 constant MAX_TREE_DEPTH = 31;

// Machine limits: a step past them traps.
uint256 constant MAX_FRAMES = 1024;
uint256 constant MAX_STACK = 65536;
uint256 constant MAX_LOCALS = 4096;

// State header: byte offset and length of each field.
uint256 constant HEADER_STATUS_AT = 0;
uint256 constant HEADER_STATUS_LEN = 1;
uint256 constant HEADER_PC_AT = 1;
uint256 constant HEADER_PC_LEN = 4;
uint256 constant HEADER_STEP_AT = 5;
uint256 constant HEADER_STEP_LEN = 8;
uint256 constant HEADER_CODE_ROOT_AT = 13;
uint256 constant HEADER_CODE_ROOT_LEN = 32;
uint256 constant HEADER_MEMORY_SIZE_AT = 45;
uint256 constant HEADER_MEMORY_SIZE_LEN = 8;
uint256 constant HEADER_MEMORY_ROOT_AT = 53;
uint256 constant HEADER_MEMORY_ROOT_LEN = 32;
uint256 constant HEADER_GLOBALS_ROOT_AT = 85;
uint256 constant HEADER_GLOBALS_ROOT_LEN = 32;
uint256 constant HEADER_STACK_AT = 117;
uint256 constant HEADER_STACK_LEN = 32;
uint256 constant HEADER_FRAMES_AT = 149;
uint256 constant HEADER_FRAMES_LEN = 32;
uint256 constant HEADER_FRAME_DEPTH_AT = 181;
uint256 constant HEADER_FRAME_DEPTH_LEN = 4;
uint256 constant HEADER_STACK_DEPTH_AT = 185;
uint256 constant HEADER_STACK_DEPTH_LEN = 4;
uint8 constant STATUS_RUNNING = 0;
uint8 constant STATUS_HALTED = 1;
uint8 constant STATUS_TRAPPED = 2;

// Domain tags: every hash is keccak256(tag || data).
uint8 constant TAG_MEMORY_LEAF = 0x01;
uint8 constant TAG_MEMORY_NODE = 0x02;
uint8 constant TAG_CODE_LEAF = 0x03;
uint8 constant TAG_CODE_NODE = 0x04;
uint8 constant TAG_STACK = 0x05;
uint8 constant TAG_FRAME = 0x06;
uint8 constant TAG_LOCALS_LEAF = 0x07;
uint8 constant TAG_LOCALS_NODE = 0x08;
uint8 constant TAG_GLOBALS_LEAF = 0x09;
uint8 constant TAG_GLOBALS_NODE = 0x0a;
uint8 constant TAG_STATE = 0x0b;

// Opcodes of the lowered instruction set.
uint8 constant OP_UNREACHABLE = 0x00; // unreachable
uint8 constant OP_NOP = 0x01; // nop
uint8 constant OP_JUMP = 0x02; // jump
uint8 constant OP_JUMP_IF_ZERO = 0x03; // jump_if_zero
uint8 constant OP_JUMP_IF_NON_ZERO = 0x04; // jump_if_nonzero
uint8 constant OP_JUMP_TABLE = 0x05; // jump_table
uint8 constant OP_CALL = 0x06; // call
uint8 constant OP_RETURN = 0x07; // return
uint8 constant OP_HALT = 0x08; // halt
uint8 constant OP_DROP = 0x10; // drop
uint8 constant OP_DROP_UNDER = 0x11; // drop_under
uint8 constant OP_SELECT = 0x12; // select
uint8 constant OP_LOCAL_GET = 0x20; // local.get
uint8 constant OP_LOCAL_SET = 0x21; // local.set
uint8 constant OP_LOCAL_TEE = 0x22; // local.tee
uint8 constant OP_GLOBAL_GET = 0x23; // global.get
uint8 constant OP_GLOBAL_SET = 0x24; // global.set
uint8 constant OP_I32_LOAD = 0x28; // i32.load
uint8 constant OP_I64_LOAD = 0x29; // i64.load
uint8 constant OP_I32_LOAD8_S = 0x2c; // i32.load8_s
uint8 constant OP_I32_LOAD8_U = 0x2d; // i32.load8_u
uint8 constant OP_I32_LOAD16_S = 0x2e; // i32.load16_s
uint8 constant OP_I32_LOAD16_U = 0x2f; // i32.load16_u
uint8 constant OP_I64_LOAD8_S = 0x30; // i64.load8_s
uint8 constant OP_I64_LOAD8_U = 0x31; // i64.load8_u
uint8 constant OP_I64_LOAD16_S = 0x32; // i64.load16_s
uint8 constant OP_I64_LOAD16_U = 0x33; // i64.load16_u
uint8 constant OP_I64_LOAD32_S = 0x34; // i64.load32_s
uint8 constant OP_I64_LOAD32_U = 0x35; // i64.load32_u
uint8 constant OP_I32_STORE = 0x36; // i32.store
uint8 constant OP_I64_STORE = 0x37; // i64.store
uint8 constant OP_I32_STORE8 = 0x3a; // i32.store8
uint8 constant OP_I32_STORE16 = 0x3b; // i32.store16
uint8 constant OP_I64_STORE8 = 0x3c; // i64.store8
uint8 constant OP_I64_STORE16 = 0x3d; // i64.store16
uint8 constant OP_I64_STORE32 = 0x3e; // i64.store32
uint8 constant OP_I32_CONST = 0x41; // i32.const
uint8 constant OP_I64_CONST = 0x42; // i64.const
uint8 constant OP_I32_EQZ = 0x45; // i32.eqz
uint8 constant OP_I32_EQ = 0x46; // i32.eq
uint8 constant OP_I32_NE = 0x47; // i32.ne
uint8 constant OP_I32_LT_S = 0x48; // i32.lt_s
uint8 constant OP_I32_LT_U = 0x49; // i32.lt_u
uint8 constant OP_I32_GT_S = 0x4a; // i32.gt_s
uint8 constant OP_I32_GT_U = 0x4b; // i32.gt_u
uint8 constant OP_I32_LE_S = 0x4c; // i32.le_s
uint8 constant OP_I32_LE_U = 0x4d; // i32.le_u
uint8 constant OP_I32_GE_S = 0x4e; // i32.ge_s
uint8 constant OP_I32_GE_U = 0x4f; // i32.ge_u
uint8 constant OP_I64_EQZ = 0x50; // i64.eqz
uint8 constant OP_I64_EQ = 0x51; // i64.eq
uint8 constant OP_I64_NE = 0x52; // i64.ne
uint8 constant OP_I64_LT_S = 0x53; // i64.lt_s
uint8 constant OP_I64_LT_U = 0x54; // i64.lt_u
uint8 constant OP_I64_GT_S = 0x55; // i64.gt_s
uint8 constant OP_I64_GT_U = 0x56; // i64.gt_u
uint8 constant OP_I64_LE_S = 0x57; // i64.le_s
uint8 constant OP_I64_LE_U = 0x58; // i64.le_u
uint8 constant OP_I64_GE_S = 0x59; // i64.ge_s
uint8 constant OP_I64_GE_U = 0x5a; // i64.ge_u
uint8 constant OP_I32_CLZ = 0x67; // i32.clz
uint8 constant OP_I32_CTZ = 0x68; // i32.ctz
uint8 constant OP_I32_POPCNT = 0x69; // i32.popcnt
uint8 constant OP_I32_ADD = 0x6a; // i32.add
uint8 constant OP_I32_SUB = 0x6b; // i32.sub
uint8 constant OP_I32_MUL = 0x6c; // i32.mul
uint8 constant OP_I32_DIV_S = 0x6d; // i32.div_s
uint8 constant OP_I32_DIV_U = 0x6e; // i32.div_u
uint8 constant OP_I32_REM_S = 0x6f; // i32.rem_s
uint8 constant OP_I32_REM_U = 0x70; // i32.rem_u
uint8 constant OP_I32_AND = 0x71; // i32.and
uint8 constant OP_I32_OR = 0x72; // i32.or
uint8 constant OP_I32_XOR = 0x73; // i32.xor
uint8 constant OP_I32_SHL = 0x74; // i32.shl
uint8 constant OP_I32_SHR_S = 0x75; // i32.shr_s
uint8 constant OP_I32_SHR_U = 0x76; // i32.shr_u
uint8 constant OP_I32_ROTL = 0x77; // i32.rotl
uint8 constant OP_I32_ROTR = 0x78; // i32.rotr
uint8 constant OP_I64_CLZ = 0x79; // i64.clz
uint8 constant OP_I64_CTZ = 0x7a; // i64.ctz
uint8 constant OP_I64_POPCNT = 0x7b; // i64.popcnt
uint8 constant OP_I64_ADD = 0x7c; // i64.add
uint8 constant OP_I64_SUB = 0x7d; // i64.sub
uint8 constant OP_I64_MUL = 0x7e; // i64.mul
uint8 constant OP_I64_DIV_S = 0x7f; // i64.div_s
uint8 constant OP_I64_DIV_U = 0x80; // i64.div_u
uint8 constant OP_I64_REM_S = 0x81; // i64.rem_s
uint8 constant OP_I64_REM_U = 0x82; // i64.rem_u
uint8 constant OP_I64_AND = 0x83; // i64.and
uint8 constant OP_I64_OR = 0x84; // i64.or
uint8 constant OP_I64_XOR = 0x85; // i64.xor
uint8 constant OP_I64_SHL = 0x86; // i64.shl
uint8 constant OP_I64_SHR_S = 0x87; // i64.shr_s
uint8 constant OP_I64_SHR_U = 0x88; // i64.shr_u
uint8 constant OP_I64_ROTL = 0x89; // i64.rotl
uint8 constant OP_I64_ROTR = 0x8a; // i64.rotr
uint8 constant OP_I32_WRAP_I64 = 0xa7; // i32.wrap_i64
uint8 constant OP_I64_EXTEND_I32_S = 0xac; // i64.extend_i32_s
uint8 constant OP_I64_EXTEND_I32_U = 0xad; // i64.extend_i32_u
uint8 constant OP_I32_EXTEND8_S = 0xc0; // i32.extend8_s
uint8 constant OP_I32_EXTEND16_S = 0xc1; // i32.extend16_s
uint8 constant OP_I64_EXTEND8_S = 0xc2; // i64.extend8_s
uint8 constant OP_I64_EXTEND16_S = 0xc3; // i64.extend16_s
uint8 constant OP_I64_EXTEND32_S = 0xc4; // i64.extend32_s

// What a proof reveals per opcode: bit `op` of each bitmap. Stack values
// popped = POPS_1 + 2 * POPS_2, pushed = PUSHES; GROWS: pushes more than it
// pops (overflows a full stack); memory access width = 1 << (WIDTH_2 + 2 * WIDTH_4).
uint256 constant OPS_VALID = 0x000000000000001f00003080000007ffffffff8007ffffe67cfff31f000701ff;
uint256 constant OPS_POPS_1 = 0x000000000000001f00003080000000000e00038000010020003ff31600050038;
uint256 constant OPS_POPS_2 = 0x000000000000000000000000000007fff1fffc0007feffc07cc0000000060000;
uint256 constant OPS_PUSHES = 0x000000000000001f00003080000007ffffffff8007ffffe6003ff30d00060000;
uint256 constant OPS_GROWS = 0x0000000000000000000000000000000000000000000000060000000900000000;
uint256 constant OPS_FRAME = 0x0000000000000000000000000000000000000000000000000000000700000080;
uint256 constant OPS_LOCAL = 0x0000000000000000000000000000000000000000000000000000000700000000;
uint256 constant OPS_GLOBAL = 0x0000000000000000000000000000000000000000000000000000001800000000;
uint256 constant OPS_MEMORY = 0x0000000000000000000000000000000000000000000000007cfff30000000000;
uint256 constant OPS_WIDTH_2 = 0x000000000000000000000000000000000000000000000000288cc20000000000;
uint256 constant OPS_WIDTH_4 = 0x00000000000000000000000000000000000000000000000040f0030000000000;
