//! Helpers of the gas report (`examples/gas.rs`): opcode families, summary
//! statistics and the marked section of `docs/BENCHMARKS.md` that the report
//! owns.

use opml_vm::machine::Op;

/// A family of opcodes, as grouped in `vm/src/machine/isa.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// Jumps, calls, returns, halt, unreachable.
    Control,
    /// `drop`, `drop_under`, `select`.
    Parametric,
    /// `local.*` and `global.*`.
    Variables,
    /// Loads.
    MemoryLoads,
    /// Stores.
    MemoryStores,
    /// `i32.const`, `i64.const`.
    Constants,
    /// `eqz`, `eq`, `lt`, ... of both widths.
    Comparisons,
    /// Arithmetic and bit operations of both widths.
    Arithmetic,
    /// Wraps and extensions.
    Conversions,
}

impl Family {
    /// Every family, in report order.
    pub const ALL: [Family; 9] = [
        Family::Control,
        Family::Parametric,
        Family::Variables,
        Family::MemoryLoads,
        Family::MemoryStores,
        Family::Constants,
        Family::Comparisons,
        Family::Arithmetic,
        Family::Conversions,
    ];

    /// The family of `op`.
    pub fn of(op: Op) -> Family {
        match op as u8 {
            0x00..=0x0f => Family::Control,
            0x10..=0x1f => Family::Parametric,
            0x20..=0x27 => Family::Variables,
            0x28..=0x35 => Family::MemoryLoads,
            0x36..=0x3f => Family::MemoryStores,
            0x40..=0x44 => Family::Constants,
            0x45..=0x5a => Family::Comparisons,
            0x5b..=0xa6 => Family::Arithmetic,
            _ => Family::Conversions,
        }
    }

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Control => "control",
            Family::Parametric => "parametric",
            Family::Variables => "variables",
            Family::MemoryLoads => "memory loads",
            Family::MemoryStores => "memory stores",
            Family::Constants => "constants",
            Family::Comparisons => "comparisons",
            Family::Arithmetic => "arithmetic",
            Family::Conversions => "conversions",
        }
    }

    /// The execution-gas target of one step: 60,000 for memory instructions,
    /// 30,000 for the others (stack, variables, arithmetic, control).
    pub fn gas_target(self) -> u64 {
        match self {
            Family::MemoryLoads | Family::MemoryStores => 60_000,
            _ => 30_000,
        }
    }
}

/// Median and maximum of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Sample size.
    pub count: usize,
    /// Median (the lower middle element for an even count); 0 when empty.
    pub median: u64,
    /// Maximum; 0 when empty.
    pub max: u64,
}

impl Summary {
    /// Summarizes `values` (sorted in place).
    pub fn of(values: &mut [u64]) -> Summary {
        values.sort_unstable();
        Summary {
            count: values.len(),
            median: values
                .get(values.len().saturating_sub(1) / 2)
                .copied()
                .unwrap_or(0),
            max: values.last().copied().unwrap_or(0),
        }
    }
}

/// Replaces the text between the lines `begin` and `end` in `doc` with
/// `body` (markers kept), or appends the marked block at the end when the
/// markers are absent. Text outside the markers is never changed. `Err` when
/// only one marker is present, or `end` comes first.
pub fn replace_section(doc: &str, begin: &str, end: &str, body: &str) -> Result<String, String> {
    let body = body.trim_end_matches('\n');
    match (doc.find(begin), doc.find(end)) {
        (Some(b), Some(e)) if b < e => {
            let start = b + begin.len();
            Ok(format!("{}\n{body}\n{}", &doc[..start], &doc[e..]))
        }
        (None, None) => {
            let sep = if doc.is_empty() || doc.ends_with("\n\n") {
                ""
            } else if doc.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            Ok(format!("{doc}{sep}{begin}\n{body}\n{end}\n"))
        }
        _ => Err(format!(
            "the markers `{begin}` and `{end}` are not both present in order; fix the file by hand"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_has_the_family_of_its_isa_group() {
        use Op::*;
        let table = [
            (Unreachable, Family::Control),
            (Halt, Family::Control),
            (Select, Family::Parametric),
            (GlobalSet, Family::Variables),
            (I32Load, Family::MemoryLoads),
            (I64Load32U, Family::MemoryLoads),
            (I32Store, Family::MemoryStores),
            (I64Store32, Family::MemoryStores),
            (I64Const, Family::Constants),
            (I32Eqz, Family::Comparisons),
            (I64GeU, Family::Comparisons),
            (I32Clz, Family::Arithmetic),
            (I64Rotr, Family::Arithmetic),
            (I32WrapI64, Family::Conversions),
            (I64Extend32S, Family::Conversions),
        ];
        for (op, f) in table {
            assert_eq!(Family::of(op), f, "{op:?}");
        }
        // every family has an opcode
        for f in Family::ALL {
            assert!(Op::ALL.iter().any(|&op| Family::of(op) == f), "{f:?}");
        }
    }

    #[test]
    fn summaries() {
        assert_eq!(Summary::of(&mut []), Summary::default());
        let s = Summary::of(&mut [5, 1, 9, 3]);
        assert_eq!((s.count, s.median, s.max), (4, 3, 9));
        assert_eq!(Summary::of(&mut [7, 2, 4]).median, 4);
    }

    #[test]
    fn sections_are_replaced_or_appended_and_nothing_else_changes() {
        let (b, e) = ("<!-- BEGIN x -->", "<!-- END x -->");
        let cases = [
            ("", "<!-- BEGIN x -->\nnew\n<!-- END x -->\n"),
            ("# T\n", "# T\n\n<!-- BEGIN x -->\nnew\n<!-- END x -->\n"),
            ("# T", "# T\n\n<!-- BEGIN x -->\nnew\n<!-- END x -->\n"),
            (
                "a\n<!-- BEGIN x -->\nold\nold\n<!-- END x -->\nz\n",
                "a\n<!-- BEGIN x -->\nnew\n<!-- END x -->\nz\n",
            ),
            (
                "a<!-- BEGIN x --><!-- END x -->",
                "a<!-- BEGIN x -->\nnew\n<!-- END x -->",
            ),
        ];
        for (doc, want) in cases {
            assert_eq!(
                replace_section(doc, b, e, "new\n").unwrap(),
                want,
                "{doc:?}"
            );
            // idempotent
            let once = replace_section(doc, b, e, "new").unwrap();
            assert_eq!(replace_section(&once, b, e, "new").unwrap(), once);
        }
        for bad in [
            "<!-- BEGIN x -->",
            "<!-- END x -->",
            "<!-- END x --><!-- BEGIN x -->",
        ] {
            assert!(replace_section(bad, b, e, "new").is_err(), "{bad:?}");
        }
    }
}
