//! The end-to-end demo (`./dev demo`, `opml demo`): a local chain, the
//! protocol, two fixture models, an honest submitter, a lying submitter and a
//! challenger as real processes, and what happens, printed as it happens.
//!
//! It exits 0 only when the expected outcome holds: each lie voided, each
//! honest result finalized, revenue claimed by the model's token holder.

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::Log;
use alloy::sol_types::{SolCall, SolEvent};
use anyhow::{Context, Result, bail};
use opml_agents::client::{Chain, NoJournal};
use opml_agents::deploy::{deploy, register};
use opml_onchain::bindings::{DisputeGame, InferenceMarket, RevenueShare};
use opml_onchain::protocol::{Deployment, MarketParams, ModelTerms, format_ether, parse_amount};
use opml_testkit::devnet::{AgentProcess, Anvil, wait_for, workspace_root, write_agent_config};
use opml_vm::artifact::Artifact;
use opml_vm::compiler::{CompileOptions, compile_file};
use opml_vm::machine::model::ModelVm;
use opml_vm::runtime::Runtime;
use opml_vm::trace::{TraceProvider, VmTrace};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The fixture models the demo registers (the last, a trained GPT, as a
/// generation program whose text is minted as an ERC-7007 token).
pub const DEMO_MODELS: [&str; 3] = ["mlp784", "transformer_block", "gpt_tiny"];

/// One registered model of a devnet.
pub struct DemoModel {
    /// Fixture name.
    pub name: String,
    /// Artifact directory.
    pub dir: PathBuf,
    /// On-chain id.
    pub id: B256,
    /// Its revenue-share token.
    pub token: Address,
    /// Its machine.
    pub vm: Arc<ModelVm>,
    /// The fixture input, as input-region bytes.
    pub input: Vec<u8>,
}

/// Compiles a fixture model into `dir/<name>` (reused when already there and loadable).
/// `name` is a folder of `fixtures/`, or `NAME=DIR` for a fixture folder elsewhere
/// (such as MiniLM-L6, built into the cache by `fixtures/minilm.py`). The folder
/// holds `model.onnx` and its input: `input.npy`, or `input_<name>.npy` per input.
pub fn compile_fixture(name: &str, models_dir: &Path) -> Result<(PathBuf, Artifact, Vec<u8>)> {
    let (name, root) = fixture_source(name);
    let dir = models_dir.join(name);
    // what the artifact was compiled from: a changed model or generation
    // program (`generate.json`) compiles again
    let mut h = blake3::Hasher::new();
    h.update(&std::fs::read(root.join("model.onnx"))?);
    if let Ok(spec) = std::fs::read(root.join("generate.json")) {
        h.update(&spec);
    }
    let stamp = h.finalize().to_hex().to_string();
    let stamp_file = |d: &Path| d.join("fixture.blake3");
    let fresh = std::fs::read_to_string(stamp_file(&dir)).is_ok_and(|s| s == stamp);
    let art = match Artifact::load(&dir).ok().filter(|_| fresh) {
        Some(a) => a,
        None => {
            let opts = CompileOptions {
                generate: generation_fixture(&root)?
                    .map(|g| g.options(&root))
                    .transpose()?,
                ..CompileOptions::default()
            };
            let a = compile_file(&root.join("model.onnx"), &opts)?;
            // Written aside and renamed into place, so that concurrent users of
            // the same directory never see half an artifact.
            let tmp = models_dir.join(format!(".{name}.{}.tmp", std::process::id()));
            a.save(&tmp)?;
            crate::generate::copy_tokenizer(&root.join("model.onnx"), &tmp)?;
            std::fs::write(stamp_file(&tmp), &stamp)?;
            if dir.exists() {
                // stale (another source, an older artifact format or a broken directory)
                let _ = std::fs::remove_dir_all(&dir);
            }
            if std::fs::rename(&tmp, &dir).is_err() {
                std::fs::remove_dir_all(&tmp)?; // another process won the race
            }
            Artifact::load(&dir)?
        }
    };
    let inputs = fixture_inputs(&root, &art)?;
    let input = Runtime::new(art.clone(), false)?.input_region(&inputs)?;
    Ok((dir, art, input))
}

/// The name and folder of a fixture given as `NAME` or `NAME=DIR`.
pub fn fixture_source(name: &str) -> (&str, PathBuf) {
    match name.split_once('=') {
        Some((name, dir)) => (name, PathBuf::from(dir)),
        None => (name, workspace_root().join("fixtures").join(name)),
    }
}

/// A decoder fixture's generation program and sample request (`generate.json`).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerationFixture {
    prompt_tokens: usize,
    new_tokens: usize,
    top_k_max: usize,
    /// The prompt's text (through the fixture's tokenizer), or
    #[serde(default)]
    prompt: Option<String>,
    /// its token ids (for a model without a tokenizer).
    #[serde(default)]
    prompt_ids: Option<Vec<u32>>,
    max_tokens: u32,
    seed: u32,
    top_k: u32,
    temperature: f32,
}

