//! Fraud posted to game resolved, on anvil, with the agents as processes.
//!
//! ```sh
//! cargo bench --bench dispute -- [--quick] [--only MODEL] [--write docs/BENCHMARKS.md]
//! ```
//!
//! For each model and mining mode: a lying submitter posts a false claim (its
//! states wrong from a fixed step: a seeded random one, or the middle of an
//! encoder layer), one challenger disputes it; the clock runs from the block of
//! the `Submitted` event to the block of `GameEnded` (wall time between the two
//! receipts as the agents see them). Moves and the gas of each side are read
//! from the receipts. `--quick` (CI) runs the MLP and the CI-sized MiniLM with
//! automine only; a full run adds 1 s blocks and all-MiniLM-L6-v2 at sequence
//! length 128, built into the cache by `fixtures/minilm.py` when missing.

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use anyhow::{Context, Result};
use opml::demo::{post_request, setup};
use opml_agents::client::parse_key;
use opml_onchain::bindings::{DisputeGame, InferenceMarket};
use opml_onchain::protocol::parse_amount;
use opml_testkit::devnet::{AgentProcess, Anvil, wait_for, write_agent_config};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the liar's states start to be wrong.
#[derive(Clone, Copy)]
enum Lie {
    /// A step drawn from this seed.
    Random(u64),
    /// The middle of the layers whose names start with this prefix.
    InsideLayer(&'static str),
    /// A generation program's text with this token changed (the states
    /// wrong from where the program writes it).
    Token(u32),
}

struct Row {
    model: String,
    mining: String,
    steps: u64,
    lie: String,
    wall: Duration,
    moves: usize,
    defender_gas: u64,
    challenger_gas: u64,
}

/// The liar's `[faults]` and a description of where its lie starts.
fn lie_faults(lie: Lie, art: &opml_vm::artifact::Artifact) -> Result<(String, String)> {
    Ok(match lie {
        Lie::Random(seed) => (
            format!("wrong_output = true\nlie_at = \"random\"\nseed = {seed}"),
            "random step".into(),
        ),
        Lie::InsideLayer(prefix) => {
            let layers: Vec<_> = art
                .manifest
                .layers
                .iter()
                .filter(|l| l.function.is_some() && l.name.starts_with(prefix))
                .collect();
            let (first, last) = (
                layers.first().context("no such layer")?,
                layers.last().context("no such layer")?,
            );
            let step = (first.start_step + last.start_step + last.steps) / 2;
            (
                format!("wrong_output = true\nlie_at = {{ step = {step} }}"),
                format!("step {step} (inside `{prefix}*`)"),
            )
        }
        Lie::Token(t) => {
            let span = art
                .manifest
                .generation
                .as_ref()
                .and_then(|g| g.tokens.get(t as usize))
                .context("not a generation program with that many tokens")?;
            (
                format!("wrong_token = {t}"),
                format!(
                    "step {} (generated token {t} changed)",
                    span.start_step + span.steps
                ),
            )
        }
    })
}

/// The GPT-2 124M-shaped model of `fixtures/gpt.py` as a generation
/// fixture (32 prompt ids, 32 new tokens, greedy): its `generate.json` is
/// written beside the model when missing.
fn gpt2_fixture() -> Result<Option<PathBuf>> {
    let cache = std::env::var_os("OPML_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/opml")))
        .context("no cache directory")?;
    let dir = cache.join("gpt2");
    if !dir.join("model.onnx").exists() {
        eprintln!(
            "NOTE: {} is missing, so the GPT-2 124M dispute is not run: build it with `fixtures/gpt.py --arch gpt2-124m --out {}` (see fixtures/README.md)",
            dir.join("model.onnx").display(),
            dir.display()
        );
        return Ok(None);
    }
    let spec = dir.join("generate.json");
    if !spec.exists() {
        let ids: Vec<u64> = (0..32u32)
            .map(|i| opml_vm::plan::sample_draw(25, i) % 50_257)
            .collect();
        let json = serde_json::json!({
            "prompt_tokens": 32, "new_tokens": 32, "top_k_max": 40, "prompt_ids": ids,
            "max_tokens": 32, "seed": 0, "top_k": 1, "temperature": 0.0,
        });
        std::fs::write(&spec, serde_json::to_string_pretty(&json)?)?;
    }
    Ok(Some(dir))
}

