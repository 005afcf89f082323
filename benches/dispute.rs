//! Fraud posted to game resolved, on anvil, with the agents as processes.
//!
//! ```sh
//! cargo bench --bench dispute -- [--quick] [--write docs/BENCHMARKS.md]
//! ```
//!
//! For each model and mining mode: a lying submitter posts a false claim (its
//! states wrong from a fixed step), one challenger disputes it; the clock runs
//! from the block of the `Submitted` event to the block of `GameEnded`
//! (wall time between the two receipts as the agents see them). Moves and the
//! gas of each side are read from the receipts. `--quick` (CI) runs the MLP
//! with automine only.

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use anyhow::{Context, Result};
use opml::demo::{post_request, setup};
use opml::devnet::{AgentProcess, Anvil, wait_for, write_agent_config};
use opml_onchain::bindings::{DisputeGame, InferenceMarket};
use opml_onchain::client::parse_key;
use opml_onchain::protocol::parse_amount;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Row {
    model: String,
    mining: String,
    steps: u64,
    wall: Duration,
    moves: usize,
    defender_gas: u64,
    challenger_gas: u64,
}

async fn run(model: &str, block_time: Option<u64>, cache: &Path) -> Result<Row> {
    let anvil = Anvil::start(block_time)?;
    let dir = tempfile::tempdir()?;
    let (d, models) = setup(&anvil, dir.path(), &[model], Some(cache)).await?;
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
        Some("wrong_output = true\nlie_at = \"random\"\nseed = 7"),
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
        model: model.into(),
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

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return Ok(()); // no test cases: answered for `cargo test --benches`
    }
    let quick = args.iter().any(|a| a == "--quick");
    let write = args
        .iter()
        .position(|a| a == "--write")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-models");
    let cases: Vec<(&str, Option<u64>)> = if quick {
        vec![("mlp784", None)]
    } else {
        vec![
            ("mlp784", None),
            ("mlp784", Some(1)),
            ("transformer_block", None),
            ("transformer_block", Some(1)),
        ]
    };
    let mut rows = vec![];
    for (model, bt) in cases {
        eprintln!(
            "dispute: {model} {}",
            bt.map(|t| format!("{t} s blocks"))
                .unwrap_or("automine".into())
        );
        rows.push(run(model, bt, &cache).await?);
    }
    let mut out = String::from(
        "| model | steps | mining | fraud posted -> game resolved | moves | liar's gas | challenger's gas |\n|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} s | {} | {} | {} |\n",
            r.model,
            r.steps,
            r.mining,
            r.wall.as_secs_f64(),
            r.moves,
            r.defender_gas,
            r.challenger_gas
        ));
    }
    print!("{out}");
    if let Some(p) = write {
        let p = if p.is_absolute() {
            p
        } else {
            opml::devnet::workspace_root().join(p)
        };
        let doc = std::fs::read_to_string(&p).unwrap_or_default();
        let date = std::process::Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d")
            .output()?;
        let body = format!(
            "Measured {} on this 2-core machine kind with `cargo bench --bench dispute` (release agents, anvil from the pinned Foundry). The liar's states are wrong from a fixed random step; the challenger's gas includes the challenge transaction.\n\n{out}",
            String::from_utf8_lossy(&date.stdout).trim()
        );
        let doc = opml_onchain::report::replace_section(
            &doc,
            "<!-- BEGIN dispute -->",
            "<!-- END dispute -->",
            &body,
        )
        .map_err(anyhow::Error::msg)?;
        std::fs::write(&p, doc)?;
    }
    Ok(())
}
