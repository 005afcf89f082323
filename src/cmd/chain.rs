//! Commands against a chain: deploy, register, request, status; and what the
//! operator commands share (the RPC timeout, paged log scans).

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use opml_agents::client::{
    Chain, ChainError, NoJournal, TxPolicy, contract_error, is_log_range_limit, parse_key,
};
use opml_agents::deploy::{deploy, market, register};
use opml_agents::player::GameStatus;
use opml_onchain::bindings::{DisputeGame, InferenceMarket, ModelRegistry};
use opml_onchain::protocol::{Deployment, MarketParams, ModelTerms, format_ether, parse_amount};
use opml_vm::artifact::Artifact;
use opml_vm::runtime::Runtime;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// Where the chain is and who signs.
#[derive(Args, Debug, Clone)]
pub(crate) struct ChainArgs {
    /// JSON-RPC endpoint.
    #[arg(long, env = "OPML_RPC", default_value = "http://127.0.0.1:8545")]
    pub(crate) rpc: String,
    /// File with the private key (hex); otherwise the environment variable OPML_KEY.
    #[arg(long)]
    pub(crate) key_file: Option<PathBuf>,
}

impl ChainArgs {
    /// The key given with `--key-file` or `OPML_KEY`, if any.
    pub(crate) fn key(&self) -> Result<Option<PrivateKeySigner>> {
        Ok(match (&self.key_file, std::env::var("OPML_KEY").ok()) {
            (Some(f), _) => Some(opml_agents::client::read_key_file(f)?),
            (None, Some(env)) => Some(parse_key(&env)?),
            (None, None) => None,
        })
    }

    /// Connects, with the key when one is given.
    pub(crate) async fn connect(&self, need_key: bool) -> Result<Chain> {
        self.connect_with(need_key, TxPolicy::default()).await
    }

    /// [`ChainArgs::connect`] with a transaction policy (timeouts, watch-only).
    pub(crate) async fn connect_with(&self, need_key: bool, policy: TxPolicy) -> Result<Chain> {
        let key = match self.key()? {
            Some(k) => Some(k),
            None if need_key => {
                bail!("this command sends transactions: pass --key-file FILE or set OPML_KEY")
            }
            None => None,
        };
        Ok(Chain::connect(&self.rpc, key, policy).await?)
    }
}

/// How long an operator command waits for the node.
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct RpcTimeout {
    /// Seconds to wait for the node's answer to each RPC request (retries of
    /// failed requests included) before giving up with an error: a node that
    /// accepts connections and never answers (paused, overloaded) fails the
    /// command instead of hanging it.
    #[arg(long = "timeout", value_name = "SECONDS", default_value_t = 10)]
    pub(crate) seconds: u64,
}

impl RpcTimeout {
    /// The client policy: each request times out, and failures are retried, within the timeout.
    pub(crate) fn policy(&self) -> TxPolicy {
        let t = Duration::from_secs(self.seconds.max(1));
        TxPolicy {
            rpc_timeout: t,
            rpc_patience: t,
            ..TxPolicy::default()
        }
    }

    /// An unreachable node's error said for an operator: the endpoint (its
    /// secrets masked by the client), and what to check.
    pub(crate) fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        match e.downcast_ref::<ChainError>() {
            Some(ChainError::Unreachable { url, detail, .. }) => anyhow::anyhow!(
                "the node at {url} did not answer within {} s ({detail}); check that it is running and not paused or overloaded (such a node accepts connections but never answers), and that --rpc or OPML_RPC names it; --timeout SECONDS waits longer",
                self.seconds.max(1)
            ),
            _ => e,
        }
    }
}

/// Most blocks one `eth_getLogs` of the operator commands covers; halved
/// while the node refuses a range as too large, as the agents' follower does.
const LOG_PAGE: u64 = 2_000;