async fn run(model: &str, block_time: Option<u64>, lie: Lie, cache: &Path) -> Result<Row> {
    let anvil = Anvil::start(block_time)?;
    let dir = tempfile::tempdir()?;
    let (d, models) = setup(&anvil, dir.path(), &[model], Some(cache)).await?;
    let (faults, lie) = lie_faults(lie, models[0].vm.artifact())?;
    let exe = Path::new(env!("CARGO_BIN_EXE_opml"));
    let dep = dir.path().join("deployment.json");
    let models_dir = dir.path().join("models");
    let liar_cfg = write_agent_config(
        &dir.path().join("liar"),
        &anvil.url,
        &dep,
        &models_dir,
        &anvil.keys[1],
        "",
        Some(&faults),
    )?;
    let ch_cfg = write_agent_config(
        &dir.path().join("challenger"),
        &anvil.url,
        &dep,
        &models_dir,
        &anvil.keys[2],
        "",
        None,
    )?;
    let _liar = AgentProcess::spawn(
        exe,
        "lying submitter",
        "submitter",
        &liar_cfg,
        true,
        &dir.path().join("liar.log"),
    )?;
    let _challenger = AgentProcess::spawn(
        exe,
        "challenger",
        "challenger",
        &ch_cfg,
        false,
        &dir.path().join("challenger.log"),
    )?;
    let (liar, challenger): (Address, Address) = (
        parse_key(&anvil.keys[1])?.address(),
        parse_key(&anvil.keys[2])?.address(),
    );
    let requester = anvil.chain(3).await?;
    let m = &models[0];
    post_request(
        &requester,
        &d,
        &m.id,
        &m.input,
        parse_amount("0.1 ether").map_err(anyhow::Error::msg)?,
    )
    .await?;
    let watcher = anvil.chain(4).await?;
    let filter = Filter::new()
        .address(vec![d.market, d.dispute_game])
        .from_block(d.block);
    // The clock starts when the false claim is on chain.
    let submitted_at = wait_for("the false claim", Duration::from_secs(600), || {
        let (p, f) = (watcher.provider.clone(), filter.clone());
        async move {
            let logs = p.get_logs(&f).await?;
            Ok(logs
                .iter()
                .any(|l| InferenceMarket::Submitted::decode_log(&l.inner).is_ok())
                .then(Instant::now))
        }
    })
    .await?;
    let ended = wait_for("the game's end", Duration::from_secs(900), || {
        let (p, f) = (watcher.provider.clone(), filter.clone());
        async move {
            let logs = p.get_logs(&f).await?;
            Ok(logs
                .iter()
                .any(|l| DisputeGame::GameEnded::decode_log(&l.inner).is_ok())
                .then(|| (Instant::now(), logs)))
        }
    })
    .await?;
    let (end, logs) = ended;
    // a benchmark of a dispute the honest side lost would measure a bug
    let game = DisputeGame::new(d.dispute_game, watcher.provider.clone());
    let status = opml_agents::player::GameStatus::from_u8(
        game.game(alloy::primitives::U256::from(1))
            .call()
            .await?
            .status as u8,
    );
    anyhow::ensure!(
        status == opml_agents::player::GameStatus::ChallengerWon,
        "{model}: the honest challenger did not win: {status:?}"
    );
    let mut moves = 0;
    let (mut dgas, mut cgas) = (0u64, 0u64);
    let mut seen: Vec<B256> = vec![];
    for l in &logs {
        let is_move = DisputeGame::Dissected::decode_log(&l.inner).is_ok()
            || DisputeGame::StepVerified::decode_log(&l.inner).is_ok();
        let is_challenge = InferenceMarket::Challenged::decode_log(&l.inner).is_ok();
        let Some(h) = l.transaction_hash else {
            continue;
        };
        if !(is_move || is_challenge || DisputeGame::GameEnded::decode_log(&l.inner).is_ok())
            || seen.contains(&h)
        {
            continue;
        }
        seen.push(h);
        if is_move {
            moves += 1;
        }
        let r = watcher
            .provider
            .get_transaction_receipt(h)
            .await?
            .context("receipt")?;
        if r.from == liar {
            dgas += r.gas_used;
        } else if r.from == challenger {
            cgas += r.gas_used;
        }
    }
    Ok(Row {
        model: opml::demo::fixture_source(model).0.into(),
        lie,
        mining: block_time
            .map(|t| format!("{t} s blocks"))
            .unwrap_or_else(|| "automine".into()),
        steps: m.vm.artifact().manifest.steps,
        wall: end.duration_since(submitted_at),
        moves,
        defender_gas: dgas,
        challenger_gas: cgas,
    })
}

