//! The lowered instruction set: one step executes exactly one instruction.
//!
//! Structured WebAssembly control flow is lowered to explicit jumps; every
//! instruction has the same fixed-width encoding (see [`Instr::encode`]), so
//! the code is a Merkle tree of 32-byte leaves, one instruction per leaf.

/// Declares the opcodes once: enum, `TryFrom<u8>`, names and the table used to
/// generate Solidity constants.
macro_rules! opcodes {
    ($($name:ident = $num:literal, $wat:literal;)*) => {
        /// A lowered opcode.
        #[repr(u8)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(missing_docs)]
        pub enum Op { $($name = $num,)* }

        impl Op {
            /// Every opcode, in numeric order.
            pub const ALL: &'static [Op] = &[$(Op::$name,)*];

            /// The WebAssembly text name (or a descriptive name for lowered-only ops).
            pub fn name(self) -> &'static str {
                match self { $(Op::$name => $wat,)* }
            }
        }

        impl TryFrom<u8> for Op {
            type Error = u8;
            fn try_from(v: u8) -> Result<Op, u8> {
                match v { $($num => Ok(Op::$name),)* other => Err(other) }
            }
        }
    };
}

opcodes! {
    // control
    Unreachable = 0x00, "unreachable";
    Nop = 0x01, "nop";
    Jump = 0x02, "jump";
    JumpIfZero = 0x03, "jump_if_zero";
    JumpIfNonZero = 0x04, "jump_if_nonzero";
    JumpTable = 0x05, "jump_table";
    Call = 0x06, "call";
    Return = 0x07, "return";
    Halt = 0x08, "halt";
    // parametric
    Drop = 0x10, "drop";
    DropUnder = 0x11, "drop_under";
    Select = 0x12, "select";
    // variables
    LocalGet = 0x20, "local.get";
    LocalSet = 0x21, "local.set";
    LocalTee = 0x22, "local.tee";
    GlobalGet = 0x23, "global.get";
    GlobalSet = 0x24, "global.set";
    // memory
    I32Load = 0x28, "i32.load";
    I64Load = 0x29, "i64.load";
    I32Load8S = 0x2c, "i32.load8_s";
    I32Load8U = 0x2d, "i32.load8_u";
    I32Load16S = 0x2e, "i32.load16_s";
    I32Load16U = 0x2f, "i32.load16_u";
    I64Load8S = 0x30, "i64.load8_s";
    I64Load8U = 0x31, "i64.load8_u";
    I64Load16S = 0x32, "i64.load16_s";
    I64Load16U = 0x33, "i64.load16_u";
    I64Load32S = 0x34, "i64.load32_s";
    I64Load32U = 0x35, "i64.load32_u";
    I32Store = 0x36, "i32.store";
    I64Store = 0x37, "i64.store";
    I32Store8 = 0x3a, "i32.store8";
    I32Store16 = 0x3b, "i32.store16";
    I64Store8 = 0x3c, "i64.store8";
    I64Store16 = 0x3d, "i64.store16";
    I64Store32 = 0x3e, "i64.store32";
    // constants
    I32Const = 0x41, "i32.const";
    I64Const = 0x42, "i64.const";
    // i32 comparisons
    I32Eqz = 0x45, "i32.eqz";
    I32Eq = 0x46, "i32.eq";
    I32Ne = 0x47, "i32.ne";
    I32LtS = 0x48, "i32.lt_s";
    I32LtU = 0x49, "i32.lt_u";
    I32GtS = 0x4a, "i32.gt_s";
    I32GtU = 0x4b, "i32.gt_u";
    I32LeS = 0x4c, "i32.le_s";
    I32LeU = 0x4d, "i32.le_u";
    I32GeS = 0x4e, "i32.ge_s";
    I32GeU = 0x4f, "i32.ge_u";
    // i64 comparisons
    I64Eqz = 0x50, "i64.eqz";
    I64Eq = 0x51, "i64.eq";
    I64Ne = 0x52, "i64.ne";
    I64LtS = 0x53, "i64.lt_s";
    I64LtU = 0x54, "i64.lt_u";
    I64GtS = 0x55, "i64.gt_s";
    I64GtU = 0x56, "i64.gt_u";
    I64LeS = 0x57, "i64.le_s";
    I64LeU = 0x58, "i64.le_u";
    I64GeS = 0x59, "i64.ge_s";
    I64GeU = 0x5a, "i64.ge_u";
    // i32 arithmetic
    I32Clz = 0x67, "i32.clz";
    I32Ctz = 0x68, "i32.ctz";
    I32Popcnt = 0x69, "i32.popcnt";
    I32Add = 0x6a, "i32.add";
    I32Sub = 0x6b, "i32.sub";
    I32Mul = 0x6c, "i32.mul";
    I32DivS = 0x6d, "i32.div_s";
    I32DivU = 0x6e, "i32.div_u";
    I32RemS = 0x6f, "i32.rem_s";
    I32RemU = 0x70, "i32.rem_u";
    I32And = 0x71, "i32.and";
    I32Or = 0x72, "i32.or";
    I32Xor = 0x73, "i32.xor";
    I32Shl = 0x74, "i32.shl";
    I32ShrS = 0x75, "i32.shr_s";
    I32ShrU = 0x76, "i32.shr_u";
    I32Rotl = 0x77, "i32.rotl";
    I32Rotr = 0x78, "i32.rotr";
    // i64 arithmetic
    I64Clz = 0x79, "i64.clz";
    I64Ctz = 0x7a, "i64.ctz";
    I64Popcnt = 0x7b, "i64.popcnt";
    I64Add = 0x7c, "i64.add";
    I64Sub = 0x7d, "i64.sub";
    I64Mul = 0x7e, "i64.mul";
    I64DivS = 0x7f, "i64.div_s";
    I64DivU = 0x80, "i64.div_u";
    I64RemS = 0x81, "i64.rem_s";
    I64RemU = 0x82, "i64.rem_u";
    I64And = 0x83, "i64.and";
    I64Or = 0x84, "i64.or";
    I64Xor = 0x85, "i64.xor";
    I64Shl = 0x86, "i64.shl";
    I64ShrS = 0x87, "i64.shr_s";
    I64ShrU = 0x88, "i64.shr_u";
    I64Rotl = 0x89, "i64.rotl";
    I64Rotr = 0x8a, "i64.rotr";
    // conversions
    I32WrapI64 = 0xa7, "i32.wrap_i64";
    I64ExtendI32S = 0xac, "i64.extend_i32_s";
    I64ExtendI32U = 0xad, "i64.extend_i32_u";
    I32Extend8S = 0xc0, "i32.extend8_s";
    I32Extend16S = 0xc1, "i32.extend16_s";
    I64Extend8S = 0xc2, "i64.extend8_s";
    I64Extend16S = 0xc3, "i64.extend16_s";
    I64Extend32S = 0xc4, "i64.extend32_s";
}

