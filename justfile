# Routine tasks. Run through ./dev (which installs just), e.g. `./dev test`.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"

# List the recipes.
default:
    @just --list

# Install what the tasks need beyond Rust: the Python env for fixture scripts.
setup:
    test -x {{venv}}/bin/python || python3 -m venv {{venv}}
    {{venv}}/bin/pip install --quiet -r fixtures/requirements.txt

# The main job: compile a fixture model, run it, print the prediction.
demo model="mlp784":
    cargo run --release --quiet --bin opml -- compile fixtures/{{model}}/model.onnx -o out/{{model}}
    cargo run --release --quiet --bin opml -- run out/{{model}} --input fixtures/{{model}}/input.npy

# Formatting and lints (rustfmt, clippy -D warnings).
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings

# The whole test suite: lints, every test, and the benchmarks on CI-sized inputs.
test: lint
    cargo test --workspace --doc --quiet
    cargo bench --profile dev -p opml-vm --bench inference -- --quick > /dev/null
    cargo nextest run --workspace --lib --bins --tests --no-fail-fast

# Benchmarks (release); writes docs/BENCHMARKS.md.
bench:
    cargo bench -p opml-vm --bench inference -- --write docs/BENCHMARKS.md

# Accuracy of the compiled models against their float models; writes docs/ACCURACY.md.
accuracy:
    cargo run --release -p opml-vm --example accuracy -- docs/ACCURACY.md

# ONNX backend node tests of the supported operators; writes docs/CONFORMANCE.md.
conformance:
    cargo run --release -p opml-vm --example conformance -- docs/CONFORMANCE.md

# Regenerate the committed fixtures (needs Python; see fixtures/README.md).
fixtures: setup
    {{venv}}/bin/python fixtures/gen.py
    {{venv}}/bin/python fixtures/export_node_tests.py

# Random in-profile programs stepped in wasmtime and the stepper; reports mismatches.
fuzz-diff n="10000" seed="1":
    cargo run --release -p opml-vm --example fuzz_diff -- {{n}} {{seed}}
