//! Red team of issue 23: ways an honest agent, run as `docs/AGENTS.md` says,
//! lost money. Each test is one finding: it failed on the code it was written
//! against, for the reason its doc comment gives (the "Root cause" named
//! there is the code as it was), and passes since the fix named after it.
//!
//! Real anvil (the npm-pinned Foundry), the real contracts, the agents as real
//! `opml` processes; the adversary is the test itself, sending raw
//! transactions from accounts of its own and ordering them around the honest
//! agent's (automine off, `evm_mine`, priority fees). The driver waits on
//! events (chain state, log lines, the node's pool), never on a fixed sleep.
//! It moves the chain clock in three ways, each said in its test: to a clock's
//! end after the honest agent has shown (in its log, three times) that it will
//! not move; by a fixed charge per model run, as the MiniLM flood test of
//! `tests/agents.rs` does; or 12 s per block of an emulated L1 chain whose
//! blocks wait for the agent.
//!
//! Run: `CARGO_TARGET_DIR=... cargo nextest run --workspace --all-targets
//! --no-fail-fast -E 'binary(redteam)'` (about 25 s once built).

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};
use opml::demo::{DemoModel, post_request, setup_with};
use opml_agents::client::{Chain, parse_key};
use opml_agents::player::GameStatus;
use opml_onchain::bindings::{DisputeGame, InferenceMarket};
use opml_onchain::protocol::{Deployment, FUNDING_CHALLENGER, MarketParams, parse_amount};
use opml_testkit::devnet::{AgentProcess, Anvil, wait_for, write_agent_config};
use std::path::{Path, PathBuf};
use std::time::Duration;

const EXE: &str = env!("CARGO_BIN_EXE_opml");
/// Generous bound for a whole scenario on a loaded 2-core machine.
const SCENARIO: Duration = Duration::from_secs(300);
const PENDING: u8 = 1;
const VOIDED: u8 = 2;
const GWEI: u128 = 1_000_000_000;

/// A chain with the protocol, one model, and agents as processes.
struct Rig {
    agents: Vec<(String, Address, AgentProcess)>,
    /// The endpoint the agents use (anvil's, unless a proxy stands in front).
    rpc: String,
    anvil: Anvil,
    dir: tempfile::TempDir,
    d: Deployment,
    models: Vec<DemoModel>,
    watcher: Chain,
}