/// The variable an instruction reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// A local of the innermost frame.
    Local,
    /// A global.
    Global,
}

impl Var {
    /// `"local"` or `"global"`.
    pub const fn name(self) -> &'static str {
        match self {
            Var::Local => "local",
            Var::Global => "global",
        }
    }
}

/// What one instruction does to the value stack and what its proof reveals
/// besides the popped values (`docs/STATE.md`, "One-step proof").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Values popped (the stack underflows when it holds fewer).
    pub pops: u8,
    /// Values pushed (0 or 1).
    pub pushes: u8,
    /// Reads the innermost frame (`return` and the local ops).
    pub frame: bool,
    /// Reads or writes a local or a global.
    pub var: Option<Var>,
    /// Loads or stores memory.
    pub memory: bool,
}

impl Shape {
    const fn stack(pops: u8, pushes: u8) -> Shape {
        Shape {
            pops,
            pushes,
            frame: false,
            var: None,
            memory: false,
        }
    }

    const fn var(pops: u8, pushes: u8, var: Var) -> Shape {
        Shape {
            pops,
            pushes,
            frame: matches!(var, Var::Local),
            var: Some(var),
            memory: false,
        }
    }

    const fn memory(pops: u8, pushes: u8) -> Shape {
        Shape {
            memory: true,
            ..Shape::stack(pops, pushes)
        }
    }

    /// Whether the instruction leaves one more value on the stack than it
    /// found (`local.get`, `global.get`, the constants): it overflows a full stack.
    pub const fn grows(self) -> bool {
        self.pushes > self.pops
    }
}

