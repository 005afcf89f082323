# Routine tasks. Run through ./dev (which installs just), e.g. `./dev test`.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
forge := "node_modules/.bin/forge"

# List the recipes.
default:
    @just --list

# Install what the tasks need beyond Rust: the Solidity toolchain and the Python env for fixture scripts.
setup: node-setup
    test -x {{venv}}/bin/python || python3 -m venv {{venv}}
    {{venv}}/bin/pip install --quiet -r fixtures/requirements.txt

# Install the Solidity toolchain pinned by onchain/package-lock.json: forge, anvil, cast, solcjs, OpenZeppelin.
node-setup:
    cd onchain && npm install --no-audit --no-fund --loglevel=error

# The main job: compile a fixture model, run it, print the prediction.
demo model="mlp784":
    cargo run --release --quiet --bin opml -- compile fixtures/{{model}}/model.onnx -o out/{{model}}
    cargo run --release --quiet --bin opml -- run out/{{model}} --input fixtures/{{model}}/input.npy

# Formatting and lints (rustfmt, clippy -D warnings, forge fmt).
lint: node-setup
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    cd onchain && {{forge}} fmt --check

# The whole test suite: lints, every test, and the benchmarks on CI-sized inputs.
test: lint
    cargo test --workspace --doc --quiet
    cargo bench --profile dev -p opml-vm --bench inference -- --quick > /dev/null
    cargo nextest run --workspace --lib --bins --tests --no-fail-fast
    just test-contracts

# Build the contracts and regenerate what is committed for them: the Solidity
# constants and vectors written by Rust, and the ABI/bytecode artifacts Rust embeds.
contracts: node-setup
    OPML_BLESS=1 cargo test --quiet -p opml-vm --test opcodes --test chain_vectors
    cd onchain && {{forge}} build && node tools/artifacts.mjs

# The forge suite (fuzz 256 runs, invariants 256 runs at depth 50); fails when
# onchain/artifacts is stale.
test-contracts: node-setup
    cd onchain && {{forge}} build --quiet && node tools/artifacts.mjs --check
    cd onchain && {{forge}} test

# The forge suite with far more fuzz and invariant runs.
test-contracts-deep: node-setup
    cd onchain && FOUNDRY_PROFILE=deep {{forge}} test

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