impl Rig {
    async fn new(params: &MarketParams) -> Rig {
        let anvil = Anvil::start(None).expect("anvil");
        let dir = tempfile::tempdir().unwrap();
        let models_cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agent-models");
        let (d, models) = setup_with(&anvil, dir.path(), &["mlp784"], Some(&models_cache), params)
            .await
            .expect("deploy and register");
        let watcher = anvil.chain(9).await.unwrap();
        Rig {
            agents: vec![],
            rpc: anvil.url.clone(),
            anvil,
            dir,
            d,
            models,
            watcher,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Starts an honest agent (`role`: `submitter` or `challenger`) with dev
    /// key `key`; `top` holds extra top-level config keys; returns its index.
    fn spawn(&mut self, role: &str, key: usize, policy: &str, top: &str) -> usize {
        self.spawn_with(role, key, policy, top, None)
    }

    /// As [`Rig::spawn`], with a `[faults]` section (a lying agent).
    fn spawn_with(
        &mut self,
        role: &str,
        key: usize,
        policy: &str,
        top: &str,
        faults: Option<&str>,
    ) -> usize {
        let i = self.agents.len();
        let dir = self.path().join(format!("agent{i}"));
        let cfg = write_agent_config(
            &dir,
            &self.rpc,
            &self.path().join("deployment.json"),
            &self.path().join("models"),
            &self.anvil.keys[key],
            policy,
            faults,
        )
        .unwrap();
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(&cfg, format!("{top}{text}")).unwrap();
        let mut proc = AgentProcess::prepare(
            Path::new(EXE),
            role,
            role,
            &cfg,
            faults.is_some(),
            &dir.join("agent.log"),
        );
        proc.restart().unwrap();
        let address = parse_key(&self.anvil.keys[key]).unwrap().address();
        self.agents.push((role.to_string(), address, proc));
        i
    }

    /// An honest submitter (key 1, `policy`) and its claim (claim 1) on a
    /// fresh request; the submitter's index and the request.
    async fn honest_claim(&mut self, policy: &str) -> (usize, u64) {
        let honest = self.spawn("submitter", 1, policy, "");
        let request = self.request().await;
        let m = self.market();
        wait_for("the honest claim", SCENARIO, || async {
            Ok((m.claimCount().call().await?.to::<u64>() == 1).then_some(()))
        })
        .await
        .unwrap();
        (honest, request)
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.agents[i].2.log).unwrap_or_default()
    }

    async fn request(&self) -> u64 {
        let requester = self.anvil.chain(8).await.unwrap();
        let m = &self.models[0];
        post_request(
            &requester,
            &self.d,
            &m.id,
            &m.input,
            parse_amount("0.1 ether").unwrap(),
        )
        .await
        .unwrap()
    }

    async fn rpc(&self, method: &'static str, params: serde_json::Value) -> serde_json::Value {
        self.watcher
            .provider
            .raw_request::<_, serde_json::Value>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn market(&self) -> InferenceMarket::InferenceMarketInstance<alloy::providers::DynProvider> {
        InferenceMarket::new(self.d.market, self.watcher.provider.clone())
    }

    fn games(&self) -> DisputeGame::DisputeGameInstance<alloy::providers::DynProvider> {
        DisputeGame::new(self.d.dispute_game, self.watcher.provider.clone())
    }

    /// `n` fresh adversary accounts, funded with 100 ether each.
    async fn adversaries(&self, n: usize, tag: &str) -> Vec<Adversary> {
        let mut out = vec![];
        for i in 0..n {
            let key = keccak256(format!("red team {tag} {i}"));
            let signer = PrivateKeySigner::from_bytes(&key).unwrap();
            self.anvil
                .set_balance(signer.address(), parse_amount("100 ether").unwrap())
                .await
                .unwrap();
            out.push(Adversary { signer, nonce: 0 });
        }
        out
    }

    /// Signs and broadcasts `data` to `to` from `who` with priority fee `tip`
    /// (anvil orders its pool by it), without waiting for a block.
    async fn broadcast(
        &self,
        who: &mut Adversary,
        to: Address,
        data: Bytes,
        value: U256,
        tip: u128,
    ) -> B256 {
        let wallet = EthereumWallet::from(who.signer.clone());
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_input(data)
            .with_value(value)
            .with_nonce(who.nonce)
            .with_chain_id(self.d.chain_id)
            .with_gas_limit(2_000_000)
            .with_max_priority_fee_per_gas(tip)
            .with_max_fee_per_gas(200 * GWEI + tip);
        who.nonce += 1;
        let env = tx.build(&wallet).await.unwrap();
        *self
            .watcher
            .provider
            .send_raw_transaction(&env.encoded_2718())
            .await
            .unwrap()
            .tx_hash()
    }

    async fn receipt_ok(&self, what: &str, h: B256) -> alloy::rpc::types::TransactionReceipt {
        let r = self
            .watcher
            .provider
            .get_transaction_receipt(h)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{what} was not mined"));
        assert!(r.status(), "{what} reverted");
        r
    }

    /// The first pending transaction in the pool from `from` whose calldata
    /// starts with `selector`.
    async fn pooled(&self, from: Address, selector: [u8; 4]) -> Option<B256> {
        let pool = self.rpc("txpool_content", serde_json::json!([])).await;
        let by = pool["pending"].as_object()?;
        let (_, txs) = by
            .iter()
            .find(|(a, _)| a.parse::<Address>().ok() == Some(from))?;
        txs.as_object()?.values().find_map(|t| {
            let input = t["input"].as_str()?.trim_start_matches("0x");
            (input.len() >= 8 && input[..8] == alloy::hex::encode(selector))
                .then(|| t["hash"].as_str()?.parse().ok())?
        })
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for (_, _, p) in self.agents.iter_mut() {
            p.terminate();
        }
    }
}

/// An account the test plays itself.
struct Adversary {
    signer: PrivateKeySigner,
    nonce: u64,
}

/// FINDING 1: the submitter's match of a challenger-backed game is a
/// separate `topUp` followed by the dissection, and the top-up is journaled
/// under "top up claim C to match game G", a purpose sent at most once.
///
/// The attack, by accounts that are not the submitter's: challenge the
/// honest claim `stake_games` times (the claim's stake backs those games),
/// then once more (game G, backed by the challenger's own stake, so the
/// defender must match it before its first move). The submitter tops up
/// (`top_up_games` games' worth) in one block and dissects in the next; in
/// between (or in front of the dissection in its block, by priority fee) the
/// adversary opens as many new games as the top-up covers: the claim's stake
/// backs them, the top-up is gone, and the dissection of G reverts with
/// `UnmatchedGame`. From then on every pass finds the top-up's purpose mined
/// ("sent once") and does not top up again; the dissection would revert; the
/// defender's clock in G runs out. The adversary calls `timeout`: the honest
/// claim is voided, the submitter loses its bond (half of it to the
/// adversary), and the adversary's other games close with their bonds and
/// stakes refunded. The contract has `topUpAndPlay` (top-up and move in one
/// transaction) for exactly this, and the agent never uses it.
///
/// Root cause: `agents/src/play.rs` `fund_match` (separate transaction, one
/// purpose per game) and `take_turn` (dissects in a second transaction).
///
/// Fixed: the top-up and the dissection now go in one `topUpAndPlay`.
#[tokio::test(flavor = "multi_thread")]
async fn topped_up_stake_taken_before_the_match_loses_the_honest_claim() {
    let mut rig = Rig::new(&MarketParams::default()).await;
    // an honest submitter with the documented defaults (stake_games 4, top_up_games 2)
    let (honest, request) = rig.honest_claim("").await;
    let h = rig.agents[honest].1;
    let m = rig.market();
    let claim_id = U256::from(1);
    let claim = m.getClaim(claim_id).call().await.unwrap();
    assert_eq!(claim.submitter, h);
    let stake = U256::from(claim.gameStake);
    let value = m.challengeValue(claim_id).call().await.unwrap();
    let covered: usize = (claim.freeStake / stake).to();
    let challenge = Bytes::from(
        InferenceMarket::challengeCall {
            requestId: U256::from(request),
            claimId: claim_id,
        }
        .abi_encode(),
    );
    let mut adv = rig.adversaries(covered + 1 + 8, "top-up race").await;

    // Block 1: `covered` claim-backed games, then game G backed by its challenger.
    rig.rpc("evm_setAutomine", serde_json::json!([false])).await;
    let mut opened = vec![];
    for (i, a) in adv.iter_mut().enumerate().take(covered + 1) {
        let tip = (20 - i as u128) * GWEI; // earlier ones first in the block
        let hash = rig
            .broadcast(a, rig.d.market, challenge.clone(), value, tip)
            .await;
        opened.push(hash);
    }
    rig.rpc("evm_mine", serde_json::json!([])).await;
    for (i, hash) in opened.iter().enumerate() {
        rig.receipt_ok(&format!("challenge {i}"), *hash).await;
    }
    let g_id: u64 = rig.games().gameCount().call().await.unwrap().to();
    let g_ref = m.getGame(U256::from(g_id)).call().await.unwrap();
    assert_eq!(
        g_ref.funding, FUNDING_CHALLENGER,
        "game {g_id} is challenger-backed"
    );
    // a few seconds pass before the next block
    rig.rpc("evm_increaseTime", serde_json::json!([3])).await;

    // The submitter's top-up for G reaches the pool: mine it alone...
    let top_up = wait_for("the submitter's top-up in the pool", SCENARIO, || async {
        Ok(
            match rig.pooled(h, InferenceMarket::topUpCall::SELECTOR).await {
                Some(t) => Some(t),
                None => {
                    rig.pooled(h, InferenceMarket::topUpAndPlayCall::SELECTOR)
                        .await
                }
            },
        )
    })
    .await
    .unwrap();
    rig.rpc("evm_mine", serde_json::json!([])).await;
    rig.receipt_ok("the top-up", top_up).await;
    if rig
        .games()
        .game(U256::from(g_id))
        .call()
        .await
        .unwrap()
        .moves
        > 0
    {
        // The top-up came with the dissection, in one transaction: nothing
        // can take it in between.
        rig.rpc("evm_setAutomine", serde_json::json!([true])).await;
        assert_eq!(
            m.getClaim(claim_id).call().await.unwrap().status as u8,
            PENDING
        );
        return;
    }
    // ...and open as many games as it covers, in front of the match (high tip).
    let topped = m.getClaim(claim_id).call().await.unwrap().freeStake;
    let drain: usize = (topped / stake).to();
    assert!(drain >= 1, "the top-up covers a game");
    let mut drains = vec![];
    for a in adv.iter_mut().skip(covered + 1).take(drain) {
        drains.push(
            rig.broadcast(a, rig.d.market, challenge.clone(), value, 100 * GWEI)
                .await,
        );
    }
    rig.rpc("evm_mine", serde_json::json!([])).await;
    for (i, hash) in drains.iter().enumerate() {
        rig.receipt_ok(&format!("draining challenge {i}"), *hash)
            .await;
    }
    rig.rpc("evm_setAutomine", serde_json::json!([true])).await;
    let after = m.getClaim(claim_id).call().await.unwrap();
    let g_ref = m.getGame(U256::from(g_id)).call().await.unwrap();
    assert!(
        after.freeStake < stake && g_ref.funding == FUNDING_CHALLENGER,
        "the sandwich landed: free stake {} < one game's {stake}, game {g_id} unmatched",
        after.freeStake
    );

    // The honest submitter has every pass from here to the end of its clock
    // to match G and dissect. Wait until it did, or until it has shown three
    // times that it will not (the dissection refused, no new top-up).
    let marker = format!("game={g_id} ");
    // top-ups of the claim on chain
    let tops = async || {
        rig.watcher
            .provider
            .get_logs(
                &alloy::rpc::types::Filter::new()
                    .address(rig.d.market)
                    .event_signature(InferenceMarket::ToppedUp::SIGNATURE_HASH)
                    .from_block(rig.d.block),
            )
            .await
            .unwrap()
            .len()
    };
    let matched = wait_for(
        "the submitter to match game G, or to give up",
        SCENARIO,
        || {
            let g = rig.games();
            let log = rig.log(honest);
            let marker = marker.clone();
            async move {
                let game = g.game(U256::from(g_id)).call().await?;
                if game.moves > 0 {
                    return Ok(Some(true));
                }
                let refusals = log
                    .lines()
                    .filter(|l| {
                        (l.contains(&marker) || l.contains(&format!("unit=\"game {g_id}\"")))
                            && (l.contains("would revert") || l.contains("reverted"))
                    })
                    .count();
                Ok((refusals >= 3).then_some(false))
            }
        },
    )
    .await
    .unwrap();
    let log = rig.log(honest);
    eprintln!(
        "matched: {matched}; ToppedUp events on chain: {}; free stake now {} (one game {stake})",
        tops().await,
        m.getClaim(claim_id).call().await.unwrap().freeStake
    );

    // The adversary calls `timeout` on G the second the defender's clock ends
    // (before any of its own clocks in the other games, which started later).
    let game = rig.games().game(U256::from(g_id)).call().await.unwrap();
    let deadline = game.lastMoveAt.to::<u64>() + game.defenderClock;
    for id in 1..=rig.games().gameCount().call().await.unwrap().to::<u64>() {
        if id == g_id || matched {
            continue;
        }
        let other = rig.games().game(U256::from(id)).call().await.unwrap();
        let status = GameStatus::from_u8(other.status as u8);
        if status.is_live() && other.status as u8 != 1 && other.defenderAsserts {
            // the adversary is to move there: its clock must outlast G's defender clock
            assert!(
                other.lastMoveAt.to::<u64>() + other.challengerClock > deadline,
                "game {id}: the adversary's clock would end first"
            );
        }
    }
    let now = rig.watcher.now().await.unwrap();
    if deadline + 1 > now {
        rig.rpc(
            "evm_setNextBlockTimestamp",
            serde_json::json!([deadline + 1]),
        )
        .await;
    }
    let timeout = Bytes::from(
        DisputeGame::timeoutCall {
            gameId: U256::from(g_id),
        }
        .abi_encode(),
    );
    let caller = &mut adv[covered];
    let t = rig
        .broadcast(caller, rig.d.dispute_game, timeout, U256::ZERO, 100 * GWEI)
        .await;
    let r = wait_for("the timeout's receipt", SCENARIO, || async {
        Ok(rig.watcher.provider.get_transaction_receipt(t).await?)
    })
    .await
    .unwrap();
    let claim = m.getClaim(claim_id).call().await.unwrap();
    let game = rig.games().game(U256::from(g_id)).call().await.unwrap();
    let mut voided = String::new();
    for l in rig
        .watcher
        .provider
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(rig.d.market)
                .from_block(rig.d.block),
        )
        .await
        .unwrap()
    {
        if let Ok(e) = InferenceMarket::ClaimVoided::decode_log(&l.inner) {
            voided = format!(
                "claim {} voided by game {}: {} wei to {}, {} wei burnt",
                e.claimId, e.gameId, e.bounty, e.beneficiary, e.burned
            );
        }
    }
    assert!(
        claim.status as u8 == PENDING && !r.status(),
        "the honest claim was lost: status {} (2 = voided), game {g_id} {:?}, the adversary's \
         timeout {}; {voided}; ToppedUp events on chain: {}\nlast log lines:\n{}",
        claim.status as u8,
        GameStatus::from_u8(game.status as u8),
        if r.status() { "succeeded" } else { "reverted" },
        tops().await,
        log.lines()
            .filter(|l| l.contains(&marker) || l.contains(&format!("game {g_id}\"")))
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_ne!(claim.status as u8, VOIDED);
}

/// Submits `claim` for `request` from `who` (bond plus one game's stake), waiting for it.
async fn submit_claim(rig: &Rig, who: &Chain, request: u64, claim: &opml_vm::trace::ClaimData) {
    let m = rig.market();
    let stake = m.gameStakeFor(claim.steps).call().await.unwrap();
    who.send(
        &format!("submit request {request}"),
        Some(rig.d.market),
        opml_agents::play::encode_submit(request, claim),
        rig.d.params.submitter_bond + stake,
        &opml_agents::client::NoJournal,
    )
    .await
    .unwrap();
}

/// Posts a request for the rig's model on `input` (input-region bytes).
async fn request_of(rig: &Rig, input: &[u8]) -> u64 {
    let requester = rig.anvil.chain(8).await.unwrap();
    post_request(
        &requester,
        &rig.d,
        &rig.models[0].id,
        input,
        parse_amount("0.1 ether").unwrap(),
    )
    .await
    .unwrap()
}

/// FINDING 2: the challenger re-executes every pending claim it has no
/// verdict on, one model run per `trace_workers`, in claim-id order, also
/// claims whose challenge window has already closed (nothing can be done
/// about them any more: `challenge` returns at once for them). A claim stays
/// `pending` past its window until someone calls `finalize`, which its
/// submitter may simply never do.
///
/// The attack: while the challenger is down (or before a new challenger
/// starts, or after its database was deleted, which `docs/AGENTS.md` says
/// "loses nothing"), the liar posts `DEAD` correct claims on requests of a
/// watched model and lets their windows pass without finalizing them. Then it
/// posts its lie. The (re)started challenger judges the `DEAD` dead claims
/// first, oldest first, before it ever looks at the lie; with a model whose
/// run takes `RUN_COST` = 2 seconds (the driver charges the chain clock that much
/// for each dead claim judged while the lie's window is open, as the MiniLM
/// flood test does) the lie's window closes unchallenged and the liar
/// finalizes a false result. Cost to the liar: the dead claims' request fees
/// (their bonds come back when it finalizes them afterwards).
///
/// Root cause: `challenger/src/lib.rs` `judge_and_challenge` (every pending
/// claim without a verdict, `store.claims(None, true)` ordered by id; no check
/// of `challenge_deadline` before `judge`).
///
/// Fixed: claims are now judged by deadline, and none whose window closed is re-executed.
#[tokio::test(flavor = "multi_thread")]
async fn dead_claims_judged_first_let_a_lie_through() {
    // MiniLM-L6 at sequence 128 runs in 1.12 s in release (docs/BENCHMARKS.md); a
    // judge opens its trace session on top of that
    const DEAD: u64 = 31;
    const RUN_COST: u64 = 2;
    let mut rig = Rig::new(&MarketParams::default()).await;
    let window = rig.d.params.challenge_window;
    assert!(DEAD * RUN_COST > window);
    let liar = rig.anvil.chain(7).await.unwrap();
    let (vm, fixture) = (rig.models[0].vm.clone(), rig.models[0].input.clone());
    // The dead claims: correct results on requests of their own inputs, never finalized.
    for k in 0..DEAD {
        let mut input = fixture.clone();
        input[0] ^= 1 + k as u8;
        let request = request_of(&rig, &input).await;
        let t = opml_vm::trace::VmTrace::open(vm.clone(), &input).unwrap();
        submit_claim(
            &rig,
            &liar,
            request,
            opml_vm::trace::TraceProvider::claim(&t),
        )
        .await;
    }
    rig.anvil.warp(window + 1).await.unwrap();
    // The lie: another output for the fixture's input.
    let request = request_of(&rig, &fixture).await;
    let honest = std::sync::Arc::new(opml_vm::trace::VmTrace::open(vm.clone(), &fixture).unwrap());
    let faults: opml_agents::faults::SubmitterFaults =
        toml::from_str("wrong_output = true").unwrap();
    let lie = opml_agents::faults::LyingTrace::submitter(honest, &faults)
        .unwrap()
        .unwrap();
    let lie = opml_vm::trace::TraceProvider::claim(&lie).clone();
    submit_claim(&rig, &liar, request, &lie).await;
    let m = rig.market();
    let lie_id = m.claimCount().call().await.unwrap();
    let deadline = m.getClaim(lie_id).call().await.unwrap().challengeDeadline;

    // The challenger (re)starts: documented defaults (trace_workers = 1).
    let watcher = rig.spawn("challenger", 2, "", "");
    let lie_marker = format!("claim re-executed claim={lie_id} ");
    let (mut seen, mut charged) = (0u64, 0u64);
    let start = tokio::time::Instant::now();
    loop {
        assert!(start.elapsed() < SCENARIO, "nothing happened to the lie");
        let challenged = rig.games().gameCount().call().await.unwrap() > U256::ZERO;
        let now = rig.watcher.now().await.unwrap();
        if challenged || now >= deadline {
            break;
        }
        let log = rig.log(watcher);
        let runs = log.matches("claim re-executed").count() as u64;
        let lie_judged = log.contains(&lie_marker);
        if runs > seen {
            if !lie_judged {
                // each dead claim's run took RUN_COST of the lie's window
                let cost = (RUN_COST * (runs - seen)).min(deadline - now);
                rig.anvil.warp(cost).await.unwrap();
                charged += cost;
            }
            seen = runs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = rig.log(watcher);
    let order: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("claim re-executed"))
        .filter_map(|l| l.split("claim=").nth(1)?.split(' ').next())
        .collect();
    eprintln!("judged in this order: {order:?}; {charged} s charged");
    // The window is over: the liar finalizes, if it can.
    let finalized = liar
        .send(
            "finalize the lie",
            Some(rig.d.market),
            InferenceMarket::finalizeCall { claimId: lie_id }
                .abi_encode()
                .into(),
            U256::ZERO,
            &opml_agents::client::NoJournal,
        )
        .await;
    let result = m.result(U256::from(request)).call().await.unwrap();
    assert!(
        !result.finalized || result.outputHash != keccak256(&lie.output),
        "a false result was finalized (finalize: {}): the challenger judged claims {order:?} \
         (the lie is claim {lie_id}; claims 1 to {DEAD} were past their windows) and never \
         challenged the lie within its {window} s window",
        if finalized.is_ok() {
            "succeeded"
        } else {
            "failed"
        },
    );
}

/// FINDING 3: an agent whose balance runs low mid-dispute refuses moves it
/// can pay for. Before every transaction `Chain::send` requires the balance
/// to cover `value + gas_limit * fee_cap(max_fee)`, where the cap is
/// `max_fee_multiple` (default 4) times the node's suggestion; but the
/// transaction is signed at the suggestion (`max_fee`), which is all the node
/// requires and more than it costs. So with a balance between one and four
/// times a move's gas limit at the current fee, the agent logs `cannot be
/// paid for` and does not move, though the move would be accepted and mined;
/// its clock runs out.
///
/// Here it is the honest challenger against a lying submitter, on 2 s blocks.
/// When its first response is due its balance drops to 300,000 gas at the
/// current suggestion: its three responses (about 56,000 gas used each,
/// signed with gas limits of about 93,000) fit in that even at their gas
/// limits, yet each asks for 4 x 93,000. It refuses its move, loses on time,
/// loses its bond, and the false result is finalized.
///
/// Root cause: `agents/src/client.rs` `Chain::send` (`need` uses
/// `self.fee_cap(...)`, the most a later bump may pay, instead of the fee
/// signed now; a bump can check again when it raises the fee).
///
/// Fixed: the balance is now checked at the fee signed now; a bump it cannot pay is refused by the node and the version sent is followed on.
#[tokio::test(flavor = "multi_thread")]
async fn a_low_balance_challenger_refuses_a_move_it_can_pay_for() {
    let mut rig = Rig::new(&MarketParams::default()).await;
    rig.spawn_with("submitter", 1, "", "", Some("wrong_output = true"));
    let watcher = rig.spawn("challenger", 2, "", "");
    let c = rig.agents[watcher].1;
    rig.request().await;
    rig.rpc("evm_setIntervalMining", serde_json::json!([2]))
        .await;
    let m = rig.market();
    // The liar's first dissection is mined: the challenger's first response is due.
    wait_for("the liar's first dissection", SCENARIO, || async {
        let n = rig.games().gameCount().call().await?;
        if n.is_zero() {
            return Ok(None);
        }
        let g = rig.games().game(U256::from(1)).call().await?;
        assert!(g.moves <= 1, "missed the moment: {} moves", g.moves);
        Ok((g.moves == 1 && m.withdrawable(c).call().await?.is_zero()).then_some(()))
    })
    .await
    .unwrap();
    let fees = rig.watcher.provider.estimate_eip1559_fees().await.unwrap();
    let budget = U256::from(300_000u64) * U256::from(fees.max_fee_per_gas);
    rig.anvil.set_balance(c, budget).await.unwrap();
    eprintln!(
        "the challenger holds {budget} wei: 300,000 gas at {} wei (the suggestion)",
        fees.max_fee_per_gas
    );
    let g = rig.games();
    let mut warped = false;
    let start = tokio::time::Instant::now();
    let status = loop {
        assert!(start.elapsed() < SCENARIO, "the game did not end");
        let game = g.game(U256::from(1)).call().await.unwrap();
        let status = GameStatus::from_u8(game.status as u8);
        if !status.is_live() {
            break status;
        }
        let challenger_to_move = game.status as u8 == 2 && game.defenderAsserts;
        let unpaid = rig
            .log(watcher)
            .lines()
            .filter(|l| l.contains("unit=\"game 1\"") && l.contains("cannot be paid for"))
            .count();
        if challenger_to_move && unpaid >= 3 && !warped {
            // it said three times it will not move: its clock runs out
            let now = rig.watcher.now().await.unwrap();
            let end = game.lastMoveAt.to::<u64>() + game.challengerClock;
            rig.anvil.warp(end + 1 - now.min(end)).await.unwrap();
            warped = true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = rig.log(watcher);
    let last = log
        .lines()
        .rfind(|l| l.contains("cannot be paid for"))
        .unwrap_or("")
        .to_string();
    let left = rig.watcher.provider.get_balance(c).await.unwrap();
    if status == GameStatus::DefenderWon {
        // the window passes; the liar's agent finalizes its claim
        let deadline = m
            .getClaim(U256::from(1))
            .call()
            .await
            .unwrap()
            .challengeDeadline;
        let now = rig.watcher.now().await.unwrap();
        if deadline > now {
            rig.anvil.warp(deadline - now + 1).await.unwrap();
        }
        let _ = wait_for("the lie finalized", Duration::from_secs(60), || async {
            Ok(m.result(U256::from(1))
                .call()
                .await?
                .finalized
                .then_some(()))
        })
        .await;
    }
    let finalized = m.result(U256::from(1)).call().await.unwrap().finalized;
    for l in log
        .lines()
        .filter(|l| l.contains(" move ") || l.contains("cannot be paid"))
    {
        eprintln!("{l}");
    }
    assert_eq!(
        status,
        GameStatus::ChallengerWon,
        "the honest challenger lost game 1 on time holding {left} wei (the lie finalized: \
         {finalized}); its last word: {last}"
    );
}

/// FINDING 4: many games against one honest claim outrun the submitter's one
/// transaction per move, `max_concurrent_actions` (8) at a time, each waiting
/// for its receipt. The contract's shortest clock (`MIN_CLOCK_BUDGET`, 300 s,
/// which the agents' start-up checks accept) is argued safe for blocks up to
/// 25 s apart because an honest party's moves, challenges and top-ups "ride
/// in the same transaction" (`DisputeGame.multicall`, `topUpAndPlay`,
/// `challengeManyAndPlay`); the agents never batch. So on a chain with 12 s
/// blocks (Ethereum L1) a defender makes at most 8 first moves a block, 200
/// in a 300 s clock.
///
/// The attack: `GAMES` accounts challenge the honest claim in one go (the
/// claim's stake backs every game: `stake_games` is set to cover them, so no
/// top-up is involved). The submitter dissects 8 games a block; the clocks of
/// the games it has not reached run out; the adversary calls `timeout` on one
/// of them: the claim is voided (the submitter loses its bond, half of it to
/// the adversary) and every other game is closed with the adversary's bond
/// and stake refunded. The attack costs gas only.
///
/// The chain is emulated with 12 s blocks that wait for the agent: a block is
/// mined (chain clock +12 s) only once the agent's pending transactions have
/// not grown for 300 ms (so it always fills the block with all it has to
/// send), or after 2 s without any, which is kinder than a real chain.
///
/// Root cause: `agents/src/play.rs` `take_turn` (one transaction per move),
/// `agents/src/agent.rs` `play_games` (`each_concurrently` with
/// `max_concurrent_actions`, each awaiting its receipt); no batching through
/// `multicall`/`topUpAndPlay`; the start-up checks do not weigh the clock
/// against block time, concurrency and the number of games.
///
/// Fixed: a pass now decides every game's turn, then sends them together in one `multicall` (or `topUpAndPlay`).
#[tokio::test(flavor = "multi_thread")]
async fn many_games_at_once_outrun_one_move_per_transaction() {
    const GAMES: usize = 260;
    const BLOCK_S: u64 = 12;
    let params = MarketParams {
        clock_budget: 300,
        ..MarketParams::default()
    };
    let mut rig = Rig::new(&params).await;
    let (honest, request) = rig
        .honest_claim(&format!("stake_games = {}", GAMES + 10))
        .await;
    let h = rig.agents[honest].1;
    let m = rig.market();
    let claim_id = U256::from(1);
    let value = m.challengeValue(claim_id).call().await.unwrap();
    let challenge = Bytes::from(
        InferenceMarket::challengeCall {
            requestId: U256::from(request),
            claimId: claim_id,
        }
        .abi_encode(),
    );
    let mut adv = rig.adversaries(GAMES, "many games").await;
    rig.rpc("evm_setAutomine", serde_json::json!([false])).await;
    let pending_of = |who: Address| {
        let rig = &rig;
        async move {
            let pool = rig.rpc("txpool_content", serde_json::json!([])).await;
            pool["pending"]
                .as_object()
                .and_then(|by| {
                    by.iter()
                        .find(|(a, _)| a.parse::<Address>().ok() == Some(who))
                        .and_then(|(_, t)| t.as_object().map(|o| o.len()))
                })
                .unwrap_or(0)
        }
    };
    let block = async || {
        rig.rpc("evm_increaseTime", serde_json::json!([BLOCK_S]))
            .await;
        rig.rpc("evm_mine", serde_json::json!([])).await;
    };
    let mut hashes = vec![];
    for a in adv.iter_mut() {
        hashes.push(
            rig.broadcast(a, rig.d.market, challenge.clone(), value, 2 * GWEI)
                .await,
        );
    }
    // the challenges fill a block or two
    loop {
        block().await;
        let status = rig.rpc("txpool_status", serde_json::json!([])).await;
        let left = u64::from_str_radix(
            status["pending"].as_str().unwrap().trim_start_matches("0x"),
            16,
        )
        .unwrap();
        let mine = pending_of(h).await as u64;
        if left <= mine {
            break;
        }
    }
    for (i, hash) in hashes.iter().enumerate() {
        rig.receipt_ok(&format!("challenge {i}"), *hash).await;
    }
    let n: u64 = rig.games().gameCount().call().await.unwrap().to();
    assert_eq!(n as usize, GAMES);

    // The emulated chain: 12 s blocks that wait for the agent.
    let start = tokio::time::Instant::now();
    let (mut last_count, mut since) = (usize::MAX, tokio::time::Instant::now());
    let mut blocks = 0u64;
    let outcome = loop {
        assert!(start.elapsed() < SCENARIO, "the scenario did not end");
        let count = pending_of(h).await;
        if count != last_count {
            (last_count, since) = (count, tokio::time::Instant::now());
        }
        let quiet = since.elapsed();
        if (count > 0 && quiet > Duration::from_millis(300)) || quiet > Duration::from_secs(2) {
            block().await;
            blocks += 1;
            last_count = usize::MAX;
            // every game dissected, or one whose defender's clock ran out
            let now = rig.watcher.now().await.unwrap();
            let g = rig.games();
            let mut undissected = 0;
            let mut expired = None;
            for id in 1..=n {
                let game = g.game(U256::from(id)).call().await.unwrap();
                if game.status as u8 == 1 {
                    undissected += 1;
                    if now > game.lastMoveAt.to::<u64>() + game.defenderClock {
                        expired = Some(id);
                    }
                }
            }
            if undissected == 0 {
                break format!("every game dissected after {blocks} blocks");
            }
            if let Some(id) = expired {
                let timeout = Bytes::from(
                    DisputeGame::timeoutCall {
                        gameId: U256::from(id),
                    }
                    .abi_encode(),
                );
                let t = rig
                    .broadcast(
                        &mut adv[0],
                        rig.d.dispute_game,
                        timeout,
                        U256::ZERO,
                        50 * GWEI,
                    )
                    .await;
                block().await;
                rig.receipt_ok("the adversary's timeout", t).await;
                break format!(
                    "{undissected} of {n} games not dissected after {blocks} blocks \
                     ({} s); game {id} timed out",
                    blocks * BLOCK_S
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    rig.rpc("evm_setAutomine", serde_json::json!([true])).await;
    eprintln!("{outcome}");
    let claim = m.getClaim(claim_id).call().await.unwrap();
    assert_ne!(
        claim.status as u8, VOIDED,
        "the honest claim was voided: {outcome}; the submitter lost its bond"
    );
}

/// FINDING 5: a log bomb blinds every agent behind a public endpoint. The
/// follower asks for every log of the market and the dispute game (filtered
/// by address only) and halves its page while the node refuses the result
/// count; at one block it cannot halve any more, the refusal ends the sync,
/// and the sync is the first step of every pass: no move, challenge,
/// settlement or withdrawal ever happens again.
///
/// The attack: one transaction of `topUpAndPlay` that tops up the liar's own
/// claim 10,001 times by 1 wei (one `ToppedUp` event each; about 28M gas,
/// within a block), in the block of its false claim. An endpoint that caps
/// `eth_getLogs` at 10,000 results (Infura's `-32005 query returned more than
/// 10000 results`, reproduced by the hostile proxy's public mode) refuses that
/// block for ever. The honest challenger never sees the lie; its window
/// passes; the liar finalizes a false result (and gets its bond, its stake and
/// the 10,001 wei back). Every other agent on such an endpoint (honest
/// submitters defending games, say) is stopped the same way.
///
/// Root cause: `agents/src/follow.rs` `Follower::poll` (the address-only
/// filter; a one-block page refused for its result count is returned as an
/// error, `to > cursor.next` guards the halving), `agents/src/agent.rs`
/// `Agent::sync` (its error ends every pass before any play).
///
/// Fixed: the follower now asks only for the events the database reads, and asks a still-refused block event by event.
#[tokio::test(flavor = "multi_thread")]
async fn a_log_bomb_blinds_the_challenger_behind_a_public_endpoint() {
    use opml_testkit::hostile::{Hostile, HostileRpc, Public};
    const BOMB: usize = 10_001;
    let mut rig = Rig::new(&MarketParams::default()).await;
    // a public endpoint's limits only: 1,000 blocks or 10,000 logs per query
    let public = HostileRpc::start(
        &rig.anvil.url,
        Hostile::public(
            23,
            Public {
                rate_limited: 0,
                hang_percent: 0,
                strip_revert_data: false,
                ..Public::free_tier(Duration::from_secs(1))
            },
        ),
    )
    .await
    .unwrap();
    rig.rpc = public.url.clone();
    let watcher = rig.spawn("challenger", 2, "", "");
    wait_for("the challenger's first pass", SCENARIO, || async {
        Ok(rig.log(watcher).contains("agent started").then_some(()))
    })
    .await
    .unwrap();
    // The lie: another output for the fixture's input, and the bomb in its block.
    let request = rig.request().await;
    let (vm, fixture) = (rig.models[0].vm.clone(), rig.models[0].input.clone());
    let honest = std::sync::Arc::new(opml_vm::trace::VmTrace::open(vm, &fixture).unwrap());
    let faults: opml_agents::faults::SubmitterFaults =
        toml::from_str("wrong_output = true").unwrap();
    let lie = opml_agents::faults::LyingTrace::submitter(honest, &faults)
        .unwrap()
        .unwrap();
    let lie = opml_vm::trace::TraceProvider::claim(&lie).clone();
    let m = rig.market();
    let stake = m.gameStakeFor(lie.steps).call().await.unwrap();
    let mut liar = rig.adversaries(1, "log bomb").await.remove(0);
    let lie_id = m.claimCount().call().await.unwrap() + U256::from(1);
    rig.rpc("evm_setAutomine", serde_json::json!([false])).await;
    let submit = rig
        .broadcast(
            &mut liar,
            rig.d.market,
            opml_agents::play::encode_submit(request, &lie),
            rig.d.params.submitter_bond + stake,
            GWEI,
        )
        .await;
    let bomb = Bytes::from(
        InferenceMarket::topUpAndPlayCall {
            claimIds: vec![lie_id; BOMB],
            amounts: vec![U256::from(1); BOMB],
            moves: vec![],
        }
        .abi_encode(),
    );
    let wallet = EthereumWallet::from(liar.signer.clone());
    let tx = TransactionRequest::default()
        .with_to(rig.d.market)
        .with_input(bomb)
        .with_value(U256::from(BOMB))
        .with_nonce(liar.nonce)
        .with_chain_id(rig.d.chain_id)
        .with_gas_limit(55_000_000)
        .with_max_priority_fee_per_gas(GWEI)
        .with_max_fee_per_gas(200 * GWEI);
    liar.nonce += 1;
    let env = tx.build(&wallet).await.unwrap();
    let bomb = *rig
        .watcher
        .provider
        .send_raw_transaction(&env.encoded_2718())
        .await
        .unwrap()
        .tx_hash();
    rig.rpc("evm_mine", serde_json::json!([])).await;
    rig.rpc("evm_setAutomine", serde_json::json!([true])).await;
    let a = rig.receipt_ok("the false claim", submit).await;
    let b = rig.receipt_ok("the bomb", bomb).await;
    assert_eq!(a.block_number, b.block_number, "one block");
    eprintln!(
        "the bomb: {} logs, {} gas",
        b.inner.logs().len(),
        b.gas_used
    );
    let deadline = m.getClaim(lie_id).call().await.unwrap().challengeDeadline;

    // The challenger challenges the lie, or shows three times that it cannot
    // get past the block.
    let challenged = wait_for("a challenge, or a stuck follower", SCENARIO, || async {
        if rig.games().gameCount().call().await? > U256::ZERO {
            return Ok(Some(true));
        }
        let stuck = rig
            .log(watcher)
            .lines()
            .filter(|l| l.contains("returned more than") && l.contains("pass failed"))
            .count();
        Ok((stuck >= 3).then_some(false))
    })
    .await
    .unwrap();
    let now = rig.watcher.now().await.unwrap();
    if !challenged && deadline > now {
        rig.anvil.warp(deadline - now + 1).await.unwrap();
    }
    let finalize = Bytes::from(InferenceMarket::finalizeCall { claimId: lie_id }.abi_encode());
    let f = rig
        .broadcast(&mut liar, rig.d.market, finalize, U256::ZERO, GWEI)
        .await;
    let r = wait_for("the finalize receipt", SCENARIO, || async {
        Ok(rig.watcher.provider.get_transaction_receipt(f).await?)
    })
    .await
    .unwrap();
    let result = m.result(U256::from(request)).call().await.unwrap();
    let last = rig
        .log(watcher)
        .lines()
        .rfind(|l| l.contains("pass failed"))
        .unwrap_or("")
        .to_string();
    assert!(
        !(result.finalized && result.outputHash == keccak256(&lie.output)),
        "a false result was finalized (finalize {}): the challenger never challenged it; \
         its last word: {last}",
        if r.status() { "succeeded" } else { "reverted" }
    );
}

/// One `eth_getLogs` the agent sent through [`LaggingRpc`].
#[derive(Debug, Clone, Copy)]
struct Scan {
    from: u64,
    to: u64,
    /// The log backend's head when it answered.
    visible: u64,
}

#[derive(Default)]
struct LagState {
    /// Whether the second backend lags (else both answer alike).
    calm: bool,
    /// When each block was first seen at anvil's head.
    born: std::collections::BTreeMap<u64, std::time::Instant>,
    scans: Vec<Scan>,
}

impl LagState {
    fn visible(&self, lag: Duration) -> u64 {
        if self.calm {
            return u64::MAX;
        }
        self.born
            .iter()
            .rev()
            .find(|(_, t)| t.elapsed() >= lag)
            .map_or(0, |(n, _)| *n)
    }
}

/// A load-balanced endpoint of two backends `lag` apart: the head (a block by
/// tag, `eth_blockNumber`) comes from the fresh one, blocks by number and logs
/// from the one behind, which answers as a node does for blocks past its head
/// (no block; logs only up to its head, none when the range starts past it).
/// Everything else is forwarded as is. Records every `eth_getLogs`.
struct LaggingRpc {
    url: String,
    lag: Duration,
    state: std::sync::Arc<std::sync::Mutex<LagState>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl LaggingRpc {
    async fn start(upstream: &str, lag: Duration) -> LaggingRpc {
        use std::sync::{Arc, Mutex};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(LagState::default()));
        let client = alloy::transports::http::reqwest::Client::new();
        let head = |client: alloy::transports::http::reqwest::Client, upstream: String| async move {
            let v: serde_json::Value = client
                .post(&upstream)
                .header("content-type", "application/json")
                .body(r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            u64::from_str_radix(v["result"].as_str()?.trim_start_matches("0x"), 16).ok()
        };
        // the blocks already there are on both backends
        let first = head(client.clone(), upstream.to_string()).await.unwrap();
        {
            let old = std::time::Instant::now()
                .checked_sub(lag * 2)
                .unwrap_or_else(std::time::Instant::now);
            let mut s = state.lock().unwrap();
            for n in 0..=first {
                s.born.insert(n, old);
            }
        }
        let watch = {
            let (state, client, upstream) = (state.clone(), client.clone(), upstream.to_string());
            tokio::spawn(async move {
                loop {
                    if let Some(n) = head(client.clone(), upstream.clone()).await {
                        let mut s = state.lock().unwrap();
                        let now = std::time::Instant::now();
                        for b in 0..=n {
                            s.born.entry(b).or_insert(now);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let accept = {
            let (state, upstream) = (state.clone(), upstream.to_string());
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (state, client, upstream) =
                        (state.clone(), client.clone(), upstream.clone());
                    tokio::spawn(async move {
                        let _ = lagging_connection(stream, &state, lag, &client, &upstream).await;
                    });
                }
            })
        };
        LaggingRpc {
            url,
            lag,
            state,
            tasks: vec![watch, accept],
        }
    }

    fn visible(&self) -> u64 {
        self.state.lock().unwrap().visible(self.lag)
    }

    fn scans(&self) -> Vec<Scan> {
        self.state.lock().unwrap().scans.clone()
    }

    /// While calm, both backends answer alike; `false` lets the second lag again.
    fn calm(&self, calm: bool) {
        self.state.lock().unwrap().calm = calm;
    }
}

impl Drop for LaggingRpc {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn hex_block(v: &serde_json::Value) -> Option<u64> {
    let s = v.as_str()?.strip_prefix("0x")?;
    u64::from_str_radix(s, 16).ok()
}

/// Serves one keep-alive HTTP/1.1 connection of JSON-RPC posts.
async fn lagging_connection(
    mut stream: tokio::net::TcpStream,
    state: &std::sync::Mutex<LagState>,
    lag: Duration,
    client: &alloy::transports::http::reqwest::Client,
    upstream: &str,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf: Vec<u8> = vec![];
    loop {
        // headers
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + len {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Vec<u8> = buf[end..end + len].to_vec();
        buf.drain(..end + len);
        let mut call: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let method = call["method"].as_str().unwrap_or("").to_string();
        let visible = state.lock().unwrap().visible(lag);
        let mut answer: Option<serde_json::Value> = None;
        if method == "eth_getBlockByNumber"
            && let Some(n) = hex_block(&call["params"][0])
            && n > visible
        {
            answer = Some(serde_json::Value::Null);
        }
        if method == "eth_getLogs"
            && let (Some(from), Some(to)) = (
                hex_block(&call["params"][0]["fromBlock"]),
                hex_block(&call["params"][0]["toBlock"]),
            )
        {
            state.lock().unwrap().scans.push(Scan { from, to, visible });
            if from > visible {
                answer = Some(serde_json::json!([]));
            } else if to > visible {
                call["params"][0]["toBlock"] = format!("0x{visible:x}").into();
            }
        }
        let out = match answer {
            Some(result) => {
                serde_json::json!({"jsonrpc": "2.0", "id": call["id"], "result": result})
                    .to_string()
                    .into_bytes()
            }
            None => {
                let sent = client
                    .post(upstream)
                    .header("content-type", "application/json")
                    .body(call.to_string())
                    .send()
                    .await;
                match sent {
                    Ok(r) => r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
                    Err(_) => return Ok(()),
                }
            }
        };
        let header = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            out.len()
        );
        stream.write_all(header.as_bytes()).await?;
        stream.write_all(&out).await?;
    }
}

/// FINDING A (follower, change 1): the end of each scanned range is now
/// vouched for by the pass's one `latest` header (its hash, or its parent's),
/// never by a read of that block; the logs come from a second request.
///
/// The attack: nothing but an endpoint whose answers are a few seconds apart
/// (a load-balanced provider: the head from a fresh backend, logs and blocks
/// by number from one a block or two behind, which clamps `toBlock` to its
/// head as geth does), and a lie posted while the honest challenger is idle.
/// The challenger's next pass reads the head (the lie's block), asks for the
/// logs up to it, is answered up to the block before, and stores the cursor
/// past the lie's block with the head's hash, which is canonical: no reorg is
/// ever seen there and the block is never scanned again. The lie is never
/// judged; its window passes; the liar finalizes a false result. Before the
/// change, the pass read block `to` by number first (from the same backend
/// that answers logs), found none, and waited a pass.
///
/// Root cause: `agents/src/follow.rs` `Follower::poll_below` (`to_hash` from
/// `hash_of(to, head)`, which never asks the node for `to`; the logs' answer
/// is trusted to reach `to`).
#[tokio::test(flavor = "multi_thread")]
async fn a_log_backend_a_block_behind_the_head_hides_a_lie_for_ever() {
    const LAG: Duration = Duration::from_secs(4);
    let mut rig = Rig::new(&MarketParams::default()).await;
    let lagging = LaggingRpc::start(&rig.anvil.url, LAG).await;
    rig.rpc = lagging.url.clone();
    let request = rig.request().await;
    let at_request = rig.watcher.provider.get_block_number().await.unwrap();
    wait_for("the request on both backends", SCENARIO, || async {
        Ok((lagging.visible() >= at_request).then_some(()))
    })
    .await
    .unwrap();
    let watcher = rig.spawn("challenger", 2, "", "");
    wait_for("the challenger's scan of the request", SCENARIO, || async {
        Ok(lagging
            .scans()
            .iter()
            .any(|s| s.from <= at_request && s.to.min(s.visible) >= at_request)
            .then_some(()))
    })
    .await
    .unwrap();

    // The lie (another output for the fixture's input), posted from an account of the adversary.
    let (vm, fixture) = (rig.models[0].vm.clone(), rig.models[0].input.clone());
    let honest = std::sync::Arc::new(opml_vm::trace::VmTrace::open(vm, &fixture).unwrap());
    let faults: opml_agents::faults::SubmitterFaults =
        toml::from_str("wrong_output = true").unwrap();
    let lie = opml_agents::faults::LyingTrace::submitter(honest, &faults)
        .unwrap()
        .unwrap();
    let lie = opml_vm::trace::TraceProvider::claim(&lie).clone();
    let m = rig.market();
    let stake = m.gameStakeFor(lie.steps).call().await.unwrap();
    let mut liar = rig.adversaries(1, "lagging logs").await.remove(0);
    let lie_id = m.claimCount().call().await.unwrap() + U256::from(1);
    let submit = rig
        .broadcast(
            &mut liar,
            rig.d.market,
            opml_agents::play::encode_submit(request, &lie),
            rig.d.params.submitter_bond + stake,
            GWEI,
        )
        .await;
    let r = wait_for("the false claim's receipt", SCENARIO, || async {
        Ok(rig.watcher.provider.get_transaction_receipt(submit).await?)
    })
    .await
    .unwrap();
    assert!(r.status(), "the false claim reverted");
    let lie_block = r.block_number.unwrap();

    // The challenger challenges, or its cursor passes the lie's block on an
    // answer that stopped before it, and (the backend caught up, a block later)
    // it scans on from there.
    let challenged =
        || async { Ok::<_, anyhow::Error>(rig.games().gameCount().call().await? > U256::ZERO) };
    let early = wait_for(
        "a challenge, or a scan cut short before the lie",
        SCENARIO,
        || async {
            if challenged().await? {
                return Ok(Some(false));
            }
            Ok(lagging
                .scans()
                .iter()
                .any(|s| s.to >= lie_block && s.visible < lie_block)
                .then_some(true))
        },
    )
    .await
    .unwrap();
    if early {
        wait_for("the lie on both backends", SCENARIO, || async {
            Ok((lagging.visible() >= lie_block).then_some(()))
        })
        .await
        .unwrap();
        rig.rpc("evm_mine", serde_json::json!([])).await;
        let passed = wait_for(
            "a challenge, or a scan from past the lie",
            SCENARIO,
            || async {
                if challenged().await? {
                    return Ok(Some(false));
                }
                Ok(lagging
                    .scans()
                    .iter()
                    .any(|s| s.from > lie_block && s.visible >= lie_block)
                    .then_some(true))
            },
        )
        .await
        .unwrap();
        eprintln!(
            "scans: {:?}; cursor past the lie without it: {passed}",
            lagging.scans()
        );
    }
    let deadline = m.getClaim(lie_id).call().await.unwrap().challengeDeadline;
    let now = rig.watcher.now().await.unwrap();
    if !challenged().await.unwrap() && deadline > now {
        rig.anvil.warp(deadline - now + 1).await.unwrap();
    }
    let finalize = Bytes::from(InferenceMarket::finalizeCall { claimId: lie_id }.abi_encode());
    let f = rig
        .broadcast(&mut liar, rig.d.market, finalize, U256::ZERO, GWEI)
        .await;
    let _ = wait_for("the finalize receipt", SCENARIO, || async {
        Ok(rig.watcher.provider.get_transaction_receipt(f).await?)
    })
    .await
    .unwrap();
    let result = m.result(U256::from(request)).call().await.unwrap();
    let judged = rig.log(watcher).contains(&format!("claim={lie_id}"));
    assert!(
        !(result.finalized && result.outputHash == keccak256(&lie.output)),
        "a false result was finalized: the challenger's follower moved past the lie's block \
         (block {lie_block}) on logs that stopped short of it; the challenger {} the claim",
        if judged { "judged" } else { "never judged" }
    );
}

/// FINDING A, the defender's side: the same endpoint (head from the fresh
/// backend, logs from one a few seconds behind) hides the challenge of an
/// honest claim from its submitter. Its pass after the challenge's block asks
/// for the logs up to it, gets them up to the block before, and moves its
/// cursor past the challenge. It never sees the game, never moves, and the
/// challenger calls `timeout` once the defender's clock is spent: the honest
/// claim is voided, the submitter loses its bond (half to the adversary).
///
/// Root cause: as for `a_log_backend_a_block_behind_the_head_hides_a_lie_for_ever`.
#[tokio::test(flavor = "multi_thread")]
async fn a_log_backend_a_block_behind_the_head_hides_a_challenge_and_the_bond_is_lost() {
    const LAG: Duration = Duration::from_secs(4);
    let mut rig = Rig::new(&MarketParams::default()).await;
    let lagging = LaggingRpc::start(&rig.anvil.url, LAG).await;
    rig.rpc = lagging.url.clone();
    // both backends alike until the submitter has its claim in its database
    lagging.calm(true);
    let (_honest, request) = rig.honest_claim("").await;
    let m = rig.market();
    let claim_id = U256::from(1);
    let at_claim = rig.watcher.provider.get_block_number().await.unwrap();
    wait_for("the submitter's scan of its claim", SCENARIO, || async {
        Ok(lagging
            .scans()
            .iter()
            .any(|s| s.from <= at_claim && s.to >= at_claim)
            .then_some(()))
    })
    .await
    .unwrap();
    lagging.calm(false);
    let value = m.challengeValue(claim_id).call().await.unwrap();
    let mut adv = rig.adversaries(1, "lagging challenge").await.remove(0);
    let challenge = rig
        .broadcast(
            &mut adv,
            rig.d.market,
            Bytes::from(
                InferenceMarket::challengeCall {
                    requestId: U256::from(request),
                    claimId: claim_id,
                }
                .abi_encode(),
            ),
            value,
            GWEI,
        )
        .await;
    let r = wait_for("the challenge's receipt", SCENARIO, || async {
        Ok(rig
            .watcher
            .provider
            .get_transaction_receipt(challenge)
            .await?)
    })
    .await
    .unwrap();
    assert!(r.status(), "the challenge reverted");
    let at = r.block_number.unwrap();
    let game: u64 = rig.games().gameCount().call().await.unwrap().to();
    let defended = || async {
        Ok::<_, anyhow::Error>(rig.games().game(U256::from(game)).call().await?.moves > 0)
    };
    let early = wait_for(
        "a defence, or a scan cut short before the challenge",
        SCENARIO,
        || async {
            if defended().await? {
                return Ok(Some(false));
            }
            Ok(lagging
                .scans()
                .iter()
                .any(|s| s.to >= at && s.visible < at)
                .then_some(true))
        },
    )
    .await
    .unwrap();
    if early {
        wait_for("the challenge on both backends", SCENARIO, || async {
            Ok((lagging.visible() >= at).then_some(()))
        })
        .await
        .unwrap();
        rig.rpc("evm_mine", serde_json::json!([])).await;
        wait_for(
            "a defence, or a scan from past the challenge",
            SCENARIO,
            || async {
                if defended().await? {
                    return Ok(Some(()));
                }
                Ok(lagging
                    .scans()
                    .iter()
                    .any(|s| s.from > at && s.visible >= at)
                    .then_some(()))
            },
        )
        .await
        .unwrap();
    }
    // The defender's clock runs out unless it moved; the adversary times it out.
    if !defended().await.unwrap() {
        rig.anvil.warp(rig.d.params.clock_budget + 1).await.unwrap();
    }
    let t = rig
        .broadcast(
            &mut adv,
            rig.d.dispute_game,
            Bytes::from(
                DisputeGame::timeoutCall {
                    gameId: U256::from(game),
                }
                .abi_encode(),
            ),
            U256::ZERO,
            GWEI,
        )
        .await;
    let _ = wait_for("the timeout receipt", SCENARIO, || async {
        Ok(rig.watcher.provider.get_transaction_receipt(t).await?)
    })
    .await
    .unwrap();
    let status = m.getClaim(claim_id).call().await.unwrap().status as u8;
    eprintln!("scans: {:?}", lagging.scans());
    assert_ne!(
        status, VOIDED,
        "the honest claim was voided by timeout: the submitter's follower moved past the \
         challenge's block (block {at}) on logs that stopped short of it, and never defended"
    );
}