impl Op {
    /// The opcode's [`Shape`].
    pub const fn shape(self) -> Shape {
        use Op::*;
        match self {
            Unreachable | Nop | Jump | Call | Halt => Shape::stack(0, 0),
            Return => Shape {
                frame: true,
                ..Shape::stack(0, 0)
            },
            I32Const | I64Const => Shape::stack(0, 1),
            JumpIfZero | JumpIfNonZero | JumpTable | Drop => Shape::stack(1, 0),
            DropUnder => Shape::stack(2, 1),
            Select => Shape::stack(3, 1),
            LocalGet => Shape::var(0, 1, Var::Local),
            LocalSet => Shape::var(1, 0, Var::Local),
            LocalTee => Shape::var(1, 1, Var::Local),
            GlobalGet => Shape::var(0, 1, Var::Global),
            GlobalSet => Shape::var(1, 0, Var::Global),
            I32Load | I64Load | I32Load8S | I32Load8U | I32Load16S | I32Load16U | I64Load8S
            | I64Load8U | I64Load16S | I64Load16U | I64Load32S | I64Load32U => Shape::memory(1, 1),
            I32Store | I64Store | I32Store8 | I32Store16 | I64Store8 | I64Store16 | I64Store32 => {
                Shape::memory(2, 0)
            }
            I32Eqz | I64Eqz | I32Clz | I32Ctz | I32Popcnt | I64Clz | I64Ctz | I64Popcnt
            | I32WrapI64 | I64ExtendI32S | I64ExtendI32U | I32Extend8S | I32Extend16S
            | I64Extend8S | I64Extend16S | I64Extend32S => Shape::stack(1, 1),
            _ => Shape::stack(2, 1),
        }
    }
}

/// One lowered instruction: an opcode and two immediates.
///
/// | op | `a` | `b` |
/// |---|---|---|
/// | `Jump`, `JumpIfZero`, `JumpIfNonZero` | target pc | 0 |
/// | `JumpTable` | number of targets `n` (the next `n + 1` instructions are jumps; the last is the default) | 0 |
/// | `Call` | callee entry pc | callee locals count |
/// | `LocalGet/Set/Tee`, `GlobalGet/Set` | index | 0 |
/// | loads and stores | 0 | static offset |
/// | `I32Const`, `I64Const` | 0 | value (i32 zero-extended) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instr {
    /// Opcode.
    pub op: Op,
    /// First immediate.
    pub a: u32,
    /// Second immediate.
    pub b: u64,
}

/// Bytes of one encoded instruction (one code Merkle leaf).
pub const INSTR_BYTES: usize = 32;

impl Instr {
    /// An instruction without immediates.
    pub const fn op(op: Op) -> Instr {
        Instr { op, a: 0, b: 0 }
    }

    /// The 32-byte leaf: `op (1) ‖ zero (19) ‖ a (4, big-endian) ‖ b (8, big-endian)`.
    /// Big-endian so Solidity reads the immediates with shifts of one word.
    pub fn encode(&self) -> [u8; INSTR_BYTES] {
        let mut out = [0u8; INSTR_BYTES];
        out[0] = self.op as u8;
        out[20..24].copy_from_slice(&self.a.to_be_bytes());
        out[24..32].copy_from_slice(&self.b.to_be_bytes());
        out
    }

    /// Decodes a leaf; `None` for an unknown opcode or nonzero padding.
    pub fn decode(bytes: &[u8; INSTR_BYTES]) -> Option<Instr> {
        if bytes[1..20].iter().any(|&b| b != 0) {
            return None;
        }
        let op = Op::try_from(bytes[0]).ok()?;
        let a = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        let b = u64::from_be_bytes(bytes[24..32].try_into().unwrap());
        Some(Instr { op, a, b })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_round_trip_through_u8() {
        for &op in Op::ALL {
            assert_eq!(Op::try_from(op as u8), Ok(op));
        }
        let known: std::collections::HashSet<u8> = Op::ALL.iter().map(|&o| o as u8).collect();
        for v in 0..=255u8 {
            assert_eq!(Op::try_from(v).is_ok(), known.contains(&v), "byte {v:#x}");
        }
    }

    #[test]
    fn instructions_round_trip_through_their_encoding() {
        for (i, &op) in Op::ALL.iter().enumerate() {
            let ins = Instr {
                op,
                a: i as u32 * 7919,
                b: u64::MAX - i as u64,
            };
            assert_eq!(Instr::decode(&ins.encode()), Some(ins));
        }
        let mut bad = Instr::op(Op::Nop).encode();
        bad[5] = 1;
        assert_eq!(Instr::decode(&bad), None);
    }
}
