//! End-to-end tests of the `opml` binary: every fixture compiles and runs
//! deterministically across processes, and every kind of bad input gets one
//! clear error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURES: &[&str] = &[
    "mlp_digits",
    "cnn_digits",
    "transformer_block",
    "mlp784",
    "logreg_digits",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn opml(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_opml"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run opml")
}

fn ok(args: &[&str]) -> String {
    let out = opml(args);
    assert!(
        out.status.success(),
        "opml {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs opml expecting failure; returns stderr.
fn fails(args: &[&str]) -> String {
    let out = opml(args);
    assert!(
        !out.status.success(),
        "opml {args:?} unexpectedly succeeded"
    );
    assert_eq!(out.status.code(), Some(2), "exit code");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err.trim().lines().count(),
        1,
        "one clear error line, got:\n{err}"
    );
    err
}

fn compile(model: &str, dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["compile", model, "-o", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    ok(&args)
}

/// Writes a minimal `.npy` file (format 1.0) with the given descr.
fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).expect("valid JSON")
}

#[test]
fn every_fixture_is_deterministic_across_processes() {
    let tmp = tempfile::tempdir().unwrap();
    for f in FIXTURES {
        let model = format!("fixtures/{f}/model.onnx");
        let input = format!("fixtures/{f}/input.npy");
        let (a, b) = (
            tmp.path().join(format!("{f}-a")),
            tmp.path().join(format!("{f}-b")),
        );
        compile(&model, &a, &[]);
        compile(&model, &b, &[]);
        for file in ["module.wasm", "memory.bin", "manifest.json"] {
            assert_eq!(
                std::fs::read(a.join(file)).unwrap(),
                std::fs::read(b.join(file)).unwrap(),
                "{f}: {file} differs between compiles"
            );
        }
        let r1 = json(&ok(&[
            "run",
            a.to_str().unwrap(),
            "--input",
            &input,
            "--json",
        ]));
        let r2 = json(&ok(&[
            "run",
            b.to_str().unwrap(),
            "--input",
            &input,
            "--json",
        ]));
        assert_eq!(r1, r2, "{f}: runs in separate processes differ");
        assert_eq!(r1["output_blake3"].as_str().unwrap().len(), 64);
        let manifest = json(&std::fs::read_to_string(a.join("manifest.json")).unwrap());
        // measured at compile time on a zero input, again here on a real one
        assert_eq!(
            r1["instructions"], manifest["instructions"],
            "{f}: instruction count is data-independent"
        );
        let per_layer: u64 = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["instructions"].as_u64().unwrap())
            .sum();
        assert!(
            per_layer < manifest["instructions"].as_u64().unwrap(),
            "{f}: the entry's calls are counted too"
        );
    }
}

#[test]
fn outputs_match_the_float_model() {
    let tmp = tempfile::tempdir().unwrap();
    for f in FIXTURES {
        let dir = tmp.path().join(f);
        compile(&format!("fixtures/{f}/model.onnx"), &dir, &[]);
        let r = json(&ok(&[
            "run",
            dir.to_str().unwrap(),
            "--input",
            &format!("fixtures/{f}/input.npy"),
            "--json",
        ]));
        let got: Vec<f64> = r["output"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let bytes = std::fs::read(root().join(format!("fixtures/{f}/output.npy"))).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let want: Vec<f64> = bytes[10 + header_len..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect();
        assert_eq!(got.len(), want.len(), "{f}");
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        let err = got
            .iter()
            .zip(&want)
            .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            err <= 1e-3 * scale.max(1.0),
            "{f}: max abs error {err} (scale {scale})"
        );
    }
}

#[test]
fn inspect_and_named_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("two");
    compile("fixtures/errors/two_inputs.onnx", &dir, &[]);
    let a = tmp.path().join("a.npy");
    let b = tmp.path().join("b.npy");
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    write_npy(&a, "<f4", &[1, 4], &f32s(&[1.0, 2.0, 3.0, 4.0]));
    write_npy(&b, "<f4", &[1, 4], &f32s(&[0.5, -2.0, 0.25, 10.0]));
    let d = dir.to_str().unwrap();
    let r = json(&ok(&[
        "run",
        d,
        "--input",
        &format!("b={}", b.display()),
        "--input",
        &format!("a={}", a.display()),
        "--json",
    ]));
    assert_eq!(
        r["output"]["values"],
        serde_json::json!([1.5, 0.0, 3.25, 14.0])
    );
    let text = ok(&["inspect", d]);
    assert!(
        text.contains("inputs") && text.contains("region 0x"),
        "{text}"
    );
    let m = json(&ok(&["inspect", d, "--json"]));
    assert_eq!(m["inputs"]["tensors"][1]["name"], "b");
}

