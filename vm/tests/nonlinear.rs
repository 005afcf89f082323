//! Error bounds of the fixed-point nonlinearities against `f64`.
//!
//! Each test builds a one-node ONNX model, compiles it, runs it on a dense sweep
//! of inputs (every table knot, every midpoint between knots, pseudo-random
//! points, extremes) and asserts the largest error, in units of `2^-F`, stays
//! within the bound documented in `docs/FIXED_POINT.md`. The reference is
//! evaluated at the quantized input, so the numbers measure the kernels only.
//! Bounds are the measured maxima times about 1.5; run with `--nocapture` to
//! see the measurements, and with `NONLINEAR_MEASURE=1` to print them without
//! checking the bounds.

use opml_vm::compiler::{CompileOptions, compile_bytes};
use opml_vm::fixed::FixedFormat;
use opml_vm::npy::Tensor;
use opml_vm::runtime::Runtime;
use prost::Message;
use tract_onnx::pb;

// ---------------------------------------------------------------- model building

fn value_info(name: &str, shape: &[usize]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value as DV};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(DV::DimValue(d as i64)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn attr_str(name: &str, v: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn attr_int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

fn attr_float(name: &str, v: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Float as i32,
        f: v,
        ..Default::default()
    }
}

fn initializer(name: &str, shape: &[usize], data: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: 1,
        float_data: data.to_vec(),
        ..Default::default()
    }
}