impl GenerationFixture {
    fn options(&self, root: &Path) -> Result<opml_vm::compiler::generate::GenerateOptions> {
        Ok(opml_vm::compiler::generate::GenerateOptions {
            prompt_tokens: self.prompt_tokens,
            new_tokens: self.new_tokens,
            top_k_max: self.top_k_max,
            end_token: crate::generate::default_end_token(&root.join("model.onnx"))?,
        })
    }
}

fn generation_fixture(root: &Path) -> Result<Option<GenerationFixture>> {
    let path = root.join("generate.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)?;
    Ok(Some(serde_json::from_str(&text).with_context(|| {
        format!("`{}` is not a generation fixture", path.display())
    })?))
}

/// A fixture folder's sample input: `input.npy`, or `input_<name>.npy` per
/// model input, or the request of `generate.json` for a generation program.
fn fixture_inputs(root: &Path, art: &Artifact) -> Result<Vec<opml_vm::npy::Tensor>> {
    if let (Some(g), Some(program)) = (generation_fixture(root)?, &art.manifest.generation) {
        let ids = match (&g.prompt_ids, &g.prompt) {
            (Some(ids), _) => ids.clone(),
            (None, Some(text)) => {
                let tok = crate::generate::tokenizer(root, None)?;
                crate::generate::prompt_ids(program, &tok, text)?
            }
            (None, None) => bail!("{}: give `prompt` or `prompt_ids`", root.display()),
        };
        let settings = crate::generate::Settings {
            max_tokens: g.max_tokens,
            seed: g.seed,
            top_k: g.top_k,
            temperature: g.temperature,
        };
        return crate::generate::inputs(program, &ids, &settings);
    }
    let single = root.join("input.npy");
    if single.exists() {
        return Ok(vec![opml_vm::npy::read(&single)?]);
    }
    art.manifest
        .inputs
        .tensors
        .iter()
        .map(|t| {
            Ok(opml_vm::npy::read(
                &root.join(format!("input_{}.npy", t.name)),
            )?)
        })
        .collect()
}

/// Market parameters of the demo and the tests: realistic windows (the demo
/// fast-forwards the chain clock past them), small amounts.
pub fn demo_params() -> MarketParams {
    MarketParams {
        clock_budget: 3600,
        challenge_window: 600,
        ..MarketParams::default()
    }
}

/// Deploys and registers the given fixtures (`NAME` or `NAME=DIR`, see
/// [`compile_fixture`]) with key 0 as publisher and token holder; the artifacts
/// go to `out/models`, compiled once into `cache` when given.
pub async fn setup(
    anvil: &Anvil,
    out: &Path,
    names: &[&str],
    cache: Option<&Path>,
) -> Result<(Deployment, Vec<DemoModel>)> {
    setup_with(anvil, out, names, cache, &demo_params()).await
}

/// [`setup`] with the market's parameters.
pub async fn setup_with(
    anvil: &Anvil,
    out: &Path,
    names: &[&str],
    cache: Option<&Path>,
    params: &MarketParams,
) -> Result<(Deployment, Vec<DemoModel>)> {
    let publisher = anvil.chain(0).await?;
    let d = deploy(&publisher, params).await?;
    let dep_file = out.join("deployment.json");
    d.save(&dep_file)?;
    let models_dir = out.join("models");
    let mut models = vec![];
    for &spec in names {
        let name = fixture_source(spec).0;
        let (dir, art, input) = match cache {
            None => compile_fixture(spec, &models_dir)?,
            Some(cache) => {
                let (cached, art, input) = compile_fixture(spec, cache)?;
                std::fs::create_dir_all(&models_dir)?;
                let dir = models_dir.join(name);
                if !dir.exists() {
                    std::os::unix::fs::symlink(&cached, &dir)?;
                }
                (dir, art, input)
            }
        };
        let terms = ModelTerms {
            // room above the honest count, so that a claim of too many steps is
            // disputed rather than refused
            max_steps: art.manifest.steps * 2,
            token_name: format!("{name} revenue share"),
            token_symbol: format!(
                "RS-{}",
                name.to_uppercase().chars().take(6).collect::<String>()
            ),
            ..ModelTerms::default()
        };
        let (id, token) = register(&publisher, &d, &art, &terms).await?;
        models.push(DemoModel {
            name: name.to_string(),
            dir,
            id,
            token,
            vm: Arc::new(ModelVm::new(art)?),
            input,
        });
    }
    Ok((d, models))
}

/// Posts a request from key `who`; returns its id.
pub async fn post_request(
    chain: &Chain,
    d: &Deployment,
    model: &B256,
    input: &[u8],
    fee: U256,
) -> Result<u64> {
    let call = InferenceMarket::requestCall {
        modelId: *model,
        input: input.to_vec().into(),
    };
    let sent = chain
        .send(
            "request",
            Some(d.market),
            call.abi_encode().into(),
            fee,
            &NoJournal,
        )
        .await?;
    sent.receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| InferenceMarket::Requested::decode_log(&l.inner).ok())
        .map(|e| e.data.requestId.to())
        .context("no Requested event")
}