/// all-MiniLM-L6-v2 at `seq` as a fixture folder in the cache, built by
/// `fixtures/minilm.py` (through the project's venv) when missing.
fn minilm_fixture(seq: usize) -> Result<PathBuf> {
    let cache = std::env::var_os("OPML_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/opml")
        });
    let dir = cache.join(format!("minilm/seq{seq}/onnx"));
    if dir.join("model.onnx").exists() {
        return Ok(dir);
    }
    let root = opml_testkit::devnet::workspace_root();
    let python = root.join(".venv/bin/python");
    anyhow::ensure!(
        python.exists(),
        "the MiniLM fixture is built with the project's Python env, which is missing: run `just setup` (or ./dev setup) first"
    );
    let status = std::process::Command::new(python)
        .arg(root.join("fixtures/minilm.py"))
        .args(["--seq", &seq.to_string(), "--out"])
        .arg(&dir)
        .status()?;
    anyhow::ensure!(status.success(), "fixtures/minilm.py failed");
    Ok(dir)
}

#[tokio::main]
async fn main() -> Result<()> {
    let Some((quick, write)) = opml_testkit::devnet::bench_args() else {
        return Ok(());
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-models");
    let layer3 = Lie::InsideLayer("layer3_");
    let mut cases: Vec<(String, Option<u64>, Lie)> = vec![
        ("mlp784".into(), None, Lie::Random(7)),
        ("minilm_tiny".into(), None, layer3),
    ];
    if !quick {
        let minilm = format!("minilm-seq128={}", minilm_fixture(128)?.display());
        cases.extend([
            ("mlp784".into(), Some(1), Lie::Random(7)),
            ("transformer_block".into(), None, Lie::Random(7)),
            ("transformer_block".into(), Some(1), Lie::Random(7)),
            (minilm.clone(), None, layer3),
            (minilm, Some(1), layer3),
        ]);
        if let Some(dir) = gpt2_fixture()? {
            cases.push((format!("gpt2-124m={}", dir.display()), None, Lie::Token(20)));
        }
    }
    // `--only TEXT`: the cases whose model contains TEXT (for a look at one model)
    if let Some(only) = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
    {
        cases.retain(|c| c.0.contains(only.as_str()));
    }
    let mut rows = vec![];
    for (model, bt, lie) in cases {
        eprintln!(
            "dispute: {model} {}",
            bt.map(|t| format!("{t} s blocks"))
                .unwrap_or("automine".into())
        );
        rows.push(run(&model, bt, lie, &cache).await?);
    }
    let mut out = String::from(
        "| model | steps | mining | liar wrong from | fraud posted -> game resolved | moves | liar's gas | challenger's gas | total gas |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} s | {} | {} | {} | {} |\n",
            r.model,
            r.steps,
            r.mining,
            r.lie,
            r.wall.as_secs_f64(),
            r.moves,
            r.defender_gas,
            r.challenger_gas,
            r.defender_gas + r.challenger_gas
        ));
    }
    print!("{out}");
    if let Some(p) = write {
        let body = format!(
            "on this 2-core machine kind with `cargo bench --bench dispute` (release agents, anvil from the pinned Foundry). The liar's states are wrong from the step shown (for MiniLM, the middle of encoder layer 3); the challenger's gas includes the challenge transaction.\n\n{out}"
        );
        opml_testkit::devnet::write_bench_section(&p, "dispute", &body)?;
    }
    Ok(())
}