/// The logs `filter` matches (its address and topics; the block range is set
/// here) in blocks `[from, to]`, in chain order. The range is asked in pages
/// of at most [`LOG_PAGE`] blocks, newest first when `backward`; the scan
/// stops after the first page after which `enough` holds for the logs found.
pub(crate) async fn scan_logs(
    chain: &Chain,
    filter: &Filter,
    from: u64,
    to: u64,
    backward: bool,
    enough: impl Fn(&[Log]) -> bool,
) -> Result<Vec<Log>> {
    let mut out: Vec<Log> = vec![];
    // blocks per query now, and below the smallest span the node refused
    let (mut page, mut ceiling) = (LOG_PAGE, LOG_PAGE);
    let (mut lo, mut hi) = (from, to);
    while lo <= hi {
        let (a, b) = if backward {
            (hi.saturating_sub(page - 1).max(lo), hi)
        } else {
            (lo, lo.saturating_add(page - 1).min(hi))
        };
        let f = filter
            .clone()
            .from_block(BlockNumberOrTag::Number(a))
            .to_block(BlockNumberOrTag::Number(b));
        let p = chain.provider.clone();
        let got = chain
            .rpc("eth_getLogs", || {
                let (p, f) = (p.clone(), f.clone());
                async move { p.get_logs(&f).await }
            })
            .await;
        match got {
            Ok(logs) => {
                out.extend(logs.into_iter().filter(|l| !l.removed));
                page = (page * 2).min(ceiling);
            }
            Err(ChainError::Refused { detail, .. }) if is_log_range_limit(&detail) && b > a => {
                ceiling = ceiling.min(b - a);
                page = (b - a).div_ceil(2).max(1);
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        if backward {
            if a == lo {
                break;
            }
            hi = a - 1;
        } else {
            if b == hi {
                break;
            }
            lo = b + 1;
        }
        if enough(&out) {
            break;
        }
    }
    out.sort_by_key(|l| (l.block_number, l.log_index));
    Ok(out)
}

/// The deployment file.
#[derive(Args, Debug, Clone)]
pub(crate) struct DeploymentArg {
    /// Deployment file written by `opml deploy`.
    #[arg(long, env = "OPML_DEPLOYMENT", default_value = "out/deployment.json")]
    pub(crate) deployment: PathBuf,
}

impl DeploymentArg {
    pub(crate) fn load(&self, chain: &Chain) -> Result<Deployment> {
        let d = Deployment::load(&self.deployment)?;
        d.check_chain(chain.chain_id, &self.deployment)?;
        Ok(d)
    }
}

/// Commands against a chain.
#[derive(Subcommand)]
pub(crate) enum ChainCommand {
    /// Deploy the protocol (verifier, model-state adapter, market with its registry and game contract).
    Deploy {
        #[command(flatten)]
        chain: ChainArgs,
        /// Market parameters (TOML with the fields of `MarketParams`; see docs/AGENTS.md).
        #[arg(long)]
        params: Option<PathBuf>,
        /// Seconds per party per game (overrides the file).
        #[arg(long)]
        clock_budget: Option<u64>,
        /// Seconds during which a claim can be challenged (overrides the file).
        #[arg(long)]
        challenge_window: Option<u64>,
        /// Dissection arity k (overrides the file).
        #[arg(long)]
        arity: Option<u64>,
        /// Where to write the deployment.
        #[arg(short, long, default_value = "out/deployment.json")]
        out: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Register a compiled artifact (commitment, terms, revenue-share token).
    Register {
        /// The artifact directory.
        artifact: PathBuf,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        deployment: DeploymentArg,
        /// Terms (TOML with the fields of `ModelTerms`).
        #[arg(long)]
        terms: Option<PathBuf>,
        /// Fee per request (wei, or "0.1 ether"; overrides the file).
        #[arg(long)]
        fee: Option<String>,
        /// Submitter's share of the fee in basis points (overrides the file).
        #[arg(long)]
        submitter_share_bps: Option<u16>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Post an inference request, paying the model's fee; optionally wait for its result.
    Request {
        /// The artifact directory of the model (its id and input layout).
        artifact: PathBuf,
        #[command(flatten)]
        input: super::inputs::InputArgs,
        /// Raw input-region bytes instead of .npy files or text.
        #[arg(long, conflicts_with_all = ["input", "text", "prompt"])]
        input_raw: Option<PathBuf>,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        deployment: DeploymentArg,
        /// Wait until the request settles and print the result.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Requests, claims and games as the chain holds them.
    Status {
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        deployment: DeploymentArg,
        #[command(flatten)]
        timeout: RpcTimeout,
        /// Only this request.
        #[arg(long)]
        request: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one chain command.
pub(crate) async fn run(command: ChainCommand) -> Result<()> {
    match command {
        ChainCommand::Deploy {
            chain,
            params,
            clock_budget,
            challenge_window,
            arity,
            out,
            json,
        } => {
            let mut p = match params {
                Some(f) => {
                    let text = std::fs::read_to_string(&f)
                        .with_context(|| format!("cannot read `{}`", f.display()))?;
                    toml::from_str(&text)
                        .with_context(|| format!("`{}` is malformed", f.display()))?
                }
                None => MarketParams::default(),
            };
            p.clock_budget = clock_budget.unwrap_or(p.clock_budget);
            p.challenge_window = challenge_window.unwrap_or(p.challenge_window);
            p.arity = arity.unwrap_or(p.arity);
            let chain = chain.connect(true).await?;
            let d = deploy(&chain, &p).await?;
            d.save(&out)?;
            if json {
                println!("{}", serde_json::to_string(&d)?);
            } else {
                println!("deployed on chain {} at block {}", d.chain_id, d.block);
                println!("  market        {}", d.market);
                println!("  registry      {}", d.registry);
                println!("  dispute game  {}", d.dispute_game);
                println!("  verifier      {}", d.verifier);
                println!("  model state   {}", d.model_state);
                println!("  -> {}", out.display());
            }
        }
        ChainCommand::Register {
            artifact,
            chain,
            deployment,
            terms,
            fee,
            submitter_share_bps,
            json,
        } => {
            let art = Artifact::load(&artifact)?;
            let mut t = match terms {
                Some(f) => {
                    let text = std::fs::read_to_string(&f)
                        .with_context(|| format!("cannot read `{}`", f.display()))?;
                    toml::from_str(&text)
                        .with_context(|| format!("`{}` is malformed", f.display()))?
                }
                None => ModelTerms::default(),
            };
            if let Some(f) = fee {
                t.fee = parse_amount(&f).map_err(anyhow::Error::msg)?;
            }
            t.submitter_share_bps = submitter_share_bps.unwrap_or(t.submitter_share_bps);
            let chain = chain.connect(true).await?;
            let d = deployment.load(&chain)?;
            let (id, token) = register(&chain, &d, &art, &t).await?;
            if json {
                println!(
                    "{}",
                    json!({"model_id": id, "revenue_share": token, "fee": t.fee.to_string(), "steps": art.manifest.steps})
                );
            } else {
                println!("registered {} as model {id}", artifact.display());
                println!("  revenue share token {token}");
                println!(
                    "  fee {} ({} bps to the submitter)",
                    format_ether(t.fee),
                    t.submitter_share_bps
                );
            }
        }
        ChainCommand::Request {
            artifact,
            input,
            input_raw,
            chain,
            deployment,
            wait,
            timeout,
            json,
        } => {
            let art = Artifact::load(&artifact)?;
            let bytes = match input_raw {
                Some(f) => {
                    std::fs::read(&f).with_context(|| format!("cannot read `{}`", f.display()))?
                }
                None => {
                    if input.is_empty() {
                        bail!(
                            "give the input: --input FILE.npy, --text \"...\" for a language model, or --input-raw FILE with the input-region bytes"
                        );
                    }
                    let inputs = input.load(&art, &artifact)?;
                    Runtime::new(art.clone(), false)?.input_region(&inputs)?
                }
            };
            let (id, _, _) =
                opml_onchain::protocol::commitment_of(&art).map_err(anyhow::Error::msg)?;
            let chain = chain.connect(true).await?;
            let d = deployment.load(&chain)?;
            let reg = ModelRegistry::new(d.registry, chain.provider.clone());
            let model = reg
                .model(id)
                .call()
                .await
                .map_err(contract_error("ModelRegistry.model"))
                .with_context(|| {
                    format!("model {id} is not registered; run `opml register` first")
                })?;
            let call = InferenceMarket::requestCall {
                modelId: id,
                input: bytes.clone().into(),
            };
            let sent = chain
                .send(
                    &format!("request model {id}"),
                    Some(d.market),
                    call.abi_encode().into(),
                    U256::from(model.fee),
                    &NoJournal,
                )
                .await?;
            let request = sent
                .receipt
                .inner
                .logs()
                .iter()
                .find_map(|l| {
                    InferenceMarket::Requested::decode_log(&l.inner)
                        .ok()
                        .map(|e| e.data.requestId)
                })
                .context("the request transaction emitted no Requested event")?;
            if !json {
                println!(
                    "request {request}: model {id}, fee {}",
                    format_ether(U256::from(model.fee))
                );
            }
            if !wait {
                if json {
                    println!(
                        "{}",
                        json!({"request": request.to::<u64>(), "model_id": id})
                    );
                }
                return Ok(());
            }
            let m = market(&chain, &d);
            let start = tokio::time::Instant::now();
            loop {
                let r = m
                    .getRequest(request)
                    .call()
                    .await
                    .map_err(contract_error("getRequest"))?;
                match r.status as u8 {
                    2 => {
                        let c = m
                            .getClaim(r.settledClaim)
                            .call()
                            .await
                            .map_err(contract_error("getClaim"))?;
                        // a generation program's text, from the settled claim's output
                        let text = match &art.manifest.generation {
                            Some(_) => {
                                let settled =
                                    opml::aigc::request_result(&chain, &d, request.to()).await?;
                                let tokens = settled
                                    .output
                                    .map(|o| opml::generate::tokens_in(&art, &o))
                                    .unwrap_or_default();
                                let tok = opml::generate::tokenizer(&artifact, None)?;
                                Some(tok.decode(&tokens, true).map_err(|e| {
                                    anyhow::anyhow!("cannot decode the tokens: {e}")
                                })?)
                            }
                            None => None,
                        };
                        if json {
                            println!(
                                "{}",
                                json!({"request": request.to::<u64>(), "model_id": id, "status": "finalized",
                                       "claim": r.settledClaim.to::<u64>(), "submitter": c.submitter,
                                       "final_state": c.finalState, "output_hash": c.outputHash, "steps": c.steps,
                                       "text": text})
                            );
                        } else {
                            println!(
                                "finalized with claim {} by {}: final state {}, output hash {}, {} steps",
                                r.settledClaim, c.submitter, c.finalState, c.outputHash, c.steps
                            );
                            if let Some(t) = text {
                                println!("text: {t}");
                            }
                        }
                        return Ok(());
                    }
                    3 | 4 => bail!(
                        "request {request} ended without a result ({}); its fee is withdrawable by the requester",
                        name(&REQUEST_STATUS, r.status as u8)
                    ),
                    _ => {}
                }
                if start.elapsed() > Duration::from_secs(timeout) {
                    bail!(
                        "request {request} did not settle within {timeout} s; see `opml status --request {request}`"
                    );
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        ChainCommand::Status {
            chain,
            deployment,
            timeout,
            request,
            json,
        } => {
            let report = async {
                let chain = chain.connect_with(false, timeout.policy()).await?;
                let d = deployment.load(&chain)?;
                status(&chain, &d, request).await
            }
            .await
            .map_err(|e| timeout.explain(e))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_status(&report);
            }
        }
    }
    Ok(())
}

const REQUEST_STATUS: [&str; 5] = ["none", "open", "finalized", "refunded", "cancelled"];
/// `InferenceMarket.ClaimStatus` names.
pub(crate) const CLAIM_STATUS: [&str; 5] = ["none", "pending", "voided", "finalized", "released"];
/// `InferenceMarket.Funding` names: whose money backs a game's stake.
pub(crate) const FUNDING: [&str; 3] = ["claim", "challenger", "matched"];

/// The name of enum value `v` in `table`.
pub(crate) fn name(table: &[&'static str], v: u8) -> &'static str {
    table.get(v as usize).copied().unwrap_or("unknown")
}

/// Everything `status` shows, read from the chain.
async fn status(chain: &Chain, d: &Deployment, only: Option<u64>) -> Result<serde_json::Value> {
    let m = market(chain, d);
    let g = DisputeGame::new(d.dispute_game, chain.provider.clone());
    let n_requests: u64 = chain.view("requestCount", &m.requestCount()).await?.to();
    let n_claims: u64 = chain.view("claimCount", &m.claimCount()).await?.to();
    let n_games: u64 = chain.view("gameCount", &g.gameCount()).await?.to();
    let mut requests = vec![];
    for r in 1..=n_requests {
        if only.is_some_and(|o| o != r) {
            continue;
        }
        let q = chain
            .view("getRequest", &m.getRequest(U256::from(r)))
            .await?;
        requests.push(json!({
            "id": r, "model_id": q.modelId, "requester": q.requester, "fee": q.fee.to_string(),
            "deadline": q.deadline, "status": name(&REQUEST_STATUS, q.status as u8),
            "live_claims": q.liveClaims, "settled_claim": q.settledClaim.to::<u64>(),
            "initial_state": q.initialState, "claims": [],
        }));
    }
    let mut claims = vec![];
    for c in 1..=n_claims {
        let x = chain.view("getClaim", &m.getClaim(U256::from(c))).await?;
        let rid: u64 = x.requestId.to();
        if only.is_some_and(|o| o != rid) {
            continue;
        }
        claims.push(json!({
            "id": c, "request": rid, "submitter": x.submitter, "steps": x.steps,
            "status": name(&CLAIM_STATUS, x.status as u8), "challenge_deadline": x.challengeDeadline,
            "open_games": x.openGames, "final_state": x.finalState, "output_hash": x.outputHash,
            "free_stake": x.freeStake.to_string(), "unmatched_games": x.unmatchedGames, "games": [],
        }));
    }
    let mut games = vec![];
    for id in 1..=n_games {
        let r = chain.view("getGame", &m.getGame(U256::from(id))).await?;
        let s = chain.view("game", &g.game(U256::from(id))).await?;
        games.push(json!({
            "id": id, "claim": r.claimId, "challenger": r.challenger, "settled": r.settled,
            "status": format!("{:?}", GameStatus::from_u8(s.status as u8)),
            "segment": [s.lo, s.hi], "moves": s.moves,
            "defender_clock": s.defenderClock, "challenger_clock": s.challengerClock,
        }));
    }
    for c in claims.iter_mut() {
        let id = c["id"].as_u64();
        c["games"] = serde_json::Value::Array(
            games
                .iter()
                .filter(|g| g["claim"].as_u64() == id)
                .cloned()
                .collect(),
        );
    }
    for r in requests.iter_mut() {
        let id = r["id"].as_u64();
        r["claims"] = serde_json::Value::Array(
            claims
                .iter()
                .filter(|c| c["request"].as_u64() == id)
                .cloned()
                .collect(),
        );
    }
    Ok(json!({
        "chain_id": chain.chain_id, "market": d.market, "block": chain.block_number().await?,
        "requests": requests,
    }))
}

fn print_status(report: &serde_json::Value) {
    println!(
        "market {} on chain {} at block {}",
        report["market"].as_str().unwrap_or("?"),
        report["chain_id"],
        report["block"]
    );
    let requests = report["requests"].as_array().cloned().unwrap_or_default();
    if requests.is_empty() {
        println!("no requests");
    }
    for r in requests {
        println!(
            "request {} [{}] model {} fee {} wei",
            r["id"],
            r["status"].as_str().unwrap_or("?"),
            r["model_id"].as_str().unwrap_or("?"),
            r["fee"].as_str().unwrap_or("?")
        );
        for c in r["claims"].as_array().cloned().unwrap_or_default() {
            println!(
                "  claim {} [{}] by {} steps {} games open {}",
                c["id"],
                c["status"].as_str().unwrap_or("?"),
                c["submitter"].as_str().unwrap_or("?"),
                c["steps"],
                c["open_games"]
            );
            for g in c["games"].as_array().cloned().unwrap_or_default() {
                println!(
                    "    game {} [{}] challenger {} segment {} moves {}",
                    g["id"],
                    g["status"].as_str().unwrap_or("?"),
                    g["challenger"].as_str().unwrap_or("?"),
                    g["segment"],
                    g["moves"]
                );
            }
        }
    }
}