#[test]
fn int64_inputs_index_a_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gather");
    compile("fixtures/errors/int_input.onnx", &dir, &[]);
    let ids = tmp.path().join("ids.npy");
    let data: Vec<u8> = [2i64, 0, 9].iter().flat_map(|x| x.to_le_bytes()).collect();
    write_npy(&ids, "<i8", &[1, 3], &data);
    let r = json(&ok(&[
        "run",
        dir.to_str().unwrap(),
        "--input",
        ids.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(r["output"]["shape"], serde_json::json!([1, 3, 4]));
}

#[test]
fn input_shape_flag_fixes_symbolic_dimensions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dyn");
    compile(
        "fixtures/errors/dynamic_dim.onnx",
        &dir,
        &["--input-shape", "x=1x5x8"],
    );
    let m = json(&ok(&["inspect", dir.to_str().unwrap(), "--json"]));
    assert_eq!(
        m["inputs"]["tensors"][0]["shape"],
        serde_json::json!([1, 5, 8])
    );
}

#[test]
fn bad_inputs_get_one_clear_error_each() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |p: &str| tmp.path().join(p);

    // malformed ONNX bytes
    std::fs::write(
        t("garbage.onnx"),
        b"\x08\x07this is not a protobuf model\xff\xff",
    )
    .unwrap();
    let e = fails(&[
        "compile",
        t("garbage.onnx").to_str().unwrap(),
        "-o",
        t("x").to_str().unwrap(),
    ]);
    assert!(e.contains("is not a valid ONNX model"), "{e}");

    // unsupported op: names the op, the node and the supported list
    let e = fails(&[
        "compile",
        "fixtures/errors/unsupported_op.onnx",
        "-o",
        t("x").to_str().unwrap(),
    ]);
    assert!(
        e.contains("`LSTM`")
            && e.contains("`lstm_0`")
            && e.contains("supported ops: ")
            && e.contains("Conv"),
        "{e}"
    );

    // unresolved dynamic dimension: names the input, the symbol and the flag
    let e = fails(&[
        "compile",
        "fixtures/errors/dynamic_dim.onnx",
        "-o",
        t("x").to_str().unwrap(),
    ]);
    assert!(
        e.contains("input `x`") && e.contains("`seq`") && e.contains("--input-shape x=1xNx8"),
        "{e}"
    );

    // --input-shape for an input that does not exist
    let e = fails(&[
        "compile",
        "fixtures/errors/dynamic_dim.onnx",
        "-o",
        t("x").to_str().unwrap(),
        "--input-shape",
        "y=1x2x8",
    ]);
    assert!(
        e.contains("names no input") && e.contains("(inputs: x)"),
        "{e}"
    );

    // missing model file
    let e = fails(&[
        "compile",
        "fixtures/none.onnx",
        "-o",
        t("x").to_str().unwrap(),
    ]);
    assert!(
        e.contains("fixtures/none.onnx") && e.contains("No such file"),
        "{e}"
    );

    let art = t("mlp");
    compile("fixtures/mlp_digits/model.onnx", &art, &[]);
    let a = art.to_str().unwrap();

    // missing input file
    let e = fails(&["run", a, "--input", t("nope.npy").to_str().unwrap()]);
    assert!(e.contains("nope.npy") && e.contains("No such file"), "{e}");

    // missing artifact
    let e = fails(&[
        "run",
        t("no-artifact").to_str().unwrap(),
        "--input",
        "fixtures/mlp_digits/input.npy",
    ]);
    assert!(
        e.contains("no such directory") && e.contains("opml compile"),
        "{e}"
    );

    // wrong input shape
    let e = fails(&["run", a, "--input", "fixtures/cnn_digits/input.npy"]);
    assert!(
        e.contains("expects shape [1, 64]") && e.contains("[1, 1, 8, 8]"),
        "{e}"
    );

    // wrong dtype: int64 data for a float input, and an unsupported float64 file
    let ints: Vec<u8> = (0..64i64).flat_map(|x| x.to_le_bytes()).collect();
    write_npy(&t("ints.npy"), "<i8", &[1, 64], &ints);
    let e = fails(&["run", a, "--input", t("ints.npy").to_str().unwrap()]);
    assert!(e.contains("expects float32") && e.contains("int64"), "{e}");
    let doubles: Vec<u8> = (0..64).flat_map(|x| (x as f64).to_le_bytes()).collect();
    write_npy(&t("doubles.npy"), "<f8", &[1, 64], &doubles);
    let e = fails(&["run", a, "--input", t("doubles.npy").to_str().unwrap()]);
    assert!(e.contains("`<f8`") && e.contains("float32 or int64"), "{e}");

    // tampered artifact: one byte of the memory image changed
    let mut mem = std::fs::read(art.join("memory.bin")).unwrap();
    mem[100] ^= 1;
    std::fs::write(art.join("memory.bin"), mem).unwrap();
    let e = fails(&["run", a, "--input", "fixtures/mlp_digits/input.npy"]);
    assert!(
        e.contains("`memory.bin` was modified") && e.contains("compile the model again"),
        "{e}"
    );

    // tampered module
    let art2 = t("mlp2");
    compile("fixtures/mlp_digits/model.onnx", &art2, &[]);
    let mut wasm = std::fs::read(art2.join("module.wasm")).unwrap();
    let n = wasm.len();
    wasm[n - 1] ^= 0x55;
    std::fs::write(art2.join("module.wasm"), wasm).unwrap();
    let e = fails(&["inspect", art2.to_str().unwrap()]);
    assert!(e.contains("`module.wasm` was modified"), "{e}");

    // out-of-range fractional bits
    let e = fails(&[
        "compile",
        "fixtures/mlp_digits/model.onnx",
        "-o",
        t("x").to_str().unwrap(),
        "--frac-bits",
        "40",
    ]);
    assert!(
        e.contains("--frac-bits 40") && e.contains("supported range"),
        "{e}"
    );
}

