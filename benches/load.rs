//! A load run of the agents as fleets on PostgreSQL (issue 13's benchmark).
//!
//! ```sh
//! cargo bench --bench load -- [--quick] [--write docs/BENCHMARKS.md]
//! ```
//!
//! anvil mines a block every second. Two submitter instances share a key and
//! a PostgreSQL database, as do two challenger instances; requests for the
//! MLP arrive at a steady rate from four requesters, and the submitters lie
//! on a fixed share of them (`lie_percent`, the lying requests drawn from a
//! seed). The run waits until every request is finalized or refunded (the
//! driver refunds the expired ones, as anyone may), then checks the outcome:
//! every false claim voided, every true one finalized, the honest side won
//! every game, no agent transaction reverted. It reports latency percentiles
//! from the block of the request to the block of its claim, its finalization
//! and (for lies) the voiding, and each agent's CPU time and peak memory.
//! The full run is 100 requests per minute for 10 minutes; `--quick` (CI)
//! sends 30 at 60 per minute with a shorter request lifetime.

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolCall, SolEvent};
use anyhow::{Context, Result, ensure};
use opml::demo::{post_request, setup_with};
use opml_agents::client::{Chain, NoJournal, parse_key};
use opml_agents::faults::SubmitterFaults;
use opml_onchain::bindings::{DisputeGame, InferenceMarket};
use opml_onchain::protocol::{MarketParams, parse_amount};
use opml_testkit::devnet::{AgentProcess, Anvil, Postgres, wait_for, write_agent_config};
use opml_vm::trace::{TraceProvider, VmTrace};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Load {
    per_minute: u64,
    requests: u64,
    lie_percent: u8,
    challenge_window: u64,
    request_timeout: u64,
}

/// What one agent process used.
struct Usage {
    name: String,
    cpu_s: f64,
    peak_rss_mb: f64,
    rpc_per_hour_load: f64,
    rpc_per_hour_idle: f64,
    /// Idle requests per hour by JSON-RPC method, busiest first.
    idle_by_method: Vec<(String, f64)>,
}

/// `opml_rpc_requests_total` by JSON-RPC method, of the agent whose directory is `dir`.
fn rpc_requests(dir: &Path) -> Result<BTreeMap<String, f64>> {
    let addr = std::fs::read_to_string(dir.join("data/metrics.addr"))?;
    let (_, text) = opml_testkit::devnet::http_get(addr.trim(), "/metrics")?;
    let series = opml_testkit::devnet::metric_series(&text, "opml_rpc_requests_total");
    ensure!(
        !series.is_empty(),
        "no opml_rpc_requests_total in {}",
        dir.display()
    );
    Ok(series
        .into_iter()
        .map(|(labels, v)| {
            let method = labels.trim_start_matches("method=\"").trim_end_matches('"');
            (method.to_string(), v)
        })
        .collect())
}

/// CPU seconds (user + system) and peak resident memory of a running process, from /proc.
fn usage(name: &str, pid: u32) -> Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // fields after the command name (which may hold spaces) start at ") "
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .context("/proc stat")?
        .1
        .split(' ')
        .collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let hwm_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM")?;
    Ok(Usage {
        name: name.into(),
        cpu_s: ticks / hz,
        peak_rss_mb: hwm_kb / 1024.0,
        rpc_per_hour_load: 0.0,
        rpc_per_hour_idle: 0.0,
        idle_by_method: vec![],
    })
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// The smallest seed from `base` on that makes at least one of `n` requests a lie.
fn seed_with_a_lie(faults: &SubmitterFaults, n: u64) -> u64 {
    (faults.seed..)
        .find(|&s| {
            let f = SubmitterFaults {
                seed: s,
                ..faults.clone()
            };
            (1..=n).any(|id| f.for_request(id).is_some())
        })
        .expect("some seed lies")
}

struct Outcome {
    table: String,
    wall: Duration,
}