/// What the demo has seen so far.
#[derive(Default)]
struct Seen {
    voided: Vec<u64>,
    finalized: Vec<u64>,
    revenue_claimed: U256,
    claim_request: HashMap<u64, u64>,
    claim_submitter: HashMap<u64, Address>,
    game_claim: HashMap<u64, u64>,
}

/// Runs the demo; `out` is its working directory (recreated).
pub async fn run(out: &Path) -> Result<()> {
    let started = Instant::now();
    if out.exists() {
        // keep compiled models between runs; everything else starts fresh
        for entry in std::fs::read_dir(out)?.flatten() {
            if entry.file_name() != "models" {
                let p = entry.path();
                if p.is_dir() {
                    std::fs::remove_dir_all(&p)?;
                } else {
                    std::fs::remove_file(&p)?;
                }
            }
        }
    }
    std::fs::create_dir_all(out)?;
    // the agents' configs name files relative to their own directories
    let out = &out.canonicalize()?;
    println!(
        "== opML demo: three models (one generates text), an honest and a lying submitter, one challenger, on anvil =="
    );
    let anvil = Anvil::start(None)?;
    println!("anvil at {} (automine)", anvil.url);
    let (d, models) = setup(&anvil, out, &DEMO_MODELS, None).await?;
    println!(
        "deployed: market {}, dispute game {} (k = {}, clocks {} s, challenge window {} s)",
        d.market, d.dispute_game, d.params.arity, d.params.clock_budget, d.params.challenge_window
    );
    for m in &models {
        println!(
            "registered {} as model {} ({} steps per inference), revenue share token {}",
            m.name,
            m.id,
            m.vm.artifact().manifest.steps,
            m.token
        );
    }
    let mut d = d;
    let publisher = anvil.chain(0).await?;
    let mut minted = None;
    for m in models
        .iter()
        .filter(|m| m.vm.artifact().manifest.generation.is_some())
    {
        let c = opml_agents::deploy::deploy_aigc(
            &publisher,
            &mut d,
            m.id,
            &format!("opML {}", m.name),
            "AIGC",
        )
        .await?;
        println!(
            "deployed the ERC-7007 token of {} at {} (content minted only for finalized results)",
            m.name, c.token
        );
        minted = Some((m, c));
    }
    d.save(&out.join("deployment.json"))?;
    let exe = std::env::current_exe()?;
    let dep = out.join("deployment.json");
    let models_dir = out.join("models");
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs)?;
    let agent = |dir: &str, key: usize, policy: &str, faults: Option<&str>| {
        write_agent_config(
            &out.join(dir),
            &anvil.url,
            &dep,
            &models_dir,
            &anvil.keys[key],
            policy,
            faults,
        )
    };
    let roles = [
        (
            "honest submitter",
            "submitter",
            agent("honest", 1, "", None)?,
            false,
        ),
        (
            "lying submitter",
            "submitter",
            agent(
                "liar",
                2,
                "",
                Some("wrong_output = true\nlie_at = \"random\"\nseed = 7"),
            )?,
            true,
        ),
        (
            "challenger",
            "challenger",
            agent("challenger", 3, "", None)?,
            false,
        ),
    ];
    let mut procs = vec![];
    let mut names: HashMap<Address, &str> = HashMap::new();
    for (i, (name, role, cfg, faults)) in roles.iter().enumerate() {
        procs.push(AgentProcess::spawn(
            &exe,
            name,
            role,
            cfg,
            *faults,
            &logs.join(format!("{}.log", name.replace(' ', "-"))),
        )?);
        let addr = opml_agents::client::parse_key(&anvil.keys[i + 1])?.address();
        names.insert(addr, name);
        println!(
            "started the {name} ({addr}), log {}",
            logs.join(format!("{}.log", name.replace(' ', "-")))
                .display()
        );
    }
    let requester = anvil.chain(4).await?;
    names.insert(requester.address(), "requester");
    names.insert(anvil.chain(0).await?.address(), "publisher");
    let fee = parse_amount("0.1 ether").map_err(anyhow::Error::msg)?;
    let mut traces: HashMap<u64, (String, Arc<VmTrace>)> = HashMap::new();
    let mut mint_request = None;
    for m in &models {
        let id = match &minted {
            Some((g, c)) if g.id == m.id => {
                let id = crate::aigc::request_mint(&requester, &d, c.token, m.id, m.input.clone())
                    .await?;
                let text = generated_text(m)?;
                println!(
                    "requester asked {} through its ERC-7007 token (request {id}, minted by the oracle's callback once final):\n  prompt  {:?}\n  honest  {:?}",
                    m.name, text.0, text.1
                );
                mint_request = Some(id);
                id
            }
            _ => {
                let id = post_request(&requester, &d, &m.id, &m.input, fee).await?;
                println!(
                    "requester posted request {id} for {} (fee {})",
                    m.name,
                    format_ether(fee)
                );
                id
            }
        };
        let vm = m.vm.clone();
        let input = m.input.clone();
        let t = tokio::task::spawn_blocking(move || VmTrace::open(vm, &input)).await??;
        traces.insert(id, (m.name.clone(), Arc::new(t)));
    }

    let watcher = anvil.chain(5).await?;
    let mut addresses = vec![d.market, d.dispute_game];
    addresses.extend(models.iter().map(|m| m.token));
    let follower = opml_agents::follow::Follower::new(watcher.clone(), addresses, d.block, 0);
    let mut cursor = follower.start();
    let mut seen = Seen::default();
    let name_of = |a: &Address| names.get(a).copied().unwrap_or("someone").to_string();
    let lies = models.len();
    let mut warped = false;
    let mut snapshot_claimed = false;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if Instant::now() > deadline {
            bail!(
                "the demo did not reach its outcome within 10 minutes; see the agents' logs in {}",
                logs.display()
            );
        }
        for p in procs.iter_mut() {
            if !p.running() {
                bail!("the {} exited; see {}", p.name, p.log.display());
            }
        }
        if let opml_agents::follow::Poll::Logs {
            logs: batch,
            cursor: next,
            ..
        } = follower.poll(cursor).await?
        {
            cursor = next;
            for log in &batch {
                narrate(log, &mut seen, &traces, &name_of, &d);
            }
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Every lie voided and every honest claim posted: move the clock past the window.
        let honest_posted = seen
            .claim_request
            .keys()
            .filter(|c| !seen.voided.contains(c))
            .count();
        if !warped && seen.voided.len() >= lies && honest_posted >= lies {
            // past the challenge window, and the revenue token's first snapshot interval
            let secs = d.params.challenge_window.max(3600) + 1;
            println!(
                "-- every lie is voided; fast-forwarding the chain clock {secs} s (challenge window, snapshot interval) --"
            );
            anvil.warp(secs).await?;
            warped = true;
        }
        if warped && seen.finalized.len() >= lies && !snapshot_claimed {
            let holder = anvil.chain(0).await?;
            for m in &models {
                let token = RevenueShare::new(m.token, holder.provider.clone());
                let pending = token.pendingRevenue().call().await?;
                if pending.is_zero() {
                    continue;
                }
                let snap = RevenueShare::snapshotCall {}.abi_encode();
                holder
                    .send(
                        "snapshot",
                        Some(m.token),
                        snap.into(),
                        U256::ZERO,
                        &NoJournal,
                    )
                    .await?;
                let id = token.snapshotCount().call().await?;
                // claimable from the block after the snapshot
                alloy::providers::Provider::raw_request::<_, serde_json::Value>(
                    &holder.provider,
                    "evm_mine".into(),
                    (),
                )
                .await?;
                let claim = RevenueShare::claimCall { snapshotId: id }.abi_encode();
                holder
                    .send(
                        "claim revenue",
                        Some(m.token),
                        claim.into(),
                        U256::ZERO,
                        &NoJournal,
                    )
                    .await?;
            }
            snapshot_claimed = true;
        }
        if snapshot_claimed && !seen.revenue_claimed.is_zero() {
            break;
        }
    }
    // let the agents withdraw, then report balances owed
    let m = InferenceMarket::new(d.market, watcher.provider.clone());
    let agents: Vec<Address> = (1..=3)
        .map(|i| opml_agents::client::parse_key(&anvil.keys[i]).map(|k| k.address()))
        .collect::<Result<_, _>>()?;
    wait_for("the agents to withdraw", Duration::from_secs(60), || {
        let m = m.clone();
        let agents = agents.clone();
        async move {
            for a in &agents {
                if !m.withdrawable(*a).call().await?.is_zero() {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        }
    })
    .await?;
    println!("-- outcome --");
    for a in &agents {
        let bal = watcher.balance(*a).await?;
        println!("  {:<17} balance {}", name_of(a), format_ether(bal));
    }
    println!(
        "  market burnt {} of slashed bonds (of {} slashed)",
        format_ether(m.totalBurned().call().await?),
        format_ether(m.totalSlashed().call().await?)
    );
    if let (Some((m, c)), Some(id)) = (&minted, mint_request) {
        let token = opml_onchain::bindings::AigcToken::new(c.token, watcher.provider.clone());
        let input = m.input.clone();
        let token_id = U256::from_be_bytes(alloy::primitives::keccak256(&input).0);
        let owner = wait_for("the callback's mint", Duration::from_secs(120), || {
            let token = token.clone();
            async move { Ok(token.ownerOf(token_id).call().await.ok()) }
        })
        .await?;
        let settled = crate::aigc::request_result(&watcher, &d, id).await?;
        let output = settled.output.context("the request finalized")?;
        let verified = crate::aigc::verify(&watcher, c.token, id, &input, &output).await?;
        let mut lie = output.clone();
        lie[0] ^= 1;
        let lie_verified = crate::aigc::verify(&watcher, c.token, id, &input, &lie).await?;
        if !verified || lie_verified || owner != requester.address() {
            bail!(
                "the ERC-7007 token does not hold the finalized text (verify {verified}, the lie {lie_verified}, owner {owner})"
            );
        }
        let (_, text) = generated_text(m)?;
        println!(
            "minted ERC-7007 token {token_id} of {} to the requester: {text:?}; verify says true for it and false for the lie",
            c.token
        );
    }
    let replays = replay_games(&watcher, &d, &models, out).await?;
    for p in procs.iter_mut() {
        let status = p.terminate();
        if !status.is_some_and(|s| s.success()) {
            bail!(
                "the {} did not stop cleanly on SIGTERM ({status:?})",
                p.name
            );
        }
    }
    println!(
        "demo passed in {:.0} s: {} lies voided, {} honest results finalized, revenue claimed ({})",
        started.elapsed().as_secs_f64(),
        seen.voided.len(),
        seen.finalized.len(),
        format_ether(seen.revenue_claimed)
    );
    if let Some(first) = replays.first() {
        println!(
            "replay a dispute yourself (the chain is gone, its games are in files):\n  opml dispute replay {} --model {} --html report.html",
            first.0.display(),
            first.1.display()
        );
    }
    Ok(())
}

/// A generation model's prompt and the text its program writes (run here).
fn generated_text(m: &DemoModel) -> Result<(String, String)> {
    let art = m.vm.artifact();
    let out = Runtime::new(art.clone(), false)?.run_region(&m.input)?;
    let tokens = crate::generate::tokens_in(art, &out.output_region);
    let tok = crate::generate::tokenizer(&m.dir, None)?;
    let prompt_ids: Vec<u32> = m.input[..art.manifest.inputs.tensors[0].size as usize]
        .chunks_exact(4)
        .map(|w| i32::from_le_bytes(w.try_into().expect("4 bytes")) as u32)
        .collect();
    let program = art
        .manifest
        .generation
        .as_ref()
        .context("a generation program")?;
    let pad = program.prompt_tokens as usize - prompt_len(art, &m.input);
    let decode = |ids: &[u32]| {
        tok.decode(ids, true)
            .map_err(|e| anyhow::anyhow!("cannot decode: {e}"))
    };
    Ok((decode(&prompt_ids[pad..])?, decode(&tokens)?))
}

/// The prompt length word of a generation program's input.
fn prompt_len(art: &Artifact, input: &[u8]) -> usize {
    let slot = &art.manifest.inputs.tensors[1];
    let at = (slot.offset - art.manifest.inputs.offset) as usize;
    i32::from_le_bytes(input[at..at + 4].try_into().expect("4 bytes")) as usize
}

/// Exports every game of the demo to `out/disputes`, replays it against the
/// honest trace and writes its report; fails when a replay disagrees with the
/// contract. Returns each game file with its model's artifact directory.
async fn replay_games(
    chain: &Chain,
    d: &Deployment,
    models: &[DemoModel],
    out: &Path,
) -> Result<Vec<(PathBuf, PathBuf)>> {
    let dir = out.join("disputes");
    std::fs::create_dir_all(&dir)?;
    let g = DisputeGame::new(d.dispute_game, chain.provider.clone());
    let count: u64 = g.gameCount().call().await?.to();
    println!("-- disputes, replayed off-chain against the honest trace --");
    let mut files = vec![];
    for id in 1..=count {
        let file = crate::dispute::export(chain, d, id).await?;
        let model = models
            .iter()
            .find(|m| m.id == file.model_id)
            .with_context(|| format!("game {id} is about an unknown model {}", file.model_id))?;
        let path = dir.join(format!("game-{id}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&file)? + "\n")?;
        let vm = model.vm.clone();
        let r = tokio::task::spawn_blocking(move || crate::replay::replay(&file, vm)).await??;
        let html = dir.join(format!("game-{id}.html"));
        std::fs::write(&html, crate::report::html(&r))?;
        if !r.verdict.agrees {
            bail!(
                "game {id}: the replay disagrees with the contract: {}",
                r.verdict.reason
            );
        }
        let divergence = r.first_divergence.as_ref().map_or("none".into(), |x| {
            format!(
                "the {}'s trace leaves the honest one at step {}{} (layer {}{})",
                x.party.name(),
                x.at,
                if x.exact { "" } else { " at the latest" },
                x.layer.as_deref().unwrap_or("-"),
                x.token
                    .map(|t| format!(", generated token {t}"))
                    .unwrap_or_default()
            )
        });
        println!(
            "game {id} ({}): {} moves, {}; {}",
            model.name,
            r.rounds.len(),
            r.verdict.contract,
            divergence
        );
        if let Some(s) = &r.decisive {
            if s.rust.post != s.evm.post {
                bail!(
                    "game {id}: the Rust and the Solidity verifiers disagree on the decisive step"
                );
            }
            println!(
                "  decisive step {} `{}` in layer {}: Rust and Solidity verifiers agree ({} gas); report {}",
                s.step,
                s.instruction,
                s.layer.as_deref().unwrap_or("-"),
                s.evm.gas.map_or(0, |g| g.0),
                html.display()
            );
        }
        files.push((path, model.dir.clone()));
    }
    Ok(files)
}

/// The layer that contains `step`.
fn layer_at(vm: &ModelVm, step: u64) -> String {
    crate::replay::layer_at(&vm.artifact().manifest, step)
        .map_or_else(|| "-".into(), |l| l.name.clone())
}

/// Prints one event as a sentence.
fn narrate(
    log: &Log,
    seen: &mut Seen,
    traces: &HashMap<u64, (String, Arc<VmTrace>)>,
    name_of: &dyn Fn(&Address) -> String,
    d: &Deployment,
) {
    let Some(topic) = log.topic0().copied() else {
        return;
    };
    let short = |h: &B256| format!("{}..", &h.to_string()[..10]);
    macro_rules! decode {
        ($t:ty) => {
            match <$t>::decode_log(&log.inner) {
                Ok(e) => e.data,
                Err(_) => return,
            }
        };
    }
    if topic == InferenceMarket::Submitted::SIGNATURE_HASH {
        let e = decode!(InferenceMarket::Submitted);
        let (c, r) = (e.claimId.to::<u64>(), e.requestId.to::<u64>());
        seen.claim_request.insert(c, r);
        seen.claim_submitter.insert(c, e.submitter);
        let verdict = traces.get(&r).map(|(_, t)| {
            if t.claim().output == e.output.as_ref() && t.claim().final_state == e.finalState.0 {
                "matches the re-execution"
            } else {
                "DIFFERS from the re-execution"
            }
        });
        println!(
            "claim {c} on request {r} by the {}: final state {}, {} steps, stake {} ({})",
            name_of(&e.submitter),
            short(&e.finalState),
            e.steps,
            format_ether(e.stake),
            verdict.unwrap_or("?")
        );
    } else if topic == InferenceMarket::Challenged::SIGNATURE_HASH {
        let e = decode!(InferenceMarket::Challenged);
        seen.game_claim.insert(e.gameId.to(), e.claimId.to());
        println!(
            "game {}: the {} challenges claim {} (bond {})",
            e.gameId,
            name_of(&e.challenger),
            e.claimId,
            format_ether(d.params.challenger_bond)
        );
    } else if topic == DisputeGame::Dissected::SIGNATURE_HASH {
        let e = decode!(DisputeGame::Dissected);
        let who = name_of(&e.mover);
        let span = e.hi - e.lo;
        if e.part == U256::MAX {
            println!(
                "game {}: the {who} dissects [0, {}] into {} parts",
                e.gameId,
                e.hi,
                e.points.len() - 1
            );
        } else {
            println!(
                "game {}: the {who} disputes part {} and narrows to [{}, {}] ({span} steps)",
                e.gameId, e.part, e.lo, e.hi
            );
        }
    } else if topic == DisputeGame::StepVerified::SIGNATURE_HASH {
        let e = decode!(DisputeGame::StepVerified);
        let game = e.gameId.to::<u64>();
        let request = seen
            .game_claim
            .get(&game)
            .and_then(|c| seen.claim_request.get(c));
        let detail = request.and_then(|r| traces.get(r)).map(|(name, t)| {
            let step = e.index;
            let m = t.machine_at(step).ok();
            let ins = m
                .as_ref()
                .and_then(|m| m.code.get(m.pc as usize).map(|i| (i.op.name(), i.a, i.b, m.stack.iter().rev().take(2).copied().collect::<Vec<_>>())));
            match ins {
                Some((op, a, b, operands)) if step < t.claim().steps => format!(
                    "{name}: `{op}` (immediates a={a}, b={b}; top of stack {operands:?}) in layer {}",
                    layer_at(t.vm(), step)
                ),
                _ => format!("{name}: the halted final state"),
            }
        });
        let mover = name_of(&e.mover);
        let verdict = if e.verifiedPost == e.assertedPost {
            format!("it equals the state the opponent asserted, so the {mover} loses")
        } else {
            format!(
                "it differs from the state the opponent asserted ({}), so the {mover} wins",
                short(&e.assertedPost)
            )
        };
        println!(
            "game {game}: decisive step {} -> {}: {}",
            e.index,
            e.index + 1,
            detail.unwrap_or_default()
        );
        println!(
            "game {game}: the {mover} runs the on-chain verifier on the agreed state {}: post-state {}; {verdict}",
            short(&e.preState),
            short(&e.verifiedPost)
        );
    } else if topic == DisputeGame::GameEnded::SIGNATURE_HASH {
        let e = decode!(DisputeGame::GameEnded);
        println!(
            "game {}: {} wins{}",
            e.gameId,
            if e.defenderWon {
                "the defender"
            } else {
                "the challenger"
            },
            if e.byTimeout { " on time" } else { "" }
        );
    } else if topic == InferenceMarket::GameSettled::SIGNATURE_HASH {
        let e = decode!(InferenceMarket::GameSettled);
        println!(
            "game {}: {} paid to the {}, {} burnt",
            e.gameId,
            format_ether(e.payout),
            name_of(&e.winner),
            format_ether(e.burned)
        );
    } else if topic == InferenceMarket::ClaimVoided::SIGNATURE_HASH {
        let e = decode!(InferenceMarket::ClaimVoided);
        seen.voided.push(e.claimId.to());
        println!(
            "claim {} VOIDED: bounty {} to the {}, {} of the bond burnt",
            e.claimId,
            format_ether(e.bounty),
            name_of(&e.beneficiary),
            format_ether(e.burned)
        );
    } else if topic == InferenceMarket::Finalized::SIGNATURE_HASH {
        let e = decode!(InferenceMarket::Finalized);
        seen.finalized.push(e.claimId.to());
        println!(
            "request {} FINALIZED with claim {}: {} to the {}, {} revenue to the model's token",
            e.requestId,
            e.claimId,
            format_ether(e.submitterCut),
            name_of(&e.submitter),
            format_ether(e.revenue)
        );
    } else if topic == InferenceMarket::Released::SIGNATURE_HASH {
        let e = decode!(InferenceMarket::Released);
        println!(
            "claim {} released: {} back to the {}",
            e.claimId,
            format_ether(e.amount),
            name_of(&e.submitter)
        );
    } else if topic == InferenceMarket::Withdrawn::SIGNATURE_HASH {
        let e = decode!(InferenceMarket::Withdrawn);
        println!(
            "the {} withdrew {}",
            name_of(&e.account),
            format_ether(e.amount)
        );
    } else if topic == RevenueShare::SnapshotTaken::SIGNATURE_HASH {
        let e = decode!(RevenueShare::SnapshotTaken);
        println!(
            "revenue snapshot {} of token {}: {}",
            e.snapshotId,
            log.address(),
            format_ether(e.revenue)
        );
    } else if topic == RevenueShare::RevenueClaimed::SIGNATURE_HASH {
        let e = decode!(RevenueShare::RevenueClaimed);
        seen.revenue_claimed += e.amount;
        println!(
            "the token holder ({}) claimed {} of revenue (snapshot {})",
            name_of(&e.account),
            format_ether(e.amount),
            e.snapshotId
        );
    }
}