/// A model with one `op` node: graph inputs `inputs` (float, given shapes),
/// constant inputs `inits` after them, one output `y` shaped like the first input.
fn one_node(
    op: &str,
    attrs: Vec<pb::AttributeProto>,
    inputs: &[(&str, &[usize])],
    inits: Vec<pb::TensorProto>,
    opset: i64,
) -> Vec<u8> {
    let mut node_inputs: Vec<String> = inputs.iter().map(|(n, _)| n.to_string()).collect();
    node_inputs.extend(inits.iter().map(|t| t.name.clone()));
    let graph = pb::GraphProto {
        name: format!("{op}_test"),
        node: vec![pb::NodeProto {
            name: format!("{}_0", op.to_lowercase()),
            op_type: op.into(),
            input: node_inputs,
            output: vec!["y".into()],
            attribute: attrs,
            ..Default::default()
        }],
        initializer: inits,
        input: inputs.iter().map(|(n, s)| value_info(n, s)).collect(),
        output: vec![value_info("y", inputs[0].1)],
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 9,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        producer_name: "opml-vm tests".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

fn compile(bytes: &[u8], frac_bits: u32) -> Runtime {
    let opts = CompileOptions {
        frac_bits: Some(frac_bits),
        ..Default::default()
    };
    let artifact = compile_bytes(bytes, "nonlinear", &opts).expect("compiles");
    Runtime::new(artifact, false).expect("loads")
}

fn tensor(shape: &[usize], xs: &[f64]) -> Tensor {
    Tensor::F32(
        ndarray::ArrayD::from_shape_vec(shape.to_vec(), xs.iter().map(|&x| x as f32).collect())
            .unwrap(),
    )
}

/// Runs the model on the given inputs; returns the raw output integers. The
/// native executor runs every planned call too, and must leave wasmtime's
/// memory, on all the extreme inputs of these sweeps.
fn run(rt: &Runtime, inputs: &[(&[usize], &[f64])]) -> Vec<i32> {
    let ts: Vec<Tensor> = inputs.iter().map(|(s, x)| tensor(s, x)).collect();
    let out = rt.run(&ts).expect("runs").outputs[0].raw.clone();
    let art = rt.artifact();
    let (plans, warnings) =
        opml_vm::compiler::plans::verify_plans(&art.wasm, &art.manifest, art.memory.len()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(plans.complete(), "every call of these models has a plan");
    let region = rt.input_region(&ts).unwrap();
    let calls = art.manifest.call_args();
    let wasm = rt.run_calls(&region, &calls, |_, _| Ok(())).unwrap();
    let executor = opml_vm::native::Executor::shared().unwrap();
    let native = rt
        .run_calls_native(&region, &calls, &plans, &executor, true, |_, _| Ok(()))
        .unwrap();
    assert!(
        wasm == native,
        "the native executor leaves other memory than wasmtime"
    );
    out
}

// ---------------------------------------------------------------- references

/// erf in f64: Maclaurin series below 2, the continued fraction of erfc above
/// (both precise to ~1e-15, far below any fixed-point resolution here).
fn erf(x: f64) -> f64 {
    let ax = x.abs();
    let r = if ax < 2.0 {
        let x2 = ax * ax;
        let (mut term, mut sum, mut n) = (ax, ax, 0.0);
        while term.abs() > 1e-18 * sum {
            n += 1.0;
            term *= -x2 / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else {
        // erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
        let mut f = ax;
        for k in (1..200).rev() {
            f = ax + (k as f64 / 2.0) / f;
        }
        1.0 - (-ax * ax).exp() / (f * std::f64::consts::PI.sqrt())
    };
    r.copysign(x)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

fn gelu_tanh(x: f64) -> f64 {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
}

#[test]
fn reference_erf_is_accurate() {
    for (x, want) in [
        (0.1, 0.1124629160182849),
        (0.5, 0.5204998778130465),
        (1.0, 0.8427007929497149),
        (2.0, 0.9953222650189527),
        (2.9, 0.9999589021219005),
        (3.0, 0.9999779095030014),
        (3.5, 0.9999992569016276),
        (-1.5, -0.9661051464753108),
    ] {
        assert!((erf(x) - want).abs() < 1e-14, "erf({x}) = {}", erf(x));
    }
    // erfc(4)
    assert!(((1.0 - erf(4.0)) - 1.541725790028002e-8).abs() < 1e-15);
}

// ---------------------------------------------------------------- sweeps

/// Deterministic pseudo-random numbers in [0, 1) (64-bit LCG, top 53 bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

/// Inputs for a table on `[lo, lo + span)` in format `fmt`: every knot, every
/// midpoint between knots, `random` uniform points over the table domain
/// widened by `margin` on each side, and `extra` values. All on the Q(F) grid.
fn table_sweep(
    fmt: FixedFormat,
    lo: f64,
    span: f64,
    margin: f64,
    random: usize,
    extra: &[f64],
) -> Vec<f64> {
    let step = span / 2048.0;
    let mut xs = Vec::new();
    for i in 0..=2048 {
        xs.push(lo + i as f64 * step);
        if i < 2048 {
            xs.push(lo + (i as f64 + 0.5) * step);
        }
    }
    let mut rng = Lcg(0x5eed ^ fmt.frac_bits as u64);
    for _ in 0..random {
        xs.push(rng.uniform(lo - margin, lo + span + margin));
    }
    xs.extend_from_slice(extra);
    xs.iter().map(|&x| on_grid(fmt, x)).collect()
}

/// `x` rounded to the Q(F) grid (then exact in f32 when |x| < 2^(24-F)).
fn on_grid(fmt: FixedFormat, x: f64) -> f64 {
    fmt.dequantize(fmt.quantize(x as f32 as f64))
}

/// The real value of a reference result as the format stores it: saturated.
fn saturated(fmt: FixedFormat, v: f64) -> f64 {
    v.clamp(i32::MIN as f64 / fmt.scale(), i32::MAX as f64 / fmt.scale())
}

/// The largest error in units of 2^-F of `raw` against `reference(x)`, with the
/// error at each point divided by `max(1, |reference|)` when `relative`.
struct Measured {
    max: f64,
    at: f64,
    got: f64,
    want: f64,
}

fn measure(
    fmt: FixedFormat,
    xs: &[f64],
    raw: &[i32],
    reference: impl Fn(usize, f64) -> f64,
    relative: bool,
) -> Measured {
    let mut m = Measured {
        max: 0.0,
        at: f64::NAN,
        got: f64::NAN,
        want: f64::NAN,
    };
    for (i, (&x, &q)) in xs.iter().zip(raw).enumerate() {
        let want = saturated(fmt, reference(i, x));
        let got = fmt.dequantize(q);
        let mut e = (got - want).abs() * fmt.scale();
        if relative {
            e /= want.abs().max(1.0);
        }
        if e > m.max {
            m = Measured {
                max: e,
                at: x,
                got,
                want,
            };
        }
    }
    m
}

fn check(name: &str, fmt: FixedFormat, m: &Measured, bound: f64) {
    eprintln!(
        "{name:<28} F={:<2} max error {:>8.3} units (bound {bound}) at x={} (got {}, want {})",
        fmt.frac_bits, m.max, m.at, m.got, m.want
    );
    if std::env::var_os("NONLINEAR_MEASURE").is_some() {
        return; // measuring only: print, never fail
    }
    assert!(
        m.max <= bound,
        "{name} F={}: error {} units > bound {bound} at x={}: got {}, want {}",
        fmt.frac_bits,
        m.max,
        m.at,
        m.got,
        m.want
    );
}

/// Compiles a one-input elementwise `op`, runs it on `xs` and checks the error.
#[allow(clippy::too_many_arguments)]
fn elementwise(
    name: &str,
    op: &str,
    attrs: Vec<pb::AttributeProto>,
    opset: i64,
    f: u32,
    xs: &[f64],
    reference: impl Fn(f64) -> f64,
    relative: bool,
    bound: f64,
) -> Vec<i32> {
    let fmt = FixedFormat::new(f);
    let shape = [1, xs.len()];
    let rt = compile(&one_node(op, attrs, &[("x", &shape)], vec![], opset), f);
    let raw = run(&rt, &[(&shape, xs)]);
    let m = measure(fmt, xs, &raw, |_, x| reference(x), relative);
    check(name, fmt, &m, bound);
    raw
}

const EXTREMES: &[f64] = &[0.0, 1e-6, -1e-6, 100.0, -100.0, 1e4, -1e4, 1e9, -1e9];

fn max_q(fmt: FixedFormat) -> f64 {
    fmt.max_value()
}

// ---------------------------------------------------------------- bounded tables

#[test]
fn tanh() {
    for (f, bound) in [(12, 2.0), (16, 2.5), (20, 10.5)] {
        let fmt = FixedFormat::new(f);
        let xs = table_sweep(fmt, -8.0, 16.0, 2.0, 4096, EXTREMES);
        let raw = elementwise("Tanh", "Tanh", vec![], 17, f, &xs, f64::tanh, false, bound);
        // saturating inputs stay at +-1
        let one = 1i32 << f;
        let n = xs.len();
        assert_eq!(&raw[n - 2..], &[one, -one], "tanh(+-1e9)");
    }
}

#[test]
fn sigmoid_table() {
    for (f, bound) in [(12, 2.0), (16, 2.0), (20, 6.5)] {
        let fmt = FixedFormat::new(f);
        let xs = table_sweep(fmt, -16.0, 32.0, 4.0, 4096, EXTREMES);
        let raw = elementwise(
            "Sigmoid",
            "Sigmoid",
            vec![],
            17,
            f,
            &xs,
            sigmoid,
            false,
            bound,
        );
        let n = xs.len();
        assert_eq!(&raw[n - 2..], &[1 << f, 0], "sigmoid(+-1e9)");
    }
}

#[test]
fn erf_table() {
    for (f, bound) in [(12, 2.0), (16, 2.25), (20, 5.0)] {
        let fmt = FixedFormat::new(f);
        let xs = table_sweep(fmt, -4.0, 8.0, 2.0, 4096, EXTREMES);
        elementwise("Erf", "Erf", vec![], 17, f, &xs, erf, false, bound);
    }
}

#[test]
fn gelu_exact_and_tanh() {
    // GELU = x * table(x): the table error is multiplied by |x| (up to 8 in the
    // table domain), hence the larger bounds.
    for (f, bound) in [(12, 5.0), (16, 6.5), (20, 8.0)] {
        let fmt = FixedFormat::new(f);
        let xs = table_sweep(fmt, -8.0, 16.0, 4.0, 4096, &[0.0, 100.0, -100.0, 1e4, -1e4]);
        let raw = elementwise(
            "Gelu(approximate=none)",
            "Gelu",
            vec![attr_str("approximate", "none")],
            20,
            f,
            &xs,
            gelu,
            false,
            bound,
        );
        let n = xs.len();
        assert_eq!(raw[n - 2], fmt.quantize(1e4), "gelu(1e4) = 1e4");
        assert_eq!(raw[n - 1], 0, "gelu(-1e4) = 0");
        elementwise(
            "Gelu(approximate=tanh)",
            "Gelu",
            vec![attr_str("approximate", "tanh")],
            20,
            f,
            &xs,
            gelu_tanh,
            false,
            bound,
        );
    }
}

#[test]
fn gelu_large_values_saturate() {
    let fmt = FixedFormat::new(16);
    let xs = [1e9, -1e9, max_q(fmt), 32767.0, -32768.0];
    let shape = [1, xs.len()];
    let rt = compile(
        &one_node(
            "Gelu",
            vec![attr_str("approximate", "none")],
            &[("x", &shape)],
            vec![],
            20,
        ),
        16,
    );
    let raw = run(&rt, &[(&shape, &xs)]);
    assert_eq!(raw, [i32::MAX, 0, i32::MAX, 32767 << 16, 0]);
}

// ---------------------------------------------------------------- exp

fn exp_inputs(fmt: FixedFormat) -> Vec<f64> {
    let hi = fmt.max_value().ln() + 0.5; // just past saturation
    let mut rng = Lcg(7 + fmt.frac_bits as u64);
    let mut xs: Vec<f64> = (0..8192).map(|_| rng.uniform(-24.0, hi)).collect();
    // the integers (n boundaries of 2^n are near multiples of ln 2) and ln 2 multiples
    xs.extend((-24..=hi as i32).map(|i| i as f64));
    xs.extend(
        (-34..=(hi / std::f64::consts::LN_2) as i32).map(|i| i as f64 * std::f64::consts::LN_2),
    );
    xs.extend_from_slice(&[-1e9, -100.0, -30.0, 0.0, 1e-6, -1e-6]);
    xs.into_iter().map(|x| on_grid(fmt, x)).collect()
}

#[test]
fn exp_error() {
    // error in units of 2^-F, divided by max(1, exp(x)): absolute below 1,
    // relative (units of 2^-F per unit of output) above.
    for (f, bound) in [(12, 2.25), (16, 2.75), (20, 2.75)] {
        let fmt = FixedFormat::new(f);
        let xs = exp_inputs(fmt);
        elementwise("Exp", "Exp", vec![], 17, f, &xs, f64::exp, true, bound);
    }
}

#[test]
fn exp_saturates() {
    for f in [12, 16, 20, 22] {
        let fmt = FixedFormat::new(f);
        let top = fmt.max_value().ln();
        let xs = [
            1e9,
            top + 0.01,
            top + 1.0,
            27.0,
            28.0,
            40.0,
            fmt.max_value(),
            -1e9,
        ];
        let xs: Vec<f64> = xs.iter().map(|&x| on_grid(fmt, x)).collect();
        let shape = [1, xs.len()];
        let rt = compile(&one_node("Exp", vec![], &[("x", &shape)], vec![], 17), f);
        let raw = run(&rt, &[(&shape, &xs)]);
        assert_eq!(
            raw,
            [
                i32::MAX,
                i32::MAX,
                i32::MAX,
                i32::MAX,
                i32::MAX,
                i32::MAX,
                i32::MAX,
                0
            ],
            "exp saturation at F={f}"
        );
    }
}

#[test]
fn exp_saturates_high_frac_bits() {
    for f in [23, 24] {
        let fmt = FixedFormat::new(f);
        let xs = [28.0, 30.0, 40.0, fmt.max_value()];
        let shape = [1, xs.len()];
        let rt = compile(&one_node("Exp", vec![], &[("x", &shape)], vec![], 17), f);
        assert_eq!(
            run(&rt, &[(&shape, &xs)]),
            [i32::MAX; 4],
            "exp saturation at F={f}"
        );
    }
}

// ---------------------------------------------------------------- sqrt, reciprocal, div

#[test]
fn sqrt_error() {
    // floor(sqrt(x 2^F)): below one unit, never above the true root.
    for f in [12, 16, 20] {
        let fmt = FixedFormat::new(f);
        let top = fmt.max_value();
        let mut rng = Lcg(11);
        let mut xs: Vec<f64> = (0..4096).map(|_| rng.uniform(0.0, 4.0)).collect();
        xs.extend((0..4096).map(|_| rng.uniform(0.0, top).min(top)));
        xs.extend((0..64).map(|i| (i * i) as f64 / 16.0)); // exact roots
        xs.extend_from_slice(&[1.0 / fmt.scale(), 2.0 / fmt.scale(), top, 1e9]);
        let xs: Vec<f64> = xs.into_iter().map(|x| on_grid(fmt, x)).collect();
        let raw = elementwise("Sqrt", "Sqrt", vec![], 17, f, &xs, f64::sqrt, false, 1.0);
        for (&x, &q) in xs.iter().zip(&raw) {
            assert!(fmt.dequantize(q) <= x.sqrt(), "sqrt({x}) rounds down");
        }
    }
    // negative inputs give 0
    let shape = [1, 4];
    let rt = compile(&one_node("Sqrt", vec![], &[("x", &shape)], vec![], 17), 16);
    assert_eq!(run(&rt, &[(&shape, &[-1.0, -1e9, -1e-4, 0.0])]), [0; 4]);
}

#[test]
fn reciprocal_error() {
    // trunc(2^(2F) / q): below one unit, rounded toward zero.
    for f in [12, 16, 20] {
        let fmt = FixedFormat::new(f);
        let mut rng = Lcg(13);
        let min = 1.0 / fmt.max_value() * 1.01;
        let mut xs: Vec<f64> = (0..4096)
            .map(|i| {
                // log-uniform magnitudes over the non-saturating range
                let m = (min.ln() + rng.next() * (fmt.max_value().ln() - min.ln())).exp();
                if i % 2 == 0 { m } else { -m }
            })
            .collect();
        xs.extend((1..64).map(|i| i as f64 / 8.0));
        let xs: Vec<f64> = xs.into_iter().map(|x| on_grid(fmt, x)).collect();
        let raw = elementwise(
            "Reciprocal",
            "Reciprocal",
            vec![],
            17,
            f,
            &xs,
            |x| 1.0 / x,
            false,
            1.0,
        );
        for (&x, &q) in xs.iter().zip(&raw) {
            assert!(
                fmt.dequantize(q).abs() <= (1.0 / x).abs(),
                "1/{x} rounds toward zero"
            );
        }
    }
    // 1/0 and 1/(one unit) saturate; 1/max is two units
    let fmt = FixedFormat::new(16);
    let shape = [1, 4];
    let rt = compile(
        &one_node("Reciprocal", vec![], &[("x", &shape)], vec![], 17),
        16,
    );
    let r = fmt.resolution();
    assert_eq!(
        run(&rt, &[(&shape, &[0.0, r, -r, 1e9])]),
        [i32::MAX, i32::MAX, i32::MIN, 2]
    );
}

#[test]
fn div_error_and_zero_semantics() {
    for f in [12, 16, 20] {
        let fmt = FixedFormat::new(f);
        let mut rng = Lcg(17);
        let n = 8192;
        let mut a: Vec<f64> = (0..n).map(|_| rng.uniform(-100.0, 100.0)).collect();
        let mut b: Vec<f64> = (0..n)
            .map(|i| {
                let m = (rng.next() * 12.0 - 4.0).exp(); // 0.018 .. 2981
                if i % 2 == 0 { m } else { -m }
            })
            .collect();
        // exact quotients and zero numerators
        a.extend([6.0, -6.0, 0.0, 1.0, 7.5]);
        b.extend([3.0, 3.0, 5.0, 3.0, -2.5]);
        let a: Vec<f64> = a.into_iter().map(|x| on_grid(fmt, x)).collect();
        let b: Vec<f64> = b.into_iter().map(|x| on_grid(fmt, x)).collect();
        let shape = [1, a.len()];
        let rt = compile(
            &one_node("Div", vec![], &[("a", &shape), ("b", &shape)], vec![], 17),
            f,
        );
        let raw = run(&rt, &[(&shape, &a), (&shape, &b)]);
        let m = measure(fmt, &a, &raw, |i, x| x / b[i], false);
        check("Div", fmt, &m, 1.0);
        for (i, &q) in raw.iter().enumerate() {
            assert!(
                fmt.dequantize(q).abs() <= (a[i] / b[i]).abs(),
                "{}/{} rounds toward zero",
                a[i],
                b[i]
            );
        }
    }
    // division by zero: saturated sign of the numerator, 0/0 = 0; large quotients saturate
    let shape = [1, 7];
    let rt = compile(
        &one_node("Div", vec![], &[("a", &shape), ("b", &shape)], vec![], 17),
        16,
    );
    let raw = run(
        &rt,
        &[
            (&shape, &[3.0, -3.0, 0.0, 1e4, -1e4, 1e4, 1e-4]),
            (&shape, &[0.0, 0.0, 0.0, 1e-3, 1e-3, -1e-3, 1e4]),
        ],
    );
    assert_eq!(
        raw,
        [i32::MAX, i32::MIN, 0, i32::MAX, i32::MIN, i32::MIN, 0]
    );
}

// ---------------------------------------------------------------- row operators

/// `rows` rows of `len` values; row r has scale `scales[r % scales.len()]` and
/// a random offset of up to that scale.
fn random_rows(fmt: FixedFormat, rows: usize, len: usize, scales: &[f64], seed: u64) -> Vec<f64> {
    let mut rng = Lcg(seed);
    let mut xs = Vec::with_capacity(rows * len);
    for r in 0..rows {
        let s = scales[r % scales.len()];
        let off = rng.uniform(-s, s);
        for _ in 0..len {
            xs.push(on_grid(fmt, off + rng.uniform(-s, s)));
        }
    }
    xs
}

fn softmax_ref(row: &[f64], log: bool) -> Vec<f64> {
    let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = row.iter().map(|x| (x - m).exp()).sum();
    row.iter()
        .map(|x| {
            if log {
                x - m - sum.ln()
            } else {
                (x - m).exp() / sum
            }
        })
        .collect()
}

fn row_op(
    name: &str,
    f: u32,
    model: &[u8],
    shape: &[usize],
    xs: &[f64],
    reference: impl Fn(&[f64]) -> Vec<f64>,
    bound: f64,
) -> Vec<i32> {
    let fmt = FixedFormat::new(f);
    let rt = compile(model, f);
    let raw = run(&rt, &[(shape, xs)]);
    let len = *shape.last().unwrap();
    let want: Vec<f64> = xs.chunks(len).flat_map(&reference).collect();
    let m = measure(fmt, xs, &raw, |i, _| want[i], false);
    check(name, fmt, &m, bound);
    raw
}

#[test]
fn softmax_error() {
    let scales = [0.1, 1.0, 4.0, 16.0];
    // (a single long row: the kernel unrolls up to 16 rows, each row fully)
    for (f, rows, len, bound) in [
        (12, 256, 16, 6.0),
        (16, 256, 16, 7.0),
        (20, 256, 16, 9.5),
        (16, 1, 1000, 1.5),
    ] {
        let fmt = FixedFormat::new(f);
        let shape = [rows, len];
        let scales: &[f64] = if rows == 1 { &[4.0] } else { &scales };
        let xs = random_rows(fmt, rows, len, scales, 19 + len as u64);
        let model = one_node(
            "Softmax",
            vec![attr_int("axis", -1)],
            &[("x", &shape)],
            vec![],
            17,
        );
        row_op(
            &format!("Softmax[{len}]"),
            f,
            &model,
            &shape,
            &xs,
            |r| softmax_ref(r, false),
            bound,
        );
    }
    // extreme rows: one dominant element gets exactly 1
    let shape = [2, 4];
    let model = one_node(
        "Softmax",
        vec![attr_int("axis", -1)],
        &[("x", &shape)],
        vec![],
        17,
    );
    let rt = compile(&model, 16);
    let raw = run(
        &rt,
        &[(&shape, &[1e9, -1e9, 0.0, 5.0, -1e9, -1e9, -1e9, -1e9])],
    );
    assert_eq!(raw, [1 << 16, 0, 0, 0, 1 << 14, 1 << 14, 1 << 14, 1 << 14]);
}

#[test]
fn log_softmax_error() {
    let scales = [0.1, 1.0, 4.0, 16.0];
    // (a single long row: the kernel unrolls up to 16 rows, each row fully)
    for (f, rows, len, bound) in [
        (12, 256, 16, 10.0),
        (16, 256, 16, 10.0),
        (20, 256, 16, 10.0),
        (16, 1, 1000, 9.0),
    ] {
        let fmt = FixedFormat::new(f);
        let shape = [rows, len];
        let scales: &[f64] = if rows == 1 { &[4.0] } else { &scales };
        let xs = random_rows(fmt, rows, len, scales, 23 + len as u64);
        let model = one_node(
            "LogSoftmax",
            vec![attr_int("axis", -1)],
            &[("x", &shape)],
            vec![],
            17,
        );
        row_op(
            &format!("LogSoftmax[{len}]"),
            f,
            &model,
            &shape,
            &xs,
            |r| softmax_ref(r, true),
            bound,
        );
    }
    // far below the maximum: saturates at the most negative value
    let shape = [1, 2];
    let model = one_node(
        "LogSoftmax",
        vec![attr_int("axis", -1)],
        &[("x", &shape)],
        vec![],
        17,
    );
    let raw = run(&compile(&model, 16), &[(&shape, &[30000.0, -30000.0])]);
    assert_eq!(raw, [0, i32::MIN]);
}

fn layer_norm_model(shape: &[usize], gamma: &[f32], beta: &[f32]) -> Vec<u8> {
    let len = *shape.last().unwrap();
    one_node(
        "LayerNormalization",
        vec![attr_int("axis", -1), attr_float("epsilon", 1e-5)],
        &[("x", shape)],
        vec![
            initializer("gamma", &[len], gamma),
            initializer("beta", &[len], beta),
        ],
        17,
    )
}

#[test]
fn layer_norm_error() {
    // The normalized value is (x - mean) / sd with sd = floor(sqrt(var)) in Q(F):
    // the error grows like |y| / (sd * 2^F), so the bound is stated per input scale.
    let len = 64;
    let mut rng = Lcg(29);
    let gamma: Vec<f32> = (0..len).map(|_| rng.uniform(0.5, 2.0) as f32).collect();
    let beta: Vec<f32> = (0..len).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    for (f, scale, bound) in [
        (16, 0.1, 96.0),
        (16, 1.0, 9.0),
        (16, 10.0, 3.5),
        (12, 1.0, 9.5),
        (20, 1.0, 9.5),
    ] {
        let fmt = FixedFormat::new(f);
        let rows = 64;
        let shape = [rows, len];
        let xs = random_rows(fmt, rows, len, &[scale], 31);
        let g: Vec<f64> = gamma.iter().map(|&v| on_grid(fmt, v as f64)).collect();
        let b: Vec<f64> = beta.iter().map(|&v| on_grid(fmt, v as f64)).collect();
        let model = layer_norm_model(&shape, &gamma, &beta);
        row_op(
            &format!("LayerNorm[64] scale {scale}"),
            f,
            &model,
            &shape,
            &xs,
            |r| {
                let n = r.len() as f64;
                let mean = r.iter().sum::<f64>() / n;
                let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
                let sd = (var + 1e-5).sqrt();
                r.iter()
                    .enumerate()
                    .map(|(j, x)| (x - mean) / sd * g[j] + b[j])
                    .collect()
            },
            bound,
        );
    }
}

#[test]
fn layer_norm_large_values() {
    // rows of +-30000 (near the top of Q16): the normalized values are +-1
    let shape = [1, 16];
    let model = layer_norm_model(&shape, &[1.0; 16], &[0.0; 16]);
    let xs: Vec<f64> = (0..16)
        .map(|i| if i % 2 == 0 { 30000.0 } else { -30000.0 })
        .collect();
    let raw = run(&compile(&model, 16), &[(&shape, &xs)]);
    let want: Vec<i32> = (0..16)
        .map(|i| if i % 2 == 0 { 1 << 16 } else { -(1 << 16) })
        .collect();
    for (q, w) in raw.iter().zip(&want) {
        assert!((q - w).abs() <= 2, "layer norm of +-30000: got {raw:?}");
    }
}

// ---------------------------------------------------------------- casts

/// `x -> Cast(to) -> Cast(FLOAT) -> y`.
fn cast_model(to: i32, shape: &[usize]) -> Vec<u8> {
    let node = |i: usize, input: &str, output: &str, to: i32| pb::NodeProto {
        name: format!("cast_{i}"),
        op_type: "Cast".into(),
        input: vec![input.into()],
        output: vec![output.into()],
        attribute: vec![attr_int("to", to as i64)],
        ..Default::default()
    };
    let graph = pb::GraphProto {
        name: "cast_test".into(),
        node: vec![node(0, "x", "t", to), node(1, "t", "y", 1)],
        input: vec![value_info("x", shape)],
        output: vec![value_info("y", shape)],
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 9,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "opml-vm tests".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Casts to INT64 truncate toward zero, to BOOL give 1 for nonzero, and
/// back to FLOAT give the integer; the native kernels agree on every value.
#[test]
fn casts_truncate_toward_zero() {
    let fmt = FixedFormat::new(16);
    let xs: Vec<f64> = [
        -3.75, -2.0, -1.5, -1.0, -0.5, -1e-5, 0.0, 1e-5, 0.5, 1.0, 1.5, 2.25, 30000.9,
    ]
    .into_iter()
    .chain((0..200).map(|i| (i as f64 - 100.0) * 0.37))
    .collect();
    let shape = [xs.len()];
    for (to, want) in [
        (7, f64::trunc as fn(f64) -> f64),
        (9, |x: f64| f64::from(x != 0.0)),
    ] {
        let rt = compile(&cast_model(to, &shape), fmt.frac_bits);
        let got = run(&rt, &[(&shape, &xs)]);
        for (x, g) in xs.iter().zip(&got) {
            // the input as the model stores it
            let q = fmt.quantize(*x) as f64 / fmt.scale();
            assert_eq!(*g, fmt.quantize(want(q)), "Cast(to={to}) of {x}");
        }
    }
}

// ---------------------------------------------------------------- pow

/// Pow with each kind of constant scalar exponent (the base itself, a
/// square root, a reciprocal, repeated products, `exp(e ln x)`) stays close
/// to `x^e` for moderate bases; `run` checks the native kernels on every
/// input, negative and zero ones included.
#[test]
fn pow_scalar_exponents() {
    let fmt = FixedFormat::new(16);
    let xs: Vec<f64> = (0..400).map(|i| (i as f64 - 200.0) / 37.0).collect();
    let shape = [xs.len()];
    for e in [1.0f32, 0.5, -1.0, 3.0, 2.5] {
        let model = one_node(
            "Pow",
            vec![],
            &[("x", &shape)],
            vec![initializer("e", &[], &[e])],
            13,
        );
        let rt = compile(&model, fmt.frac_bits);
        let got = run(&rt, &[(&shape, &xs)]);
        for (x, g) in xs.iter().zip(&got) {
            let q = fmt.quantize(*x) as f64 / fmt.scale();
            if !(0.25..=4.0).contains(&q) {
                continue;
            }
            let want = q.powf(e as f64);
            let err = (*g as f64 / fmt.scale() - want).abs();
            assert!(err <= 1e-3 * want.abs().max(1.0), "{q}^{e}: {g} vs {want}");
        }
    }
}

// ---------------------------------------------------------------- normalizer

/// `x -> ai.onnx.ml.Normalizer(norm) -> y` over rows of `shape`.
fn normalizer_model(norm: &str, shape: &[usize]) -> Vec<u8> {
    let graph = pb::GraphProto {
        name: "normalizer_test".into(),
        node: vec![pb::NodeProto {
            name: "normalizer_0".into(),
            op_type: "Normalizer".into(),
            domain: "ai.onnx.ml".into(),
            input: vec!["x".into()],
            output: vec!["y".into()],
            attribute: vec![attr_str("norm", norm)],
            ..Default::default()
        }],
        input: vec![value_info("x", shape)],
        output: vec![value_info("y", shape)],
        ..Default::default()
    };
    let opset = |domain: &str, version| pb::OperatorSetIdProto {
        domain: domain.into(),
        version,
    };
    pb::ModelProto {
        ir_version: 9,
        opset_import: vec![opset("", 13), opset("ai.onnx.ml", 1)],
        producer_name: "opml-vm tests".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Each norm of the ONNX-ML Normalizer divides the rows by what it should
/// (MAX from 0, L1, L2), and the native kernel agrees on every row,
/// all-zero and negative ones included.
#[test]
fn normalizer_norms() {
    let fmt = FixedFormat::new(16);
    let shape = [6, 5];
    let xs: Vec<f64> = [
        [1.0, -2.0, 3.0, 0.5, -0.25],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [-1.0, -2.0, -3.0, -4.0, -5.0],
        [10.0, 20.0, -30.0, 0.125, 2.5],
        [0.01, 0.02, 0.03, 0.04, 0.05],
        [7.0, 0.0, 0.0, 0.0, 0.0],
    ]
    .concat();
    for norm in ["MAX", "L1", "L2"] {
        let rt = compile(&normalizer_model(norm, &shape), fmt.frac_bits);
        let got = run(&rt, &[(&shape, &xs)]);
        for (row, out) in xs.chunks(5).zip(got.chunks(5)) {
            let q: Vec<f64> = row
                .iter()
                .map(|&x| fmt.quantize(x) as f64 / fmt.scale())
                .collect();
            let n = match norm {
                "MAX" => q.iter().fold(0.0f64, |m, &x| m.max(x)),
                "L1" => q.iter().map(|x| x.abs()).sum(),
                _ => q.iter().map(|x| x * x).sum::<f64>().sqrt(),
            };
            if n < 0.5 {
                continue; // the saturated quotients of tiny or zero norms
            }
            for (x, y) in q.iter().zip(out) {
                let err = (*y as f64 / fmt.scale() - x / n).abs();
                assert!(err <= 1e-3, "{norm} of {row:?}: {y} vs {}", x / n);
            }
        }
    }
}