#[test]
fn calibration_picks_a_format() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cal");
    let out = json(&ok(&[
        "compile",
        "fixtures/mlp_digits/model.onnx",
        "-o",
        dir.to_str().unwrap(),
        "--calibrate",
        "fixtures/mlp_digits/calib.npy",
        "--json",
    ]));
    let f = out["frac_bits"].as_u64().unwrap();
    assert!((12..=22).contains(&f), "calibrated frac bits {f}");
}

#[test]
fn prove_verify_state_and_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    compile("fixtures/logreg_digits/model.onnx", &dir, &[]);
    let d = dir.to_str().unwrap();
    let x = "fixtures/logreg_digits/input.npy";
    let run = json(&ok(&["run", d, "--input", x, "--commit", "--json"]));
    let n = run["steps"].as_u64().unwrap();
    assert_eq!(run["final_state"].as_str().unwrap().len(), 64);

    // the state at N is the final state of `run`
    let last = json(&ok(&[
        "state",
        d,
        "--input",
        x,
        "--step",
        &n.to_string(),
        "--json",
    ]));
    assert_eq!(last["state"], run["final_state"]);
    assert_eq!(last["status"], "halted");

    let p = tmp.path().join("p.json");
    let proof = json(&ok(&[
        "prove",
        d,
        "--input",
        x,
        "--step",
        "1234",
        "-o",
        p.to_str().unwrap(),
        "--json",
    ]));
    let next = json(&ok(&["state", d, "--input", x, "--step", "1235", "--json"]));
    assert_eq!(proof["post_state"], next["state"]);
    let v = json(&ok(&["verify-step", p.to_str().unwrap(), "--json"]));
    assert_eq!(v["valid"], true);
    assert_eq!(v["post_state"], next["state"]);

    // a truncated proof, a wrong version and a false claim exit 1
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let hex = file["proof"].as_str().unwrap().to_string();
    let variants = [
        ("truncated", hex[..hex.len() - 64].to_string(), None),
        ("version", format!("07{}", &hex[2..]), None),
        ("claim", hex.clone(), Some("00".repeat(32))),
    ];
    for (what, proof_hex, claim) in variants {
        file["proof"] = serde_json::Value::String(proof_hex);
        if let Some(c) = claim {
            file["post_state"] = serde_json::Value::String(c);
        }
        let bad = tmp.path().join(format!("{what}.json"));
        std::fs::write(&bad, file.to_string()).unwrap();
        let out = opml(&["verify-step", bad.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{what}");
        let err = String::from_utf8_lossy(&out.stderr);
        let expect = match what {
            "truncated" => "truncated",
            "version" => "version 7",
            _ => "not the claimed post_state",
        };
        assert!(err.contains(expect), "{what}: {err}");
    }

    // a step beyond N
    let e = fails(&[
        "prove",
        d,
        "--input",
        x,
        "--step",
        &(n + 1).to_string(),
        "-o",
        p.to_str().unwrap(),
    ]);
    assert!(e.contains("beyond the end of the run"), "{e}");

    // trace: hashes at 0, K, 2K, ... and N
    let t = tmp.path().join("trace.jsonl");
    ok(&[
        "trace",
        d,
        "--input",
        x,
        "--every",
        "1000",
        "-o",
        t.to_str().unwrap(),
    ]);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&t)
        .unwrap()
        .lines()
        .map(json)
        .collect();
    assert_eq!(lines.len() as u64, n.div_ceil(1000) + 1);
    assert_eq!(lines[1]["step"], 1000);
    assert_eq!(lines.last().unwrap()["state"], run["final_state"]);
}