async fn run(load: &Load, cache: &Path) -> Result<Outcome> {
    let anvil = Anvil::start(Some(1))?;
    let pg = Postgres::start()?;
    let dir = tempfile::tempdir()?;
    let params = MarketParams {
        challenge_window: load.challenge_window,
        request_timeout: load.request_timeout,
        ..MarketParams::default()
    };
    let (d, models) = setup_with(&anvil, dir.path(), &["mlp784"], Some(cache), &params).await?;
    let m = &models[0];
    let honest = VmTrace::open(m.vm.clone(), &m.input)?.claim().clone();
    let lie = SubmitterFaults {
        wrong_output: true,
        wrong_final_state: false,
        wrong_token: None,
        steps_short: 0,
        steps_long: 0,
        diverge_from: None,
        lie_at: Some(opml_agents::faults::LieAt::Random),
        garbage_proofs: false,
        silent_from_move: None,
        lie_percent: Some(load.lie_percent),
        seed: 13,
    };
    let seed = seed_with_a_lie(&lie, load.requests);
    let faults = format!(
        "wrong_output = true\nlie_at = \"random\"\nlie_percent = {}\nseed = {seed}",
        load.lie_percent
    );
    let exe = Path::new(env!("CARGO_BIN_EXE_opml"));
    let dep = dir.path().join("deployment.json");
    let models_dir = dir.path().join("models");
    let mut agents: Vec<AgentProcess> = vec![];
    for (role, key, db, faults) in [
        (
            "submitter",
            1,
            pg.database("submitters")?,
            Some(faults.as_str()),
        ),
        ("challenger", 2, pg.database("challengers")?, None),
    ] {
        for k in 0..2 {
            let name = format!("{role} #{k}");
            let at = dir.path().join(format!("{role}{k}"));
            let cfg = write_agent_config(
                &at,
                &anvil.url,
                &dep,
                &models_dir,
                &anvil.keys[key],
                "",
                faults,
            )?;
            let text = std::fs::read_to_string(&cfg)?;
            // the default idle interval, as in production (the RPC volume is measured)
            let tuned = text
                .replace("\nidle_poll_ms = 1000\n", "\n")
                .replace("\npoll_ms = 100\n", "\npoll_ms = 250\n");
            ensure!(
                !tuned.contains("idle_poll_ms") && tuned.contains("\npoll_ms = 250\n"),
                "the test config's poll settings changed: {text}"
            );
            std::fs::write(
                &cfg,
                format!(
                    "database_url = {db:?}\ninstance = {name:?}\nlease_ttl_s = 10\nrpc_timeout_s = 5\n{tuned}"
                ),
            )?;
            agents.push(AgentProcess::spawn(
                exe,
                &name,
                role,
                &cfg,
                faults.is_some(),
                &at.join("agent.log"),
            )?);
        }
    }
    let (submitter, challenger): (Address, Address) = (
        parse_key(&anvil.keys[1])?.address(),
        parse_key(&anvil.keys[2])?.address(),
    );
    let mut requesters: Vec<Chain> = vec![];
    for k in 3..=6 {
        requesters.push(anvil.chain(k).await?);
    }
    let fee = parse_amount("0.1 ether").map_err(anyhow::Error::msg)?;
    // Requests at a steady rate, each sent without waiting for the ones before.
    let start = Instant::now();
    let mut sends = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(60_000 / load.per_minute));
    let bar = indicatif::ProgressBar::new(load.requests).with_message("requests");
    for i in 0..load.requests {
        tick.tick().await;
        let (chain, d, id, input) = (
            requesters[i as usize % requesters.len()].clone(),
            d.clone(),
            m.id,
            m.input.clone(),
        );
        sends.spawn(async move { post_request(&chain, &d, &id, &input, fee).await });
        bar.inc(1);
    }
    while let Some(r) = sends.join_next().await {
        r??;
    }
    bar.finish_and_clear();
    eprintln!(
        "load: {} requests sent in {:.0?}; waiting for them to settle",
        load.requests,
        start.elapsed()
    );
    let watcher = anvil.chain(7).await?;
    let market = InferenceMarket::new(d.market, watcher.provider.clone());
    // Every request finalized or, once expired with its claims voided, refunded.
    let settle_limit = Duration::from_secs(load.request_timeout + 600);
    wait_for("every request to settle", settle_limit, || async {
        let now = watcher.now().await?;
        let mut open = 0;
        for id in 1..=load.requests {
            let r = market.getRequest(U256::from(id)).call().await?;
            if r.status as u8 != 1 {
                continue;
            }
            open += 1;
            if now >= r.deadline && r.liveClaims == 0 {
                let call = InferenceMarket::refundCall {
                    requestId: U256::from(id),
                };
                let sent = watcher
                    .send(
                        &format!("refund request {id}"),
                        Some(d.market),
                        call.abi_encode().into(),
                        U256::ZERO,
                        &NoJournal,
                    )
                    .await;
                if let Err(e) = sent {
                    eprintln!("refund of request {id}: {e}");
                }
            }
        }
        Ok((open == 0).then_some(()))
    })
    .await?;
    let wall = start.elapsed();
    let mut used = vec![];
    for a in &agents {
        let pid = a.pid().context("an agent exited")?;
        used.push(usage(&a.name, pid)?);
    }
    // RPC volume: requests under load, then over an idle stretch with the
    // chain still mining a block a second (a public chain never stops).
    let dirs: Vec<PathBuf> = agents
        .iter()
        .map(|a| a.log.parent().expect("agent dir").to_path_buf())
        .collect();
    let loaded: Vec<BTreeMap<String, f64>> = dirs
        .iter()
        .map(|d| rpc_requests(d))
        .collect::<Result<_>>()?;
    let idle_for = Duration::from_secs(if load.requests > 100 { 300 } else { 30 });
    eprintln!("load: measuring idle RPC volume for {idle_for:?}");
    let idle_start = Instant::now();
    tokio::time::sleep(idle_for).await;
    let idle_s = idle_start.elapsed().as_secs_f64();
    let idle: Vec<BTreeMap<String, f64>> = dirs
        .iter()
        .map(|d| rpc_requests(d))
        .collect::<Result<_>>()?;
    for (u, (busy, after)) in used.iter_mut().zip(loaded.iter().zip(&idle)) {
        u.rpc_per_hour_load = busy.values().sum::<f64>() * 3600.0 / wall.as_secs_f64();
        let mut by_method: Vec<(String, f64)> = after
            .iter()
            .map(|(m, n)| {
                let during = n - busy.get(m).copied().unwrap_or_default();
                (m.clone(), during * 3600.0 / idle_s)
            })
            .filter(|(_, per_hour)| *per_hour > 0.0)
            .collect();
        by_method.sort_by(|a, b| b.1.total_cmp(&a.1));
        u.rpc_per_hour_idle = by_method.iter().map(|(_, n)| n).sum();
        u.idle_by_method = by_method;
    }
    for a in agents.iter_mut() {
        ensure!(
            a.terminate().is_some_and(|s| s.success()),
            "the {} did not stop cleanly",
            a.name
        );
    }

    // What happened, from the logs and their blocks' timestamps.
    let logs = watcher
        .provider
        .get_logs(
            &Filter::new()
                .address(vec![d.market, d.dispute_game])
                .from_block(d.block),
        )
        .await?;
    let mut stamps: HashMap<u64, u64> = HashMap::new();
    for l in &logs {
        let n = l.block_number.context("a log without a block")?;
        if let std::collections::hash_map::Entry::Vacant(e) = stamps.entry(n) {
            e.insert(watcher.block(n).await?.context("block")?.1);
        }
    }
    let at = |l: &alloy::rpc::types::Log| stamps[&l.block_number.unwrap_or_default()];
    let mut requested: BTreeMap<u64, u64> = BTreeMap::new();
    let mut claims: BTreeMap<u64, (u64, u64, bool)> = BTreeMap::new(); // claim -> (request, time, false)
    let mut finalized: BTreeMap<u64, u64> = BTreeMap::new(); // request -> time
    let mut voided: BTreeMap<u64, u64> = BTreeMap::new(); // claim -> time
    let mut refunded = 0;
    let mut games_ok = 0;
    for l in &logs {
        if let Ok(e) = InferenceMarket::Requested::decode_log(&l.inner) {
            requested.insert(e.requestId.to(), at(l));
        } else if let Ok(e) = InferenceMarket::Submitted::decode_log(&l.inner) {
            ensure!(e.submitter == submitter, "a claim from someone else");
            let false_claim = e.finalState != B256::from(honest.final_state);
            claims.insert(e.claimId.to(), (e.requestId.to(), at(l), false_claim));
        } else if let Ok(e) = InferenceMarket::Finalized::decode_log(&l.inner) {
            finalized.insert(e.requestId.to(), at(l));
        } else if let Ok(e) = InferenceMarket::ClaimVoided::decode_log(&l.inner) {
            voided.insert(e.claimId.to(), at(l));
        } else if InferenceMarket::Refunded::decode_log(&l.inner).is_ok() {
            refunded += 1;
        } else if let Ok(e) = DisputeGame::GameEnded::decode_log(&l.inner) {
            ensure!(!e.defenderWon, "the lying submitter won game {}", e.gameId);
            games_ok += 1;
        }
    }
    ensure!(requested.len() as u64 == load.requests, "requests missing");
    ensure!(
        finalized.len() + refunded == requested.len(),
        "{} finalized + {refunded} refunded of {} requests",
        finalized.len(),
        requested.len()
    );
    let mut serve = vec![];
    let mut to_final = vec![];
    let mut to_void = vec![];
    let mut lies = 0;
    for (claim, &(request, t, false_claim)) in &claims {
        serve.push(t - requested[&request]);
        if false_claim {
            lies += 1;
            let v = voided
                .get(claim)
                .with_context(|| format!("false claim {claim} was not voided"))?;
            to_void.push(v - t);
        } else {
            let f = finalized
                .get(&request)
                .with_context(|| format!("true claim {claim} was not finalized"))?;
            to_final.push(f - requested[&request]);
        }
    }
    ensure!(
        voided.len() == lies,
        "a true claim was voided ({} voided, {lies} false)",
        voided.len()
    );
    ensure!(games_ok >= lies, "{games_ok} games won for {lies} lies");
    // no agent transaction reverted (a move sent twice would)
    let head = watcher.block_number().await?;
    let mut reverted = 0;
    for n in d.block..=head {
        let Some(b) = watcher
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Number(n))
            .await?
        else {
            continue;
        };
        for h in b.transactions.hashes() {
            let r = watcher
                .provider
                .get_transaction_receipt(h)
                .await?
                .context("receipt")?;
            if !r.status() && (r.from == submitter || r.from == challenger) {
                reverted += 1;
            }
        }
    }
    ensure!(reverted == 0, "{reverted} agent transactions reverted");
    for v in [&mut serve, &mut to_final, &mut to_void] {
        v.sort();
    }
    let row = |what: &str, v: &[u64]| {
        format!(
            "| {what} | {} | {} s | {} s | {} s | {} s |\n",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(0)
        )
    };
    let mut table = format!(
        "{} requests at {} per minute ({:.1} min of load, {:.1} min until all settled), {} false claims ({}% drawn), challenge window {} s, 1 s blocks; {} finalized, {refunded} refunded, {} voided, {games_ok} games won by the challengers, 0 reverted transactions.\n\n| latency (block timestamps) | n | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|\n",
        load.requests,
        load.per_minute,
        load.requests as f64 / load.per_minute as f64,
        wall.as_secs_f64() / 60.0,
        lies,
        load.lie_percent,
        load.challenge_window,
        finalized.len(),
        voided.len(),
    );
    table.push_str(&row("request -> claim on chain", &serve));
    table.push_str(&row("request -> finalized (true claims)", &to_final));
    table.push_str(&row("false claim -> voided", &to_void));
    table.push_str(
        "\n| agent | CPU time | CPU share of the run | peak memory (RSS) | RPC requests/hour under load | RPC requests/hour idle (a day) | idle requests/hour by method |\n|---|---|---|---|---|---|---|\n",
    );
    for u in &used {
        let methods: Vec<String> = u
            .idle_by_method
            .iter()
            .map(|(m, n)| format!("{m} {n:.0}"))
            .collect();
        table.push_str(&format!(
            "| {} | {:.1} s | {:.1} % | {:.0} MB | {:.0} | {:.0} ({:.0}) | {} |\n",
            u.name,
            u.cpu_s,
            100.0 * u.cpu_s / wall.as_secs_f64(),
            u.peak_rss_mb,
            u.rpc_per_hour_load,
            u.rpc_per_hour_idle,
            u.rpc_per_hour_idle * 24.0,
            methods.join(", ")
        ));
    }
    Ok(Outcome { table, wall })
}

#[tokio::main]
async fn main() -> Result<()> {
    let Some((quick, write)) = opml_testkit::devnet::bench_args() else {
        return Ok(());
    };
    let load = if quick {
        Load {
            per_minute: 60,
            requests: 30,
            lie_percent: 5,
            // the contract's shortest window
            challenge_window: 60,
            request_timeout: 45,
        }
    } else {
        Load {
            per_minute: 100,
            requests: 1000,
            lie_percent: 5,
            challenge_window: 60,
            request_timeout: 120,
        }
    };
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-models");
    let out = run(&load, &cache).await?;
    print!("{}", out.table);
    eprintln!("load: done in {:.0?}", out.wall);
    if let Some(p) = write {
        let body = format!(
            "on this 2-core machine kind with `cargo bench --bench load` (release agents; anvil from the pinned Foundry and PostgreSQL from Debian on the same two cores). Two submitter instances share a key and a database, as do two challenger instances.\n\n{}",
            out.table
        );
        opml_testkit::devnet::write_bench_section(&p, "load", &body)?;
    }
    Ok(())
}