#[test]
fn verify_step_in_the_evm() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    compile("fixtures/logreg_digits/model.onnx", &dir, &[]);
    let d = dir.to_str().unwrap();
    let x = "fixtures/logreg_digits/input.npy";
    let p = tmp.path().join("p.json");
    // step 2002 is an `i64.load32_s`: a memory proof, the largest kind
    let proof = json(&ok(&[
        "prove",
        d,
        "--input",
        x,
        "--step",
        "2002",
        "-o",
        p.to_str().unwrap(),
        "--json",
    ]));
    let path = p.to_str().unwrap();

    // both verifiers accept, with the same post-state, and the gas adds up
    let v = json(&ok(&["verify-step", path, "--evm", "--json"]));
    assert_eq!(v["agree"], true, "{v}");
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["rust"]["post_state"], proof["post_state"]);
    assert_eq!(v["evm"]["post_state"], proof["post_state"]);
    let gas = &v["evm"]["gas"];
    let (total, calldata, execution) = (
        gas["total"].as_u64().unwrap(),
        gas["calldata"].as_u64().unwrap(),
        gas["execution"].as_u64().unwrap(),
    );
    assert_eq!(proof["opcode"], "i64.load32_s");
    assert!(execution > 0 && calldata > 0, "{gas}");
    assert_eq!(total, 21_000 + calldata + execution);
    assert!(v["evm"]["calldata_bytes"].as_u64().unwrap() >= proof["proof_bytes"].as_u64().unwrap());
    let text = ok(&["verify-step", path, "--evm"]);
    assert!(
        text.contains("rust: valid proof") && text.contains("evm:  valid proof"),
        "{text}"
    );

    // a truncated proof: both reject it with the same error, exit 1
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let hex = file["proof"].as_str().unwrap().to_string();
    file["proof"] = serde_json::Value::String(hex[..hex.len() - 2].to_string());
    let bad = tmp.path().join("truncated.json");
    std::fs::write(&bad, file.to_string()).unwrap();
    let out = opml(&["verify-step", bad.to_str().unwrap(), "--evm", "--json"]);
    assert_eq!(out.status.code(), Some(1), "both reject: exit 1");
    let v = json(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(v["agree"], true, "{v}");
    assert_eq!(v["valid"], false);
    assert_eq!(v["evm"]["error_name"], "ProofTruncated");
    assert_eq!(v["rust"]["error_name"], "ProofTruncated");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("truncated"), "{err}");
}

/// Reads a little-endian float64 `.npy` file (the fixture script's references).
fn read_f64_npy(path: &Path) -> Vec<f64> {
    let bytes = std::fs::read(path).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert!(String::from_utf8_lossy(&bytes[10..10 + header_len]).contains("<f8"));
    bytes[10 + header_len..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// The CI-sized MiniLM (same graph as all-MiniLM-L6-v2): text in through its
/// tokenizer gives what its token files give; every sentence of the fixture
/// embeds at cosine >= 0.999 to the float64 reference; `state` and `prove`
/// take text too.
#[test]
fn minilm_takes_text_and_matches_the_float_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("minilm");
    compile("fixtures/minilm_tiny/model.onnx", &dir, &[]);
    let d = dir.to_str().unwrap();
    let tok = "fixtures/minilm_tiny/tokenizer.json";
    let sentences: serde_json::Value =
        json(&std::fs::read_to_string(root().join("fixtures/minilm_tiny/sentences.json")).unwrap());
    let sentences: Vec<&str> = sentences["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let reference = read_f64_npy(&root().join("fixtures/minilm_tiny/reference.npy"));
    let width = reference.len() / sentences.len();
    let values = |r: &serde_json::Value| -> Vec<f64> {
        r["output"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };

    let by_tokens = json(&ok(&[
        "run",
        d,
        "--input",
        "attention_mask=fixtures/minilm_tiny/input_attention_mask.npy",
        "--input",
        "input_ids=fixtures/minilm_tiny/input_input_ids.npy",
        "--json",
    ]));
    let mut worst = 1f64;
    for (k, s) in sentences.iter().enumerate() {
        let r = json(&ok(&["run", d, "--text", s, "--tokenizer", tok, "--json"]));
        if k == 0 {
            assert_eq!(r, by_tokens, "text and token files give the same run");
        }
        let c = cosine(&values(&r), &reference[k * width..(k + 1) * width]);
        worst = worst.min(c);
        assert!(
            c >= 0.999,
            "sentence {k}: cosine {c} to the float reference"
        );
    }
    assert!(sentences.len() >= 20);
    println!(
        "minilm_tiny: worst cosine {worst:.7} over {} sentences",
        sentences.len()
    );

    // the tokenizer is found in the artifact directory too
    std::fs::copy(root().join(tok), dir.join("tokenizer.json")).unwrap();
    let text = sentences[0];
    let n = by_tokens["steps"].as_u64().unwrap();
    let at = (n / 2).to_string();
    let state = json(&ok(&["state", d, "--text", text, "--step", &at, "--json"]));
    let p = tmp.path().join("p.json");
    let proof = json(&ok(&[
        "prove",
        d,
        "--text",
        text,
        "--step",
        &at,
        "-o",
        p.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(proof["pre_state"], state["state"]);
    let v = json(&ok(&["verify-step", p.to_str().unwrap(), "--json"]));
    assert_eq!(v["valid"], true);

    // text for a model without token inputs, and a missing tokenizer, are refused clearly
    let digits = tmp.path().join("digits");
    compile("fixtures/logreg_digits/model.onnx", &digits, &[]);
    let e = fails(&[
        "run",
        digits.to_str().unwrap(),
        "--text",
        "hi",
        "--tokenizer",
        tok,
    ]);
    assert!(e.contains("not a tokenizer output"), "{e}");
    let e = fails(&["run", digits.to_str().unwrap(), "--text", "hi"]);
    assert!(e.contains("--tokenizer"), "{e}");
    let out = opml(&["run", d, "--text", "hi", "--input", "x.npy"]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("cannot be used with"), "{e}");
}

/// The file of a game about the artifact in `dir` on an all-zero input whose
/// claim is the honest run and in which nobody has moved yet: what `opml
/// dispute replay` needs, without a chain.
fn unplayed_game(dir: &Path, outcome: Option<opml::dispute::Outcome>) -> opml::dispute::GameFile {
    use alloy::primitives::{Address, B256, Bytes, U256};
    use opml::dispute::{ClaimRecord, GameFile, GameRecord, RequestRecord};
    use opml_vm::machine::model::{ModelVm, model_id, unhex};
    use opml_vm::trace::{TraceProvider as _, VmTrace};
    let art = opml_vm::artifact::Artifact::load(dir).unwrap();
    let id = B256::from(unhex(&model_id(&art.manifest)).unwrap());
    let trace = VmTrace::open(std::sync::Arc::new(ModelVm::checked(art).unwrap()), &[]).unwrap();
    let claim = trace.claim();
    let (defender, challenger) = (Address::repeat_byte(0xde), Address::repeat_byte(0xc4));
    let start = B256::from(trace.initial_state());
    let end = B256::from(claim.final_state);
    GameFile {
        version: opml::dispute::GAME_FILE_VERSION,
        chain_id: 31_337,
        market: Address::repeat_byte(0xaa),
        dispute_game: Address::repeat_byte(0xbb),
        params: opml_onchain::protocol::MarketParams::default(),
        game_id: 1,
        model_id: id,
        request: RequestRecord {
            id: 1,
            requester: Address::repeat_byte(0x11),
            fee: U256::from(1),
            initial_state: start,
            input: Bytes::new(),
            block: 1,
        },
        claim: ClaimRecord {
            id: 1,
            submitter: defender,
            final_state: end,
            steps: claim.steps,
            output: claim.output.clone().into(),
            stake: U256::from(2),
            block: 2,
        },
        game: GameRecord {
            defender,
            challenger,
            start,
            end,
            steps: claim.steps,
            block: 3,
            timestamp: 1_700_000_000,
        },
        moves: vec![],
        outcome,
    }
}

fn write_game(path: &Path, g: &opml::dispute::GameFile) {
    std::fs::write(path, serde_json::to_string_pretty(g).unwrap()).unwrap();
}

/// `opml dispute replay --model X.onnx` on a model with dynamic axes: without
/// `--input-shape` it fails with the compiler's advice, which names the flag;
/// with it (the shapes the artifact was compiled with) it replays. An
/// artifact directory refuses the flag.
#[test]
fn dispute_replay_compiles_an_onnx_model_with_input_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let art = tmp.path().join("dyn");
    let model = "fixtures/errors/dynamic_dim.onnx";
    compile(model, &art, &["--input-shape", "x=1x3x8"]);
    let game = tmp.path().join("game.json");
    write_game(&game, &unplayed_game(&art, None));
    let g = game.to_str().unwrap();

    let out = opml(&["dispute", "replay", g, "--model", model, "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: cannot compile `fixtures/errors/dynamic_dim.onnx` for the replay")
            && last.contains("`seq`")
            && last.contains("--input-shape x=1xNx8"),
        "{err}"
    );

    let r = json(&ok(&[
        "dispute",
        "replay",
        g,
        "--model",
        model,
        "--input-shape",
        "x=1x3x8",
        "--json",
    ]));
    let g_file = opml::dispute::GameFile::load(&game).unwrap();
    assert_eq!(r["model"]["id"], serde_json::json!(g_file.model_id));
    assert_eq!(r["honest"]["claim_final_state_true"], true);
    assert_eq!(r["model"]["name"], "dynamic_dim");

    // another shape is another model: refused by its id, not compiled silently
    let out = opml(&[
        "dispute",
        "replay",
        g,
        "--model",
        model,
        "--input-shape",
        "x=1x4x8",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("but this artifact is model"),
        "{err}"
    );

    let e = fails(&[
        "dispute",
        "replay",
        g,
        "--model",
        art.to_str().unwrap(),
        "--input-shape",
        "x=1x3x8",
    ]);
    assert!(
        e.contains("is an artifact directory") && e.contains("drop --input-shape"),
        "{e}"
    );
}

/// The replay names a model compiled from `model.onnx` by its folder and
/// counts its layers as `opml inspect` does, saying which have steps; the
/// money names the voided bond's bounty and burn as the file records them.
#[test]
fn dispute_replay_names_the_model_counts_layers_and_shows_the_voided_bond() {
    let tmp = tempfile::tempdir().unwrap();
    let art = tmp.path().join("art");
    let model = "fixtures/transformer_block/model.onnx";
    compile(model, &art, &[]);
    let eth = |milli: u64| {
        alloy::primitives::U256::from(milli) * alloy::primitives::U256::from(10u64.pow(15))
    };
    let challenger = alloy::primitives::Address::repeat_byte(0xc4);
    let outcome = opml::dispute::Outcome {
        status: "challenger_won".into(),
        by_timeout: true,
        block: 9,
        winner: Some(challenger),
        payout: eth(122),
        burned: eth(0),
        voided: Some(opml::dispute::Voided {
            beneficiary: challenger,
            bounty: eth(496),
            burned: eth(500),
        }),
        closed: None,
    };
    let game = tmp.path().join("game.json");
    write_game(&game, &unplayed_game(&art, Some(outcome)));
    let g = game.to_str().unwrap();
    let html = tmp.path().join("report.html");

    let manifest = json(&std::fs::read_to_string(art.join("manifest.json")).unwrap());
    let layers = manifest["layers"].as_array().unwrap();
    let with_steps = layers
        .iter()
        .filter(|l| !l["function"].is_null() && l["steps"].as_u64().unwrap() > 0)
        .count();
    assert!(
        with_steps < layers.len(),
        "the fixture has layers without steps (reshapes)"
    );
    let breakdown = format!(
        "{with_steps} with steps, {} reshapes that only rename memory",
        layers.len() - with_steps
    );
    let counted = format!("{} layers ({breakdown})", layers.len());
    let inspect = ok(&["inspect", art.to_str().unwrap()]);
    assert!(
        inspect.contains(&format!("layers     {}: {breakdown}", layers.len())),
        "{inspect}"
    );

    for source in [model, art.to_str().unwrap()] {
        let text = ok(&[
            "dispute",
            "replay",
            g,
            "--model",
            source,
            "--html",
            html.to_str().unwrap(),
        ]);
        let want = if source == model {
            "model transformer_block ("
        } else {
            "model art ("
        };
        assert!(text.contains(want), "{source}: {text}");
        assert!(text.contains(&counted), "{source}: {text}");
        for want in [
            "GameSettled: 0.122 ETH to the challenger",
            "ClaimVoided: 0.496 ETH to the challenger",
            "ClaimVoided: 0.5 ETH burnt",
            "in all: 0.618 ETH to the challenger",
        ] {
            assert!(text.contains(want), "no {want:?} in {text}");
        }
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(
            page.contains(&counted),
            "{source}: the report's layer count"
        );
    }
    let r = json(&ok(&["dispute", "replay", g, "--model", model, "--json"]));
    assert_eq!(r["model"]["name"], "transformer_block");
    assert_eq!(r["model"]["manifest_layers"], layers.len());
    assert_eq!(r["model"]["layers"].as_array().unwrap().len(), with_steps);
    assert_eq!(r["money"]["burned"], serde_json::json!(eth(500)));
}

/// `run --json` carries every output with its dtype, integers as integers;
/// `prediction` is the model's own label, or the argmax of class scores, and
/// absent for an embedding. The text form prints integers as integers.
#[test]
fn run_reports_every_output_and_a_prediction_only_where_one_means_something() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |fixture: &str, input: &[&str]| {
        let dir = tmp.path().join(fixture);
        compile(&format!("fixtures/{fixture}/model.onnx"), &dir, &[]);
        let d = dir.to_str().unwrap().to_string();
        let mut args = vec!["run", d.as_str()];
        for i in input {
            args.extend(["--input", i]);
        }
        let text = ok(&args);
        args.push("--json");
        (json(&ok(&args)), text)
    };

    // skl2onnx classifier: `label` int64 [1] and `probabilities` float [1, 10]
    let (r, text) = run("mlp_digits", &["fixtures/mlp_digits/input.npy"]);
    let outputs = r["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 2, "{r}");
    assert_eq!(outputs[0]["name"], "label");
    assert_eq!(outputs[0]["dtype"], "int64");
    let label = outputs[0]["values"][0].as_i64().expect("an integer");
    assert!(
        !outputs[0]["values"].to_string().contains('.'),
        "{}",
        outputs[0]
    );
    assert_eq!(outputs[1]["dtype"], "float32");
    assert_eq!(r["output"]["name"], "probabilities", "first float output");
    assert_eq!(r["prediction"], label);
    assert_eq!(r["prediction_from"], "label");
    let probs: Vec<f64> = outputs[1]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let best = (0..probs.len())
        .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
        .unwrap();
    assert_eq!(best as i64, label, "the label is the most probable class");
    assert!(text.contains(&format!("label [1]: [{label}]\n")), "{text}");
    assert!(
        text.contains(&format!("prediction: {label} (the model's `label`)")),
        "{text}"
    );

    // logits: the argmax
    let (r, text) = run("mlp784", &["fixtures/mlp784/input.npy"]);
    assert_eq!(r["prediction_from"], "logits");
    assert!(r["prediction"].is_i64(), "{r}");
    assert!(text.contains("(argmax of `logits`)"), "{text}");

    // an embedding has no prediction
    let (r, text) = run(
        "minilm_tiny",
        &[
            "attention_mask=fixtures/minilm_tiny/input_attention_mask.npy",
            "input_ids=fixtures/minilm_tiny/input_input_ids.npy",
        ],
    );
    assert_eq!(r["outputs"][0]["name"], "embedding");
    assert!(r.get("prediction").is_none(), "{r}");
    assert!(r.get("prediction_from").is_none(), "{r}");
    assert!(!text.contains("prediction"), "{text}");
}

/// `opml run` gives the same outputs, final state and output root with the
/// native executor (the default) as with wasmtime; an artifact whose plan was
/// edited (here one product's shift) runs that layer in wasmtime, with a
/// warning naming it, and still gives wasmtime's results.
#[test]
fn engines_agree_and_an_edited_plan_falls_back_to_wasmtime() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["mlp784", "transformer_block"] {
        let dir = tmp.path().join(f);
        compile(&format!("fixtures/{f}/model.onnx"), &dir, &[]);
        let d = dir.to_str().unwrap();
        let x = format!("fixtures/{f}/input.npy");
        let run = |engine: &str| {
            let args = [
                "run", d, "--input", &x, "--commit", "--json", "--engine", engine,
            ];
            let out = opml(&args);
            assert!(
                out.status.success(),
                "{f} {engine}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            (
                json(&String::from_utf8_lossy(&out.stdout)),
                String::from_utf8_lossy(&out.stderr).to_string(),
            )
        };
        let (mut native, stderr) = run("native");
        assert!(stderr.is_empty(), "{f}: {stderr}");
        let (mut wasm, _) = run("wasm");
        assert_eq!(native["engine"], "native");
        assert_eq!(wasm["engine"], "wasm");
        native["engine"].take();
        wasm["engine"].take();
        assert_eq!(native, wasm, "{f}: the engines differ");

        let manifest_path = dir.join("manifest.json");
        let mut manifest = json(&std::fs::read_to_string(&manifest_path).unwrap());
        let layer = manifest["layers"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|l| l["plan"][0]["mat_mul"].is_object())
            .expect("a planned product");
        let shift = layer["plan"][0]["mat_mul"]["spec"]["shift"]
            .as_u64()
            .unwrap();
        layer["plan"][0]["mat_mul"]["spec"]["shift"] = (shift + 1).into();
        let name = layer["name"].as_str().unwrap().to_string();
        std::fs::write(&manifest_path, manifest.to_string()).unwrap();
        let (mut edited, stderr) = run("native");
        assert!(
            stderr.contains("warning") && stderr.contains(&format!("layer `{name}`")),
            "{f}: {stderr}"
        );
        edited["engine"].take();
        assert_eq!(edited, wasm, "{f}: an edited plan changed the results");
    }
}
