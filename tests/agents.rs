//! The protocol end to end: real anvil (the npm-pinned Foundry), the real
//! contracts, and the submitter and challenger as real `opml` processes.
//!
//! Each test builds its own chain. The driver never sleeps a fixed time: it
//! polls the chain, and moves the chain clock (`evm_increaseTime`) only when
//! the chain says it must: a game waits on a party that has stalled (it said
//! so in its log), or every expected game is over and the claims' windows are
//! all that is left.
//!
//! `OPML_DEEP=1` (the `./dev test-agents-deep` recipe) kills at more points.

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolEvent;
use opml::demo::{DemoModel, post_request, setup_with};
use opml_agents::client::{Chain, parse_key};
use opml_agents::player::GameStatus;
use opml_onchain::bindings::{DisputeGame, InferenceMarket};
use opml_onchain::protocol::{Deployment, MarketParams, parse_amount};
use opml_testkit::devnet::{AgentProcess, Anvil, RpcProxy, wait_for, write_agent_config};
use std::path::{Path, PathBuf};
use std::time::Duration;

const EXE: &str = env!("CARGO_BIN_EXE_opml");
/// Generous bound for a whole scenario on a loaded 2-core machine; never reached when all is well.
const SCENARIO: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Submitter,
    Challenger,
}

/// One agent of a scenario.
#[derive(Clone)]
struct Party {
    name: &'static str,
    role: Role,
    faults: Option<String>,
    policy: String,
    /// Honest parties must win every game they play.
    honest: bool,
    /// Another models directory than the shared one.
    models_dir: Option<PathBuf>,
    /// Environment variables of its process (crash points).
    env: Vec<(String, String)>,
    /// Extra top-level config keys (limits).
    top: String,
}

fn submitter(name: &'static str, faults: Option<&str>) -> Party {
    Party {
        name,
        role: Role::Submitter,
        faults: faults.map(str::to_string),
        policy: String::new(),
        honest: faults.is_none(),
        models_dir: None,
        env: vec![],
        top: String::new(),
    }
}

fn challenger(name: &'static str, faults: Option<&str>) -> Party {
    Party {
        name,
        role: Role::Challenger,
        faults: faults.map(str::to_string),
        policy: String::new(),
        honest: faults.is_none(),
        models_dir: None,
        env: vec![],
        top: String::new(),
    }
}

struct Agent {
    party: Party,
    address: Address,
    proc: AgentProcess,
    dir: PathBuf,
}

/// A chain with the protocol, the mlp784 fixture, and agents.
struct Net {
    /// First, so a failed test stops them before the chain and their
    /// directories go (fields drop in order).
    agents: Vec<Agent>,
    anvil: Anvil,
    dir: tempfile::TempDir,
    d: Deployment,
    models: Vec<DemoModel>,
    watcher: Chain,
    rpc: String,
    warped_games: Vec<(u64, u16)>,
    /// Accounts the test plays itself that never move again (a scripted liar):
    /// a game waiting on one of them may have its clock run out.
    stalling: Vec<Address>,
    /// Games the test plays a liar in itself: the lying party and the first
    /// step of its trace that is wrong (for the replay's divergence).
    scripted_games: Vec<(u64, opml::replay::Role, u64)>,
}

impl Net {
    async fn new() -> Net {
        Net::with_rpc(None).await
    }

    /// `proxy`: the agents talk to the chain through it.
    async fn with_rpc(proxy: Option<&RpcProxy>) -> Net {
        Net::build("mlp784", proxy).await
    }

    async fn build(model: &str, proxy: Option<&RpcProxy>) -> Net {
        Net::build_with(model, proxy, &MarketParams::default()).await
    }

    async fn build_with(model: &str, proxy: Option<&RpcProxy>, params: &MarketParams) -> Net {
        Net::build_on(Anvil::start(None).expect("anvil"), model, proxy, params).await
    }

    async fn build_on(
        anvil: Anvil,
        model: &str,
        proxy: Option<&RpcProxy>,
        params: &MarketParams,
    ) -> Net {
        let dir = tempfile::tempdir().unwrap();
        // compiled artifacts are shared between tests through the target directory
        let models_cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agent-models");
        let (d, models) = setup_with(&anvil, dir.path(), &[model], Some(&models_cache), params)
            .await
            .expect("deploy and register");
        let watcher = anvil.chain(9).await.unwrap();
        let rpc = proxy.map(|p| p.url.clone()).unwrap_or(anvil.url.clone());
        Net {
            anvil,
            dir,
            d,
            models,
            agents: vec![],
            watcher,
            rpc,
            warped_games: vec![],
            stalling: vec![],
            scripted_games: vec![],
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Starts an agent with dev key `1 + index`.
    fn add(&mut self, party: Party) -> usize {
        self.add_with(party, None)
    }

    /// Starts an agent with dev key `1 + index` and its database at `database_url`.
    fn add_with(&mut self, party: Party, database_url: Option<&str>) -> usize {
        let i = self.agents.len();
        let top = database_url
            .map(|u| format!("database_url = {u:?}\n"))
            .unwrap_or_default();
        self.spawn(party, 1 + i, &top)
    }

    /// Starts `n` instances of one agent that share a key and a PostgreSQL
    /// database, with 3 s leases; returns their indices.
    fn add_fleet(&mut self, party: Party, database_url: &str, n: usize) -> Vec<usize> {
        let key = 1 + self.agents.len();
        (0..n)
            .map(|k| {
                let top = format!(
                    "database_url = {database_url:?}\ninstance = \"{} #{k}\"\nlease_ttl_s = 3\nrpc_timeout_s = 1\n",
                    party.name
                );
                self.spawn(party.clone(), key, &top)
            })
            .collect()
    }

    /// Starts an agent with dev key `key`; `top` holds extra top-level config keys.
    fn spawn(&mut self, party: Party, key: usize, top: &str) -> usize {
        let i = self.agents.len();
        let key = &self.anvil.keys[key];
        let dir = self.path().join(format!("agent{i}"));
        let cfg = write_agent_config(
            &dir,
            &self.rpc,
            &self.path().join("deployment.json"),
            party
                .models_dir
                .as_deref()
                .unwrap_or(&self.path().join("models")),
            key,
            &party.policy,
            party.faults.as_deref(),
        )
        .unwrap();
        // top-level keys go before the config's tables
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(&cfg, format!("{top}{}{text}", party.top)).unwrap();
        let role = match party.role {
            Role::Submitter => "submitter",
            Role::Challenger => "challenger",
        };
        let mut proc = AgentProcess::prepare(
            Path::new(EXE),
            party.name,
            role,
            &cfg,
            party.faults.is_some(),
            &dir.join("agent.log"),
        );
        proc.env = party.env.clone();
        proc.restart().unwrap();
        self.agents.push(Agent {
            address: parse_key(key).unwrap().address(),
            party,
            proc,
            dir,
        });
        i
    }

    async fn request(&self) -> u64 {
        self.request_of(&self.models[0].input).await
    }

    /// Posts a request for the first model on `input` (input-region bytes).
    async fn request_of(&self, input: &[u8]) -> u64 {
        let requester = self.anvil.chain(8).await.unwrap();
        let m = &self.models[0];
        post_request(
            &requester,
            &self.d,
            &m.id,
            input,
            parse_amount("0.1 ether").unwrap(),
        )
        .await
        .unwrap()
    }

    fn agent_at(&self, a: Address) -> Option<&Agent> {
        self.agents.iter().find(|x| x.address == a)
    }

    fn log_of(&self, a: &Agent) -> String {
        std::fs::read_to_string(a.proc.log.clone()).unwrap_or_default()
    }

    /// Waits until agent `i` has logged every one of `needles`, and returns
    /// its log. An agent logs a move after its transaction is sent, and with
    /// automine the chain can show the move before the line is written.
    async fn wait_log(&self, i: usize, needles: &[&str]) -> String {
        let what = format!("{} to log {needles:?}", self.agents[i].party.name);
        let found = wait_for(&what, SCENARIO, || async {
            let log = self.log_of(&self.agents[i]);
            Ok(needles.iter().all(|n| log.contains(n)).then_some(log))
        })
        .await;
        found.unwrap_or_else(|e| panic!("{e:#}:\n{}", self.log_of(&self.agents[i])))
    }

    /// Reads claims and games from the chain.
    async fn snapshot(&self) -> Snapshot {
        let m = InferenceMarket::new(self.d.market, self.watcher.provider.clone());
        let g = DisputeGame::new(self.d.dispute_game, self.watcher.provider.clone());
        let n_claims: u64 = m.claimCount().call().await.unwrap().to();
        let n_games: u64 = g.gameCount().call().await.unwrap().to();
        let mut s = Snapshot::default();
        for c in 1..=n_claims {
            let x = m.getClaim(U256::from(c)).call().await.unwrap();
            s.claims.push((
                c,
                x.submitter,
                x.status as u8,
                x.openGames,
                x.challengeDeadline,
            ));
        }
        for id in 1..=n_games {
            let x = g.game(U256::from(id)).call().await.unwrap();
            let r = m.getGame(U256::from(id)).call().await.unwrap();
            s.games.push(GameView {
                id,
                claim: r.claimId,
                defender: x.defender,
                challenger: x.challenger,
                status: GameStatus::from_u8(x.status as u8),
                defender_asserts: x.defenderAsserts,
                moves: x.moves,
                settled: r.settled,
            });
        }
        s
    }

    /// Drives the chain clock until `done` holds: a game whose mover stalled
    /// gets the mover's clock run out; once `games` games are over and none
    /// is live, the challenge windows are passed.
    async fn drive(&mut self, games: usize, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
        let start = tokio::time::Instant::now();
        loop {
            assert!(
                start.elapsed() < SCENARIO,
                "scenario did not finish: {:?}",
                self.snapshot().await
            );
            for a in self.agents.iter_mut() {
                assert!(
                    a.proc.running(),
                    "the {} exited; log:\n{}",
                    a.party.name,
                    std::fs::read_to_string(&a.proc.log).unwrap_or_default()
                );
            }
            let s = self.snapshot().await;
            if done(&s) {
                return s;
            }
            // The clock moves only when every live game waits on a party that
            // said it stalled: a warp must never time out a party about to move.
            let live: Vec<&GameView> = s.games.iter().filter(|g| g.status.is_live()).collect();
            let stalled = |g: &GameView| {
                let mover = g.mover();
                if self.stalling.contains(&mover) {
                    return true;
                }
                let Some(agent) = self.agent_at(mover) else {
                    return false;
                };
                let log = self.log_of(agent);
                let marker = format!("game={} ", g.id);
                log.lines().any(|l| {
                    l.contains(&marker)
                        && (l.contains("stalled")
                            || l.contains("no move")
                            || l.contains("move not sent"))
                })
            };
            let key: Vec<(u64, u16)> = live.iter().map(|g| (g.id, g.moves)).collect();
            // Nor before every expected game is open: a warp past the claims'
            // windows would refuse a challenge still on its way (one waiting
            // for a top-up, say).
            if !live.is_empty()
                && s.games.len() >= games
                && live.iter().all(|g| stalled(g))
                && !key.iter().all(|k| self.warped_games.contains(k))
            {
                self.warped_games.extend(key);
                self.anvil
                    .warp(self.d.params.clock_budget + 1)
                    .await
                    .unwrap();
            }
            // Once the expected games are over, pass the windows of the pending
            // claims (only then: a warp before a challenge would let a lie through).
            let over = s.games.iter().filter(|g| !g.status.is_live()).count();
            if over >= games && live.is_empty() {
                let now = self.watcher.now().await.unwrap();
                if let Some(deadline) = s
                    .claims
                    .iter()
                    .filter(|c| c.2 == 1 && c.3 == 0 && c.4 >= now)
                    .map(|c| c.4)
                    .max()
                {
                    self.anvil.warp(deadline - now + 1).await.unwrap();
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the market paid `a` (withdrawn plus still withdrawable) minus what it deposited.
    async fn net(&self, a: Address) -> i128 {
        use alloy::providers::Provider;
        let m = InferenceMarket::new(self.d.market, self.watcher.provider.clone());
        // the balance and the logs at one block: a withdrawal in between
        // would otherwise be counted twice or not at all
        let head = self.watcher.provider.get_block_number().await.unwrap();
        let f = alloy::rpc::types::Filter::new()
            .address(vec![self.d.market, self.d.dispute_game])
            .from_block(self.d.block)
            .to_block(head);
        let logs = self.watcher.provider.get_logs(&f).await.unwrap();
        let mut paid = m.withdrawable(a).block(head.into()).call().await.unwrap();
        let mut put = U256::ZERO;
        for l in &logs {
            if let Ok(e) = InferenceMarket::Withdrawn::decode_log(&l.inner)
                && e.account == a
            {
                paid += e.amount;
            }
            if let Ok(e) = InferenceMarket::Submitted::decode_log(&l.inner)
                && e.submitter == a
            {
                put += e.stake + self.d.params.submitter_bond;
            }
            if let Ok(e) = InferenceMarket::Challenged::decode_log(&l.inner)
                && e.challenger == a
            {
                // the bond and one game's stake (credited back when the claim backs the game)
                let stake = m.getClaim(e.claimId).call().await.unwrap().gameStake;
                put += self.d.params.challenger_bond + U256::from(stake);
            }
            if let Ok(e) = InferenceMarket::ToppedUp::decode_log(&l.inner)
                && e.from == a
            {
                put += e.amount;
            }
        }
        paid.to::<u128>() as i128 - put.to::<u128>() as i128
    }

    async fn all_logs(&self) -> Vec<alloy::rpc::types::Log> {
        use alloy::providers::Provider;
        let f = alloy::rpc::types::Filter::new()
            .address(vec![self.d.market, self.d.dispute_game])
            .from_block(self.d.block);
        self.watcher.provider.get_logs(&f).await.unwrap()
    }

    /// A lying submitter (`faults`) and an honest challenger, one request,
    /// driven until the lie is voided; returns both agents' indices and the chain then.
    async fn lie_against_one_challenger(&mut self, faults: &str) -> (usize, usize, Snapshot) {
        let liar = self.add(submitter("lying submitter", Some(faults)));
        let watcher = self.add(challenger("challenger", None));
        self.request().await;
        let l = self.agents[liar].address;
        let s = self.drive(1, |s| s.status_of(l) == [VOIDED]).await;
        (liar, watcher, s)
    }

    /// A submitter that lies and stops moving after its first dissection, an
    /// honest challenger, one request, and the game waiting on the liar right
    /// after the challenger's response; returns both agents' indices.
    async fn game_waiting_on_a_silent_liar(&mut self) -> (usize, usize) {
        let liar = self.add(submitter(
            "lying submitter",
            Some("wrong_output = true\nsilent_from_move = 2"),
        ));
        let watcher = self.add(challenger("challenger", None));
        self.request().await;
        wait_for("the game to wait on the liar", SCENARIO, || async {
            let s = self.snapshot().await;
            Ok(s.games.first().filter(|g| g.moves == 2).map(|_| ()))
        })
        .await
        .unwrap();
        (liar, watcher)
    }

    /// Waits until the first game has made `moves` moves (true) or is over (false).
    async fn game_reaches(&self, moves: u16) -> bool {
        let s = wait_for("the game to reach the kill point", SCENARIO, || async {
            let s = self.snapshot().await;
            Ok(s.games
                .first()
                .filter(|g| g.moves >= moves || !g.status.is_live())
                .map(|_| s.clone()))
        })
        .await
        .unwrap();
        s.games[0].status.is_live()
    }

    /// Gas of every transaction of the games: challenges, moves, proofs, resolutions.
    async fn dispute_gas(&self) -> u64 {
        use alloy::providers::Provider;
        let mut seen = vec![];
        let mut gas = 0;
        for l in self.all_logs().await {
            let of_game = l.address() == self.d.dispute_game
                || InferenceMarket::Challenged::decode_log(&l.inner).is_ok();
            let Some(h) = l.transaction_hash.filter(|h| of_game && !seen.contains(h)) else {
                continue;
            };
            seen.push(h);
            let r = self
                .watcher
                .provider
                .get_transaction_receipt(h)
                .await
                .unwrap()
                .unwrap();
            gas += r.gas_used;
        }
        gas
    }

    /// Exports and replays every game against the honest trace: each names
    /// the contract's winner as the honest one, and finds the first wrong
    /// step of the fault injected into its lying party (exactly when the
    /// game narrowed to one step, else within the interval it bounds).
    async fn replay_games(&self) -> Vec<opml::replay::Replay> {
        use opml::replay::Role;
        use opml_agents::faults::{ChallengerFaults, LyingTrace, SubmitterFaults};
        let m = &self.models[0];
        let honest =
            std::sync::Arc::new(opml_vm::trace::VmTrace::open(m.vm.clone(), &m.input).unwrap());
        let mut out = vec![];
        for g in self.snapshot().await.games {
            let file = opml::dispute::export(&self.watcher, &self.d, g.id)
                .await
                .unwrap();
            let r = opml::replay::replay(&file, m.vm.clone()).unwrap();
            assert!(r.verdict.agrees, "game {}: {:?}", g.id, r.verdict);
            let status = match g.status {
                GameStatus::DefenderWon => "defender_won",
                GameStatus::ChallengerWon => "challenger_won",
                GameStatus::Cancelled => "cancelled",
                _ => "live",
            };
            assert_eq!(r.verdict.contract, status, "game {}", g.id);
            // the fault of the game's lying party, and where its trace goes wrong
            let request: u64 = InferenceMarket::new(self.d.market, self.watcher.provider.clone())
                .getClaim(U256::from(g.claim))
                .call()
                .await
                .unwrap()
                .requestId
                .to();
            let scripted = self
                .scripted_games
                .iter()
                .find(|s| s.0 == g.id)
                .map(|s| (s.1, Some(s.2)));
            let lie = scripted.or_else(|| {
                [
                    (Role::Defender, g.defender),
                    (Role::Challenger, g.challenger),
                ]
                .into_iter()
                .find_map(|(role, a)| {
                    let faults = self.agent_at(a)?.party.faults.as_deref()?;
                    let first_wrong = match role {
                        Role::Defender => {
                            let all: SubmitterFaults = toml::from_str(faults).unwrap();
                            // the lie the submitter told on this game's request
                            let f = all.for_request(request).unwrap();
                            LyingTrace::submitter(honest.clone(), &f)
                                .unwrap()
                                .map(|t| t.first_wrong())
                        }
                        Role::Challenger => {
                            let f: ChallengerFaults = toml::from_str(faults).unwrap();
                            LyingTrace::challenger(honest.clone(), &f).map(|t| t.first_wrong())
                        }
                    };
                    Some((role, first_wrong))
                })
            });
            match (lie, &r.first_divergence) {
                (Some((role, Some(first_wrong))), Some(d)) => {
                    assert_eq!(d.party, role, "game {}", g.id);
                    if d.exact {
                        assert_eq!(d.at, first_wrong, "game {}: {d:?}", g.id);
                    } else {
                        assert!(
                            d.after < first_wrong && first_wrong <= d.at,
                            "game {}: the lie starts at {first_wrong}, outside {d:?}",
                            g.id
                        );
                    }
                }
                // a challenger that disputes with the honest trace posts no false
                // state, nor does a liar that never moved
                (Some((Role::Challenger, None)), None) => {}
                (Some((role, Some(_))), None)
                    if [&r.defender, &r.challenger]
                        .iter()
                        .any(|p| p.role == role && p.points == 0) => {}
                other => panic!("game {}: fault and divergence {other:?}", g.id),
            }
            if let Some(d) = &r.decisive {
                assert_eq!(d.rust.post, d.evm.post, "game {}", g.id);
                assert_eq!(d.rust.post, d.chain_post, "game {}", g.id);
                assert!(d.evm.gas.is_some_and(|g| g.0 > 21_000));
            }
            out.push(r);
        }
        out
    }

    /// Transactions of the agents that were mined but reverted (a wasted or repeated move would be one).
    async fn reverted_txs(&self) -> Vec<String> {
        use alloy::providers::Provider;
        let head = self.watcher.block_number().await.unwrap();
        let mut out = vec![];
        for n in self.d.block..=head {
            let Some(b) = self
                .watcher
                .provider
                .get_block_by_number(alloy::eips::BlockNumberOrTag::Number(n))
                .await
                .unwrap()
            else {
                continue;
            };
            for h in b.transactions.hashes() {
                let r = self
                    .watcher
                    .provider
                    .get_transaction_receipt(h)
                    .await
                    .unwrap()
                    .unwrap();
                if !r.status() && self.agent_at(r.from).is_some() {
                    out.push(format!(
                        "{h} from {}",
                        self.agent_at(r.from).unwrap().party.name
                    ));
                }
            }
        }
        out
    }

    /// Stops every agent with SIGTERM and checks that each stopped cleanly.
    fn stop(&mut self) {
        for a in self.agents.iter_mut() {
            let status = a.proc.terminate();
            assert!(
                status.is_some_and(|s| s.success()),
                "the {} did not stop cleanly: {status:?}",
                a.party.name
            );
        }
    }

    /// The honest side won every game; returns the games.
    fn assert_honest_won(&self, s: &Snapshot) {
        for g in &s.games {
            let d = self.agent_at(g.defender).map(|a| a.party.honest);
            let c = self.agent_at(g.challenger).map(|a| a.party.honest);
            match (d, c, g.status) {
                (Some(true), _, st) => assert!(
                    matches!(st, GameStatus::DefenderWon | GameStatus::Cancelled),
                    "game {} lost by the honest defender: {g:?}",
                    g.id
                ),
                (_, Some(true), st) => assert!(
                    matches!(st, GameStatus::ChallengerWon | GameStatus::Cancelled),
                    "game {} lost by the honest challenger: {g:?}",
                    g.id
                ),
                _ => {}
            }
        }
    }
}

#[derive(Debug, Clone)]
#[allow(dead_code)]
struct GameView {
    id: u64,
    claim: u64,
    defender: Address,
    challenger: Address,
    status: GameStatus,
    defender_asserts: bool,
    moves: u16,
    settled: bool,
}

impl GameView {
    /// The party whose clock runs.
    fn mover(&self) -> Address {
        if self.status == GameStatus::AwaitingDissection || !self.defender_asserts {
            self.defender
        } else {
            self.challenger
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Snapshot {
    /// (id, submitter, status, open games, challenge deadline): status 1 pending, 2 voided,
    /// 3 finalized, 4 released.
    claims: Vec<(u64, Address, u8, u32, u64)>,
    games: Vec<GameView>,
}

impl Snapshot {
    fn status_of(&self, submitter: Address) -> Vec<u8> {
        self.claims
            .iter()
            .filter(|c| c.1 == submitter)
            .map(|c| c.2)
            .collect()
    }
}

/// A key file only its owner can read, as the CLI and the agents require.
fn write_key(path: &Path, key: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, key).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

const VOIDED: u8 = 2;
const FINALIZED: u8 = 3;

/// One honest submitter, one lying submitter, one honest challenger, one request:
/// the lie is voided, the honest claim finalized, and the money moves by the rules.
async fn lie_is_voided(lie: &str) {
    let mut net = Net::new().await;
    let honest = net.add(submitter("honest submitter", None));
    let liar = net.add(submitter("lying submitter", Some(lie)));
    let watcher = net.add(challenger("challenger", None));
    net.request().await;
    let (h, l) = (net.agents[honest].address, net.agents[liar].address);
    let s = net
        .drive(1, |s| {
            s.status_of(l) == [VOIDED] && s.status_of(h) == [FINALIZED]
        })
        .await;
    net.assert_honest_won(&s);
    net.replay_games().await;
    let p = net.d.params.clone();
    let bounty = (p.submitter_bond * U256::from(10_000 - p.burn_bps as u64) / U256::from(10_000))
        .to::<u128>() as i128;
    // wait for the agents' withdrawals, then check the books
    let c = net.agents[watcher].address;
    wait_for("withdrawals", SCENARIO, || async {
        let m = InferenceMarket::new(net.d.market, net.watcher.provider.clone());
        for a in [h, l, c] {
            if !m.withdrawable(a).call().await?.is_zero() {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })
    .await
    .unwrap();
    let stake = {
        let m = InferenceMarket::new(net.d.market, net.watcher.provider.clone());
        m.gameStakeFor(net.models[0].vm.artifact().manifest.steps)
            .call()
            .await
            .unwrap()
            .to::<u128>() as i128
    };
    // The honest challenger: its bond back, plus the game's stake, plus the bounty.
    assert_eq!(net.net(c).await, stake + bounty, "challenger's net");
    // The liar loses its whole bond (half burnt, half the bounty) and the game's stake.
    assert_eq!(
        net.net(l).await,
        -(p.submitter_bond.to::<u128>() as i128) - stake,
        "liar's net"
    );
    // The honest submitter: bond and stake back, plus its cut of the fee (30 %).
    assert_eq!(
        net.net(h).await,
        parse_amount("0.03 ether").unwrap().to::<u128>() as i128,
        "honest submitter's net"
    );
    net.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_wrong_output_at_the_last_step() {
    lie_is_voided("wrong_output = true").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_wrong_output_from_the_first_step() {
    lie_is_voided("wrong_output = true\nlie_at = \"first\"").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_wrong_output_from_a_random_step() {
    lie_is_voided("wrong_output = true\nlie_at = \"random\"\nseed = 11").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_wrong_final_state() {
    lie_is_voided("wrong_final_state = true\nlie_at = \"random\"\nseed = 3").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_step_count_short() {
    lie_is_voided("steps_short = 17").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_step_count_long() {
    lie_is_voided("steps_long = 17").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_garbage_proofs() {
    // The liar's states are wrong from a random step, so it must prove a step
    // at some point; its garbage proof cannot pass, and its clock runs out.
    lie_is_voided("wrong_output = true\nlie_at = \"random\"\nseed = 5\ngarbage_proofs = true")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_submitter_goes_silent() {
    lie_is_voided("wrong_output = true\nsilent_from_move = 2").await;
}

/// An honest submitter against one or more lying challengers: every game is
/// won by the submitter, whose claim finalizes; each liar loses money.
async fn liars_challenge_an_honest_claim(faults: &[&str]) {
    let mut net = Net::new().await;
    let honest = net.add(submitter("honest submitter", None));
    let liars: Vec<usize> = faults
        .iter()
        .map(|f| net.add(challenger("lying challenger", Some(f))))
        .collect();
    net.request().await;
    let h = net.agents[honest].address;
    let s = net
        .drive(faults.len(), |s| s.status_of(h) == [FINALIZED])
        .await;
    net.assert_honest_won(&s);
    assert_eq!(s.games.len(), faults.len());
    net.replay_games().await;
    for l in liars {
        let a = net.agents[l].address;
        assert!(net.net(a).await < 0, "a lying challenger must lose money");
    }
    assert!(net.net(h).await > 0, "the honest submitter must gain");
    net.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_challenger_disputes_a_correct_claim() {
    // With the honest trace it finds nothing to dispute and runs out of time.
    liars_challenge_an_honest_claim(&["dispute_correct = true"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_challenger_diverges_from_the_first_step() {
    liars_challenge_an_honest_claim(&["dispute_correct = true\ndiverge_from = \"first\""]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_challenger_diverges_from_a_random_step() {
    liars_challenge_an_honest_claim(&[
        "dispute_correct = true\ndiverge_from = \"random\"\nseed = 9",
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_challenger_goes_silent() {
    liars_challenge_an_honest_claim(&[
        "dispute_correct = true\ndiverge_from = \"last\"\nsilent_from_move = 1",
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_lying_challengers_against_one_honest_submitter() {
    liars_challenge_an_honest_claim(&[
        "dispute_correct = true\ndiverge_from = \"random\"\nseed = 1",
        "dispute_correct = true\ndiverge_from = \"last\"",
    ])
    .await;
}

/// The CI-sized MiniLM (the graph of all-MiniLM-L6-v2): a submitter whose
/// states go wrong in the middle of encoder layer 3 loses to the honest
/// challenger; the whole dispute stays within the gas target (1.5M for both
/// sides; `cargo bench --bench dispute` reports the full-size model).
#[tokio::test(flavor = "multi_thread")]
async fn minilm_lie_inside_layer_3_is_voided() {
    let mut net = Net::build("minilm_tiny", None).await;
    let m = net.models[0].vm.artifact().manifest.clone();
    let layer3: Vec<_> = m
        .layers
        .iter()
        .filter(|l| l.function.is_some() && l.name.starts_with("layer3_"))
        .collect();
    let (from, to) = (
        layer3[0].start_step,
        layer3.last().unwrap().start_step + layer3.last().unwrap().steps,
    );
    // inside a call of a big layer, not at a boundary
    let big = layer3.iter().max_by_key(|l| l.steps).unwrap();
    let lie = big.start_step + big.steps / 2 + 1;
    assert!(from < lie && lie < to);
    let (liar, _, s) = net
        .lie_against_one_challenger(&format!("wrong_output = true\nlie_at = {{ step = {lie} }}"))
        .await;
    net.assert_honest_won(&s);
    assert_eq!(s.games.len(), 1);
    assert_eq!(s.games[0].status, GameStatus::ChallengerWon);
    // the game narrowed down to the first wrong step
    // the one-step proof is of the step before the first wrong state
    net.wait_log(liar, &[&format!("one-step proof of step {}", lie - 1)])
        .await;
    let gas = net.dispute_gas().await;
    assert!(gas <= 1_500_000, "the dispute took {gas} gas");
    let r = net.replay_games().await;
    let d = r[0].first_divergence.as_ref().unwrap();
    assert!(d.exact && d.at == lie, "{d:?}");
    assert!(d.layer.as_deref().unwrap().starts_with("layer3_"), "{d:?}");
    net.stop();
}

/// Generated text (issue 25): the trained GPT's generation program with a
/// sampled request made through its ERC-7007 token (`requestMint`, so the
/// oracle calls back). A liar claims the text with token 4 changed; the
/// honest challenger wins a game that narrows into token 4's computation
/// (the replay names the token); the honest text finalizes, its submitter
/// delivers the callback, which mints the token to the requester; `verify`
/// says true for the settled text and false for the lie's.
#[tokio::test(flavor = "multi_thread")]
async fn a_lie_about_one_generated_token_is_voided_and_the_text_minted() {
    use alloy::primitives::keccak256;
    let mut net = Net::build("gpt_tiny", None).await;
    let model = net.models[0].id;
    let publisher = net.anvil.chain(0).await.unwrap();
    let mut d = net.d.clone();
    let c = opml_agents::deploy::deploy_aigc(&publisher, &mut d, model, "opML gpt_tiny", "AIGC")
        .await
        .unwrap();
    let honest = net.add(submitter("honest submitter", None));
    let liar = net.add(submitter("lying submitter", Some("wrong_token = 4")));
    net.add(challenger("challenger", None));
    let requester = net.anvil.chain(8).await.unwrap();
    let input = net.models[0].input.clone();
    let id = opml::aigc::request_mint(&requester, &d, c.token, model, input.clone())
        .await
        .unwrap();
    let (h, l) = (net.agents[honest].address, net.agents[liar].address);
    let s = net
        .drive(1, |s| {
            s.status_of(l) == [VOIDED] && s.status_of(h) == [FINALIZED]
        })
        .await;
    net.assert_honest_won(&s);
    let r = net.replay_games().await;
    let decisive = r[0].decisive.as_ref().expect("a one-step proof");
    assert_eq!(decisive.token, Some(4), "{decisive:?}");
    assert_eq!(r[0].first_divergence.as_ref().unwrap().token, Some(4));

    // the honest submitter delivers the callback, which mints to the requester
    let token = opml_onchain::bindings::AigcToken::new(c.token, net.watcher.provider.clone());
    let token_id = U256::from_be_bytes(keccak256(&input).0);
    let owner = wait_for("the callback's mint", SCENARIO, || async {
        Ok(token.ownerOf(token_id).call().await.ok())
    })
    .await
    .unwrap();
    assert_eq!(owner, requester.address());
    let settled = opml::aigc::request_result(&net.watcher, &d, id)
        .await
        .unwrap();
    let output = settled.output.expect("finalized");
    let art = net.models[0].vm.artifact().clone();
    let text = opml::generate::tokens_in(&art, &output);
    assert!(!text.is_empty(), "the request asked for 16 tokens");
    assert!(
        opml::aigc::verify(&net.watcher, c.token, id, &input, &output)
            .await
            .unwrap()
    );
    let mut lie = output.clone();
    let slot = art
        .manifest
        .outputs
        .tensors
        .iter()
        .find(|s| s.name == "token4")
        .unwrap();
    lie[(slot.offset - art.manifest.outputs.offset) as usize] ^= 1;
    assert!(
        !opml::aigc::verify(&net.watcher, c.token, id, &input, &lie)
            .await
            .unwrap()
    );
    net.stop();
}

/// A liar in a game floods the challenger with honest claims, each a whole
/// MiniLM run to judge, to run the challenger's clock out (issue 23). The lie
/// and `FLOOD` honest claims are on chain when the challenger starts; it
/// judges the lie first, and its game runs while the flood is judged. The
/// driver charges the challenger's clock `RUN_COST` seconds of chain time for
/// each run that ends while the game waits on it (a model that slow, against
/// a liar that moves at once): a move that waited behind the flood would
/// cost more than the clock budget. The challenger wins, and the disputed
/// trace stays cached while the flood's traces push each other out of a 1 MB
/// cache.
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_honest_claims_does_not_hold_the_challengers_moves_back() {
    const FLOOD: u64 = 120;
    const RUN_COST: u64 = 10;
    let params = MarketParams {
        clock_budget: 300,
        challenge_window: 3600,
        ..MarketParams::default()
    };
    let mut net = Net::build_with("minilm_tiny", None, &params).await;
    let mut party = submitter(
        "lying submitter",
        Some("wrong_output = true\nlie_at = \"random\"\nseed = 3"),
    );
    party.top = "max_pending_claims = 1\n".into(); // it lies on the first request only
    let liar = net.add(party);
    net.request().await;
    let l = net.agents[liar].address;
    wait_for("the lie", SCENARIO, || async {
        let s = net.snapshot().await;
        Ok(s.claims.first().filter(|c| c.1 == l).map(|_| ()))
    })
    .await
    .unwrap();
    // The flood: each request has its own input, so each is a run of its own.
    let flooder = net.add(submitter("flooding accomplice", None));
    let m = &net.models[0];
    let manifest = &m.vm.artifact().manifest;
    let ids = manifest
        .inputs
        .tensors
        .iter()
        .find(|t| t.name == "input_ids")
        .unwrap();
    let second_token = (ids.offset - manifest.inputs.offset) as usize + 4;
    for k in 0..FLOOD {
        let mut input = m.input.clone();
        input[second_token..second_token + 4].copy_from_slice(&(4 + k as i32).to_le_bytes());
        net.request_of(&input).await;
    }
    let f = net.agents[flooder].address;
    wait_for("the flood of honest claims", SCENARIO, || async {
        let s = net.snapshot().await;
        Ok((s.claims.iter().filter(|c| c.1 == f).count() as u64 > FLOOD).then_some(()))
    })
    .await
    .unwrap();

    let mut party = challenger("challenger", None);
    party.top = "trace_cache_mb = 1\ntrace_workers = 1\n".into();
    let watcher = net.add(party);
    let c = net.agents[watcher].address;
    let runs = |net: &Net| {
        net.log_of(&net.agents[watcher])
            .matches("claim re-executed")
            .count() as u64
    };
    let (mut seen, mut charged, mut during) = (0, 0, 0);
    let start = tokio::time::Instant::now();
    let game = loop {
        assert!(start.elapsed() < SCENARIO, "the game did not end");
        let s = net.snapshot().await;
        let n = runs(&net);
        let live = s.games.first().filter(|g| g.status.is_live());
        if n > seen {
            if live.is_some() {
                during += n - seen;
            }
            if live.is_some_and(|g| g.mover() == c) {
                let cost = RUN_COST * (n - seen);
                net.anvil.warp(cost).await.unwrap();
                charged += cost;
            }
            seen = n;
        }
        if let Some(g) = s.games.first().filter(|g| !g.status.is_live()) {
            break g.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!(
        "{during} of {} runs ended while the game was live; {charged} s charged to the challenger",
        FLOOD + 2
    );
    assert_eq!(game.status, GameStatus::ChallengerWon, "{game:?}");
    // The flood overlapped the game: a move that waited behind the runs
    // ending during it would have run the challenger's clock out.
    assert!(
        during * RUN_COST > params.clock_budget,
        "only {during} runs ended during the game: too few to test anything; raise FLOOD"
    );
    // Pinned while the game was live: never evicted before the last move.
    let log = net.wait_log(watcher, &["trace evicted"]).await;
    let last_move = log.rfind("move game=1 ").unwrap();
    let evicted = log.find("trace evicted (cache budget) request=1\n");
    assert!(
        evicted.is_none_or(|at| at > last_move),
        "the disputed trace was evicted during the game:\n{log}"
    );
    let s = net.drive(1, |s| s.status_of(l) == [VOIDED]).await;
    net.assert_honest_won(&s);
    net.stop();
}

/// `opml dispute export` writes a finished game to a file: the request, the
/// claim, every move with its sender and gas, the one-step proof (it
/// verifies), and the outcome the contract named. `opml dispute replay` gives
/// the same from the file as from the chain, refuses a changed file, reads a
/// version 1 file and refuses an unknown version by name, and writes a report
/// that loads in headless Chromium.
#[tokio::test(flavor = "multi_thread")]
async fn a_finished_game_exports_to_a_file() {
    let mut net = Net::new().await;
    let (liar, watcher, s) = net
        .lie_against_one_challenger("wrong_output = true\nlie_at = \"random\"\nseed = 7")
        .await;
    let l = net.agents[liar].address;
    let file = net.path().join("game1.json");
    let out = std::process::Command::new(EXE)
        .args(["dispute", "export", "--game", "1", "-o"])
        .arg(&file)
        .arg("--deployment")
        .arg(net.path().join("deployment.json"))
        .args(["--rpc", &net.anvil.url, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g = opml::dispute::GameFile::load(&file).unwrap();
    let c = net.agents[watcher].address;
    assert_eq!((g.game.defender, g.game.challenger), (l, c));
    assert_eq!(g.claim.submitter, l);
    assert_eq!(g.request.input.as_ref(), &net.models[0].input[..]);
    assert_eq!(g.moves.len(), s.games[0].moves as usize);
    assert_eq!(g.moves[0].kind, "dissect");
    assert_eq!(g.moves[0].mover, l);
    assert!(g.moves.iter().all(|m| m.gas_used > 0));
    let last = g.moves.last().unwrap();
    let step = last
        .step
        .as_ref()
        .expect("the game ends with a one-step proof");
    assert!(step.index < g.claim.steps);
    let post = opml_vm::machine::verify_step(&step.pre_state.0, &step.proof).unwrap();
    assert_eq!(post, step.verified_post.0, "the proof in the file verifies");
    // the asserting party (the honest challenger here) named the true post-state
    assert_eq!(step.verified_post, step.asserted_post);
    let o = g.outcome.as_ref().unwrap();
    assert_eq!(o.status, "challenger_won");
    assert_eq!(o.winner, Some(c));
    // The replay from the file equals the replay straight from the chain.
    let artifact = net.models[0].dir.clone();
    let html = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dispute-report.html");
    let replay = |source: &[&str], extra: &[&str]| {
        let out = std::process::Command::new(EXE)
            .args(["dispute", "replay"])
            .args(source)
            .arg("--model")
            .arg(&artifact)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let file_arg = file.to_str().unwrap();
    let (ok, from_file, err) = replay(&[file_arg], &["--json", "--html", html.to_str().unwrap()]);
    assert!(ok, "{err}");
    let deployment = net.path().join("deployment.json");
    let (ok, from_chain, err) = replay(
        &["--game", "1", "--deployment", deployment.to_str().unwrap()],
        &["--rpc", &net.anvil.url, "--json"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        from_file, from_chain,
        "export then replay differs from replay from the chain"
    );
    let r: serde_json::Value = serde_json::from_str(&from_file).unwrap();
    assert_eq!(r["verdict"]["contract"], "challenger_won");
    assert_eq!(r["verdict"]["expected_winner"], "challenger");
    assert_eq!(r["rounds"].as_array().unwrap().len(), g.moves.len());
    assert_eq!(r["decisive"]["step"], step.index);
    assert_eq!(r["first_divergence"]["at"], step.index + 1);
    // The text form names the decisive step and both verifiers' verdicts.
    let (ok, text, err) = replay(&[file_arg], &[]);
    assert!(ok, "{err}");
    assert!(
        text.contains(&format!(
            "decisive step {} -> {}",
            step.index,
            step.index + 1
        )),
        "{text}"
    );
    assert!(text.contains("Solidity (revm)"), "{text}");

    // The report loads in headless Chromium without errors, one band per round;
    // the screenshot stays under the target directory.
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dispute-report.png");
    let page = opml::browser::check_page(&html, &shot).unwrap();
    assert!(page.clean(), "{page:?}");
    assert_eq!(page.bands, g.moves.len(), "{page:?}");
    for id in ["timeline", "narrowing", "decisive", "parties", "money"] {
        assert!(page.sections.iter().any(|s| s == id), "no #{id}: {page:?}");
    }
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);

    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let write = |v: &serde_json::Value| {
        let p = net.path().join("changed.json");
        std::fs::write(&p, v.to_string()).unwrap();
        p
    };
    // A changed move is detected, not replayed: its signed transaction says otherwise.
    let mut v = original.clone();
    v["moves"][1]["points"][2] = serde_json::json!(format!("0x{}", "ab".repeat(32)));
    let changed = write(&v);
    let (ok, _, err) = replay(&[changed.to_str().unwrap()], &[]);
    assert!(!ok, "a changed move was replayed");
    assert!(
        err.contains("move 1 (respond)") && err.contains("calldata"),
        "{err}"
    );
    // So is a changed move whose signed transaction was dropped (version 1 has
    // none): the game's rules catch what breaks them.
    let mut v = original.clone();
    v["version"] = 1.into();
    for m in v["moves"].as_array_mut().unwrap() {
        m.as_object_mut().unwrap().remove("raw_tx");
    }
    let (ok, v1, err) = replay(&[write(&v).to_str().unwrap()], &["--json"]);
    assert!(ok, "a version 1 file replays: {err}");
    let v1: serde_json::Value = serde_json::from_str(&v1).unwrap();
    assert_eq!(v1["rounds"], r["rounds"]);
    assert_eq!(v1["verdict"], r["verdict"]);
    let last = v["moves"].as_array().unwrap().len() - 1;
    v["moves"][last]["part"] = (v["moves"][last]["part"].as_u64().unwrap() + 1).into();
    let (ok, _, err) = replay(&[write(&v).to_str().unwrap()], &[]);
    assert!(!ok && err.contains(&format!("move {last} (step)")), "{err}");
    // A file of an unknown version is refused by its version.
    let mut v = original;
    v["version"] = 0.into();
    let (ok, _, err) = replay(&[write(&v).to_str().unwrap()], &[]);
    assert!(!ok && err.contains("version 0"), "{err}");
    let e = opml::dispute::GameFile::load(&net.path().join("changed.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("version 0"), "{e}");
    net.stop();
}

/// A metric's value in Prometheus text (`name{labels}` as written there).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// `/metrics` of both agents, scraped while a game waits on the (stalled)
/// liar, matches the chain: games, bonds at risk, pending claims, clocks,
/// credits, blocks. `/healthz` fails for the liar once its clock runs low,
/// and the outcome shows up as a game won and a game lost.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_during_a_dispute_match_the_chain() {
    use opml_testkit::devnet::http_get;
    let mut net = Net::new().await;
    let liar = net.add(submitter(
        "lying submitter",
        Some("wrong_output = true\nsilent_from_move = 2"),
    ));
    let watcher = net.add(challenger("challenger", None));
    net.request().await;
    let addr_of = |i: usize| {
        let f = net.agents[i].dir.join("data/metrics.addr");
        move || {
            let f = f.clone();
            async move { Ok(std::fs::read_to_string(&f).ok()) }
        }
    };
    let liar_addr = wait_for("the liar's metrics", SCENARIO, addr_of(liar))
        .await
        .unwrap();
    let watcher_addr = wait_for("the challenger's metrics", SCENARIO, addr_of(watcher))
        .await
        .unwrap();
    let scrape = |addr: &str| http_get(addr, "/metrics").unwrap().1;
    // wait until the game waits on the liar and both agents' last pass saw it
    let live_d = r#"opml_games{role="defender",status="live"}"#;
    let live_c = r#"opml_games{role="challenger",status="live"}"#;
    wait_for("the game to wait on the liar", SCENARIO, || async {
        let s = net.snapshot().await;
        let waiting = s.games.len() == 1 && s.games[0].moves == 2 && s.games[0].status.is_live();
        Ok((waiting
            && metric(&scrape(&liar_addr), live_d) == Some(1.0)
            && metric(&scrape(&watcher_addr), live_c) == Some(1.0))
        .then_some(()))
    })
    .await
    .unwrap();
    let (l, c) = (net.agents[liar].address, net.agents[watcher].address);
    let m = InferenceMarket::new(net.d.market, net.watcher.provider.clone());
    let g = DisputeGame::new(net.d.dispute_game, net.watcher.provider.clone());
    let p = net.d.params.clone();
    let eth = |w: U256| w.to::<u128>() as f64 / 1e18;
    let (lt, ct) = (scrape(&liar_addr), scrape(&watcher_addr));
    // bonds: the challenger's bond in its live game; the liar's bond and its stake
    assert_eq!(
        metric(&ct, "opml_bonds_at_risk_ether"),
        Some(eth(p.challenger_bond))
    );
    let claim = m.getClaim(U256::from(1)).call().await.unwrap();
    let stake = claim.freeStake + U256::from(claim.gameStake) * U256::from(claim.openGames);
    let at_risk = metric(&lt, "opml_bonds_at_risk_ether").unwrap();
    assert!(
        (at_risk - eth(p.submitter_bond + stake)).abs() < 1e-12,
        "{lt}"
    );
    assert_eq!(metric(&lt, "opml_claims_pending"), Some(1.0));
    // each side holds the lease on the live game it plays (and on its claim, or its withdrawals)
    for text in [&lt, &ct] {
        assert!(
            metric(text, "opml_leases_held").is_some_and(|n| n >= 1.0),
            "{text}"
        );
    }
    for (text, who) in [(&lt, l), (&ct, c)] {
        let owed = m.withdrawable(who).call().await.unwrap();
        assert_eq!(
            metric(text, "opml_withdrawable_ether"),
            Some(eth(owed)),
            "{text}"
        );
        let head = net.watcher.block_number().await.unwrap() as f64;
        assert!(metric(text, "opml_last_processed_block").unwrap() <= head);
        assert!(metric(text, "opml_block_lag").is_some());
        assert_eq!(
            http_get(
                if who == l { &liar_addr } else { &watcher_addr },
                "/healthz"
            )
            .unwrap()
            .0,
            200
        );
    }
    // the liar is to move: its clock runs; the metric is at most what it had
    // at its last pass and at least what the chain says now
    let clocks = g.clocks(U256::from(1)).call().await.unwrap();
    let liar_clock = metric(&lt, "opml_clock_seconds_left_min").unwrap();
    assert!(
        clocks.defender.to::<u64>() as f64 <= liar_clock && liar_clock <= p.clock_budget as f64,
        "{liar_clock} against the chain's {}",
        clocks.defender
    );
    assert!(
        metric(
            &ct,
            r#"opml_trace_query_seconds_count{query="state_hashes"}"#
        )
        .unwrap()
            >= 1.0,
        "{ct}"
    );
    // with less than the health margin on its running clock the liar is unhealthy
    net.anvil.warp(p.clock_budget - 200).await.unwrap();
    let why = wait_for("the liar's /healthz to fail", SCENARIO, || async {
        let (status, body) = http_get(&liar_addr, "/healthz")?;
        Ok((status == 503).then_some(body))
    })
    .await
    .unwrap();
    assert!(why.contains("left on a clock"), "{why}");
    assert_eq!(http_get(&watcher_addr, "/healthz").unwrap().0, 200);
    // past its clock the challenger claims the timeout: won and lost
    net.anvil.warp(300).await.unwrap();
    let won = r#"opml_games{role="challenger",status="won"}"#;
    let lost = r#"opml_games{role="defender",status="lost"}"#;
    wait_for("the outcome in the metrics", SCENARIO, || async {
        Ok((metric(&scrape(&watcher_addr), won) == Some(1.0)
            && metric(&scrape(&liar_addr), lost) == Some(1.0))
        .then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(
        net.snapshot().await.games[0].status,
        GameStatus::ChallengerWon
    );
    net.stop();
}

/// The demo (`./dev demo`) ends with both lies voided, and replays its
/// disputes to files and reports that name the contract's winner.
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_voids_both_lies_and_replays_its_disputes() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(EXE)
        .arg("demo")
        .arg("--out")
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("demo passed"), "{text}");
    for id in [1, 2] {
        let game = dir.path().join(format!("disputes/game-{id}.json"));
        let file = opml::dispute::GameFile::load(&game).unwrap();
        assert_eq!(file.outcome.unwrap().status, "challenger_won");
        assert!(dir.path().join(format!("disputes/game-{id}.html")).exists());
        assert!(
            text.contains(&format!("game {id} (")) && text.contains("decisive step"),
            "{text}"
        );
    }
    assert!(text.contains("opml dispute replay"), "{text}");
}

/// A submitter whose claim is right but whose dissections diverge loses the
/// claim to a challenger with the true trace: the trace is what is judged.
#[tokio::test(flavor = "multi_thread")]
async fn fault_submitter_dissections_diverge() {
    let mut net = Net::new().await;
    let sub = net.add(submitter(
        "diverging submitter",
        Some("diverge_from = { step = 5000 }"),
    ));
    // disputes the (correct) claim with the true trace
    net.add(Party {
        honest: true,
        ..challenger(
            "challenger with the true trace",
            Some("dispute_correct = true"),
        )
    });
    net.request().await;
    let a = net.agents[sub].address;
    let s = net.drive(1, |s| s.status_of(a) == [VOIDED]).await;
    net.assert_honest_won(&s);
    net.replay_games().await;
    net.stop();
}

/// Three honest challengers on one lying claim (three concurrent games, one of
/// them voids the claim; the others are closed with bond and stake back), and
/// two concurrent requests.
#[tokio::test(flavor = "multi_thread")]
async fn three_challengers_on_one_claim_and_two_concurrent_requests() {
    let mut net = Net::new().await;
    let honest = net.add(submitter("honest submitter", None));
    let liar = net.add(submitter(
        "lying submitter",
        Some("wrong_output = true\nlie_at = \"random\"\nseed = 2"),
    ));
    let watchers: Vec<usize> = (0..3)
        .map(|_| net.add(challenger("challenger", None)))
        .collect();
    net.request().await;
    net.request().await;
    let (h, l) = (net.agents[honest].address, net.agents[liar].address);
    let s = net
        .drive(6, |s| {
            s.status_of(l) == [VOIDED, VOIDED]
                && s.status_of(h) == [FINALIZED, FINALIZED]
                && s.games.iter().all(|g| g.settled)
        })
        .await;
    net.assert_honest_won(&s);
    assert_eq!(s.games.len(), 6, "every challenger disputes both lies");
    for w in watchers {
        assert!(
            net.net(net.agents[w].address).await >= 0,
            "an honest challenger never loses money"
        );
    }
    net.stop();
}

/// The liar runs its own second challenger (issue 9's Sybil strategy): the
/// puppet challenges the liar's claim first and stalls; the honest challenger
/// still gets its game, wins it and the bounty.
#[tokio::test(flavor = "multi_thread")]
async fn a_liar_with_its_own_challenger() {
    let mut net = Net::new().await;
    let liar = net.add(submitter("lying submitter", Some("wrong_output = true")));
    let puppet = net.add(Party {
        honest: false,
        ..challenger("the liar's puppet challenger", Some("silent_from_move = 0"))
    });
    let honest = net.add(challenger("honest challenger", None));
    net.request().await;
    let l = net.agents[liar].address;
    let s = net
        .drive(1, |s| {
            s.status_of(l) == [VOIDED] && s.games.iter().all(|g| g.settled)
        })
        .await;
    let h = net.agents[honest].address;
    assert!(
        s.games.iter().any(|g| g.challenger == h),
        "the honest challenger got a game"
    );
    assert!(net.net(h).await > 0, "the honest challenger gains");
    let (nl, np) = (net.net(l).await, net.net(net.agents[puppet].address).await);
    assert!(
        nl + np < 0,
        "the liar's accounts together lose: {nl} + {np}"
    );
    net.stop();
}

/// kill -9 of either agent at several points of a dispute (and once with the
/// database deleted): after each restart it resumes and the honest side wins.
#[tokio::test(flavor = "multi_thread")]
async fn agents_killed_mid_dispute_resume_and_win() {
    let deep = std::env::var("OPML_DEEP").is_ok();
    let mut net = Net::new().await;
    let honest = net.add(submitter("honest submitter", None));
    let liar = net.add(submitter(
        "lying submitter",
        Some("wrong_output = true\nlie_at = \"random\"\nseed = 4"),
    ));
    let watcher = net.add(challenger("challenger", None));
    net.request().await;
    // Kill points: game move counts at which an agent is killed (alternating
    // roles), drawn from OPML_KILL_SEED (printed, so a failure can be replayed).
    let seed: u64 = std::env::var("OPML_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let want = if deep { 7 } else { 5 };
    let mut points: Vec<u16> = vec![];
    let mut i = 0;
    while points.len() < want {
        let p = opml_agents::faults::pick(seed.wrapping_mul(31).wrapping_add(i), 0, 6) as u16;
        if !points.contains(&p) {
            points.push(p);
        }
        i += 1;
    }
    points.sort();
    eprintln!("kill points (OPML_KILL_SEED={seed}): {points:?}");
    let mut done = 0;
    for (k, &at) in points.iter().enumerate() {
        if !net.game_reaches(at).await {
            break;
        }
        let victim = if k % 2 == 0 { watcher } else { honest };
        let agent = &mut net.agents[victim];
        agent.proc.kill9();
        if k == points.len() - 1 {
            // the last restart starts from an empty database
            std::fs::remove_dir_all(agent.dir.join("data")).unwrap();
        }
        agent.proc.restart().unwrap();
        done += 1;
    }
    assert!(done >= 3, "the game ended before most kill points ({done})");
    let (h, l) = (net.agents[honest].address, net.agents[liar].address);
    let s = net
        .drive(1, |s| {
            s.status_of(l) == [VOIDED] && s.status_of(h) == [FINALIZED]
        })
        .await;
    net.assert_honest_won(&s);
    // No move was sent twice or wasted: not one of the agents' transactions reverted.
    assert_eq!(net.reverted_txs().await, Vec::<String>::new());
    net.stop();
}

/// The agents keep their state in PostgreSQL (a real server, started from
/// Debian's packages): killed with SIGKILL mid-dispute, each resumes from
/// its database and the honest side wins, with no move sent twice.
#[tokio::test(flavor = "multi_thread")]
async fn agents_on_postgresql_are_killed_mid_dispute_and_resume() {
    let pg = opml_testkit::devnet::Postgres::start().unwrap();
    let mut net = Net::new().await;
    let db = |name: &str| pg.database(name).unwrap();
    let liar = net.add_with(
        submitter(
            "lying submitter",
            Some("wrong_output = true\nlie_at = \"random\"\nseed = 4"),
        ),
        Some(&db("liar")),
    );
    let watcher = net.add_with(challenger("challenger", None), Some(&db("challenger")));
    net.request().await;
    for (k, at) in [1u16, 3, 5].into_iter().enumerate() {
        if !net.game_reaches(at).await {
            break;
        }
        for a in net.agents.iter_mut() {
            assert!(
                a.proc.running(),
                "the {} exited:\n{}",
                a.party.name,
                std::fs::read_to_string(&a.proc.log).unwrap_or_default()
            );
        }
        let victim = if k % 2 == 0 { watcher } else { liar };
        net.agents[victim].proc.kill9();
        net.agents[victim].proc.restart().unwrap();
    }
    let l = net.agents[liar].address;
    let s = net.drive(1, |s| s.status_of(l) == [VOIDED]).await;
    net.assert_honest_won(&s);
    assert_eq!(net.reverted_txs().await, Vec::<String>::new());
    // the agents wrote to PostgreSQL, not to SQLite files
    for a in &net.agents {
        assert!(!a.dir.join("data/agent.sqlite").exists());
    }
    net.stop();
}

/// Three challenger instances share a key and a PostgreSQL database against
/// a lying submitter. The instance that owns the game is killed with SIGKILL
/// mid-dispute and stays dead: another takes the game over once the lease
/// expires and wins it, and no move is sent twice (none of the fleet's
/// transactions reverted, and the game counted each move once).
#[tokio::test(flavor = "multi_thread")]
async fn a_challenger_fleet_takes_over_the_game_of_a_killed_instance() {
    use opml_agents::store::Store;
    let pg = opml_testkit::devnet::Postgres::start().unwrap();
    let url = pg.database("watchers").unwrap();
    let mut net = Net::new().await;
    let liar = net.add(submitter(
        "lying submitter",
        Some("wrong_output = true\nlie_at = \"random\"\nseed = 4"),
    ));
    let fleet = net.add_fleet(challenger("challenger", None), &url, 3);
    net.request().await;
    assert!(net.game_reaches(2).await, "the game ended before the kill");
    let store = Store::open(net.path(), Some(&url)).await.unwrap();
    let owner = store
        .lease_owner("game 1")
        .await
        .unwrap()
        .expect("a leased game");
    let victim = *fleet
        .iter()
        .find(|&&i| owner == format!("challenger #{}", i - fleet[0]))
        .unwrap_or_else(|| panic!("no instance named {owner}"));
    let killed_at = net.snapshot().await.games[0].moves;
    net.agents[victim].proc.kill9();
    // the game goes on without it, under another instance's lease
    let taker = wait_for(
        "another instance to take the game over",
        SCENARIO,
        || async {
            let s = net.snapshot().await;
            let owner = store.lease_owner("game 1").await.unwrap();
            let moved = s.games[0].moves >= killed_at + 2 || !s.games[0].status.is_live();
            Ok(owner.filter(|o| moved && *o != format!("challenger #{}", victim - fleet[0])))
        },
    )
    .await
    .unwrap();
    eprintln!("{owner} killed at move {killed_at}; {taker} took the game over");
    // it rejoins the fleet as an instance among others
    net.agents[victim].proc.restart().unwrap();
    let l = net.agents[liar].address;
    let s = net.drive(1, |s| s.status_of(l) == [VOIDED]).await;
    net.assert_honest_won(&s);
    assert_eq!(s.games.len(), 1, "one challenge for the fleet: {s:?}");
    assert_eq!(net.reverted_txs().await, Vec::<String>::new());
    // each move of the game went on chain once
    let moves = net
        .all_logs()
        .await
        .iter()
        .filter(|l| DisputeGame::Dissected::decode_log(&l.inner).is_ok())
        .count();
    assert_eq!(moves as u16 + 1, s.games[0].moves, "{s:?}");
    net.stop();
}

/// Two submitter instances share a key and a PostgreSQL database and serve
/// 20 requests posted at once: each request is claimed exactly once, both
/// instances serve some, and every claim finalizes.
#[tokio::test(flavor = "multi_thread")]
async fn two_submitter_instances_claim_each_of_20_concurrent_requests_once() {
    let pg = opml_testkit::devnet::Postgres::start().unwrap();
    let url = pg.database("submitters").unwrap();
    let mut net = Net::new().await;
    let fleet = net.add_fleet(submitter("submitter", None), &url, 2);
    let requester = net.anvil.chain(8).await.unwrap();
    let m = &net.models[0];
    let fee = parse_amount("0.1 ether").unwrap();
    let posted = futures::future::join_all(
        (0..20).map(|_| post_request(&requester, &net.d, &m.id, &m.input, fee)),
    )
    .await;
    let mut ids: Vec<u64> = posted.into_iter().map(|r| r.unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
    let me = net.agents[fleet[0]].address;
    // every claim is posted before the clock moves past their windows
    wait_for("20 claims", SCENARIO, || async {
        Ok((net.snapshot().await.claims.len() >= 20).then_some(()))
    })
    .await
    .unwrap();
    let s = net
        .drive(0, |s| s.status_of(me) == vec![FINALIZED; 20])
        .await;
    assert_eq!(s.claims.len(), 20, "{s:?}");
    let market = InferenceMarket::new(net.d.market, net.watcher.provider.clone());
    for c in 1..=20u64 {
        let claim = market.getClaim(U256::from(c)).call().await.unwrap();
        assert_eq!(claim.submitter, me);
    }
    let mut requests: Vec<u64> = vec![];
    for l in net.all_logs().await {
        if let Ok(e) = InferenceMarket::Submitted::decode_log(&l.inner) {
            requests.push(e.requestId.to());
        }
    }
    requests.sort();
    assert_eq!(requests, ids, "each request claimed once");
    for &i in &fleet {
        net.wait_log(i, &["claim posted"]).await;
    }
    assert_eq!(net.reverted_txs().await, Vec::<String>::new());
    net.stop();
}

/// The RPC endpoint disappears for 10 s in the middle of a dispute: the
/// agents retry and the honest side wins.
#[tokio::test(flavor = "multi_thread")]
async fn rpc_outage_mid_dispute() {
    // The agents talk to the chain through a proxy that the test cuts.
    let mut net = Net::new().await;
    let proxy = RpcProxy::start(&net.anvil.url).await.unwrap();
    net.rpc = proxy.url.clone();
    let _ = Net::with_rpc;
    let honest = net.add(submitter("honest submitter", None));
    let liar = net.add(submitter(
        "lying submitter",
        Some("wrong_output = true\nlie_at = \"random\"\nseed = 8"),
    ));
    net.add(challenger("challenger", None));
    net.request().await;
    wait_for("the first dissection", SCENARIO, || {
        let s = net.snapshot();
        async move { Ok(s.await.games.first().filter(|g| g.moves >= 2).map(|_| ())) }
    })
    .await
    .unwrap();
    proxy.cut(Duration::from_secs(10)).await;
    let (h, l) = (net.agents[honest].address, net.agents[liar].address);
    let s = net
        .drive(1, |s| {
            s.status_of(l) == [VOIDED] && s.status_of(h) == [FINALIZED]
        })
        .await;
    net.assert_honest_won(&s);
    let log = std::fs::read_to_string(&net.agents[honest].proc.log).unwrap();
    let clog = std::fs::read_to_string(&net.agents[2].proc.log).unwrap();
    assert!(
        log.contains("retrying") || clog.contains("retrying"),
        "the outage was noticed and retried"
    );
    assert_eq!(net.reverted_txs().await, Vec::<String>::new());
    net.stop();
}

/// A reorg removes the challenger's move: the challenger notices (the game
/// is its turn again) and sends the move again, and wins.
#[tokio::test(flavor = "multi_thread")]
async fn a_reorg_that_removes_a_move_gets_it_sent_again() {
    use alloy::providers::Provider;
    let mut net = Net::new().await;
    let (liar, _) = net.game_waiting_on_a_silent_liar().await;
    let p = &net.watcher.provider;
    let head = p.get_block_number().await.unwrap();
    let respond = net
        .all_logs()
        .await
        .into_iter()
        .rfind(|l| DisputeGame::Dissected::decode_log(&l.inner).is_ok())
        .unwrap();
    // the response's block and any after it (a withdrawal of the stake the
    // defender's match credited back may follow it)
    let at = respond.block_number.unwrap();
    net.anvil.reorg(head - at + 1).await.unwrap();
    let replaced = p.get_block_by_number(at.into()).await.unwrap().unwrap();
    assert_ne!(
        Some(replaced.header.hash),
        respond.block_hash,
        "the block was replaced"
    );
    // the response is back on chain, sent again
    wait_for("the response sent again", SCENARIO, || async {
        let s = net.snapshot().await;
        Ok(s.games.first().filter(|g| g.moves == 2).map(|_| ()))
    })
    .await
    .unwrap();
    let l = net.agents[liar].address;
    let s = net.drive(1, |s| s.status_of(l) == [VOIDED]).await;
    net.assert_honest_won(&s);
    assert_eq!(s.games[0].status, GameStatus::ChallengerWon);
    net.stop();
}

/// The node drops the challenger's challenge from its pool while the base fee
/// spikes 100-fold: the challenger signs it again with fees that clear the new
/// base fee, and the lie is voided.
#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_transaction_in_a_fee_spike_is_sent_again() {
    use alloy::providers::Provider;
    let mut net = Net::new().await;
    let liar = net.add(submitter("lying submitter", Some("wrong_output = true")));
    net.request().await;
    let p = net.watcher.provider.clone();
    let anvil = |method: &'static str, params: serde_json::Value| {
        let p = p.clone();
        async move {
            p.raw_request::<_, serde_json::Value>(method.into(), params)
                .await
                .unwrap()
        }
    };
    wait_for("the claim", SCENARIO, || async {
        Ok((net.snapshot().await.claims.len() == 1).then_some(()))
    })
    .await
    .unwrap();
    // from here blocks are mined only when the test says so; the challenger
    // starts now, so its challenge waits in the pool
    anvil("evm_setAutomine", serde_json::json!([false])).await;
    let watcher = net.add(challenger("challenger", None));
    let c = net.agents[watcher].address;
    let pending = wait_for("the challenge in the pool", SCENARIO, || async move {
        let pool = anvil("txpool_content", serde_json::json!([])).await;
        let mine = pool["pending"]
            .as_object()
            .and_then(|m| {
                m.iter()
                    .find(|(a, _)| a.parse::<alloy::primitives::Address>().ok() == Some(c))
            })
            .and_then(|(_, txs)| {
                txs.as_object()?.values().next()?["hash"]
                    .as_str()
                    .map(String::from)
            });
        Ok(mine)
    })
    .await
    .unwrap();
    anvil("anvil_dropTransaction", serde_json::json!([pending])).await;
    let base: u128 = p.get_gas_price().await.unwrap();
    anvil(
        "anvil_setNextBlockBaseFeePerGas",
        serde_json::json!([format!("0x{:x}", base.max(1_000_000_000) * 100)]),
    )
    .await;
    anvil("evm_mine", serde_json::json!([])).await;
    anvil("evm_setAutomine", serde_json::json!([true])).await;
    let l = net.agents[liar].address;
    let s = net.drive(1, |s| s.status_of(l) == [VOIDED]).await;
    net.assert_honest_won(&s);
    let log = net.log_of(&net.agents[watcher]);
    assert!(log.contains("re-signing with higher fees"), "{log}");
    net.stop();
}

/// The node is restarted from a state dump in the middle of a dispute: the
/// agents ride out the outage, keep the game and win it, and serve a request
/// posted after the restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_restarted_from_a_state_dump_loses_no_game_or_request() {
    let mut net = Net::new().await;
    let (liar, _) = net.game_waiting_on_a_silent_liar().await;
    let before = net.watcher.block_number().await.unwrap();
    net.anvil.restart_from_dump().await.unwrap();
    assert!(net.watcher.block_number().await.unwrap() >= before);
    let s = net.snapshot().await;
    assert_eq!(
        (s.games.len(), s.games[0].moves),
        (1, 2),
        "the game survived the restart"
    );
    let l = net.agents[liar].address;
    let s = net.drive(1, |s| s.status_of(l) == [VOIDED]).await;
    net.assert_honest_won(&s);
    // a request after the restart is served
    net.request().await;
    wait_for("a claim on the new request", SCENARIO, || async {
        Ok((net.snapshot().await.claims.len() == 2).then_some(()))
    })
    .await
    .unwrap();
    net.stop();
}

/// A core case of the fault matrix with every agent behind a hostile RPC
/// endpoint (seeded: delays and reordering, 503s, internal errors, answers
/// dropped after the request took effect, disconnects, stale heads): the
/// honest side still wins, and no agent's transaction reverts.
async fn under_a_hostile_rpc(seed: u64, liar: Party) {
    use opml_testkit::hostile::{Fault, Hostile};
    let faults = [
        Fault::Delay,
        Fault::Unavailable,
        Fault::InternalError,
        Fault::DropAnswer,
        Fault::Disconnect,
        Fault::StaleHead,
    ];
    under(Hostile::nasty(seed), &faults, liar, "").await;
}

/// The same cases behind a public provider's free tier (429s, hanging
/// answers past the request timeout, revert data stripped, capped log ranges).
async fn behind_a_public_endpoint(seed: u64, liar: Party) {
    use opml_testkit::hostile::{Fault, Hostile, Public};
    let public = Hostile::public(seed, Public::free_tier(Duration::from_secs(4)));
    under(public, &[Fault::RateLimited], liar, "rpc_timeout_s = 2\n").await;
}

async fn under(
    hostile: opml_testkit::hostile::Hostile,
    faults: &[opml_testkit::hostile::Fault],
    mut liar: Party,
    top: &str,
) {
    let mut net = Net::new().await;
    let hostile = opml_testkit::hostile::HostileRpc::start(&net.anvil.url, hostile)
        .await
        .unwrap();
    net.rpc = hostile.url.clone();
    let with_top = |mut p: Party| {
        p.top = top.into();
        p
    };
    liar.top = top.into();
    let lying_submitter = liar.role == Role::Submitter;
    if !lying_submitter {
        net.add(with_top(submitter("honest submitter", None)));
    }
    net.add(liar);
    if lying_submitter {
        net.add(with_top(challenger("challenger", None)));
    }
    net.request().await;
    let s = net
        .drive(1, |s| {
            s.games.len() == 1
                && !s.games[0].status.is_live()
                && s.claims.iter().all(|c| c.2 != 1 || c.3 == 0)
                && s.claims.iter().any(|c| c.2 == VOIDED || c.2 == FINALIZED)
        })
        .await;
    net.assert_honest_won(&s);
    let counts = hostile.counts();
    for f in faults {
        assert!(
            counts.get(f).is_some_and(|&n| n > 0),
            "no {f:?} met: {counts:?}"
        );
    }
    assert_eq!(net.reverted_txs().await, Vec::<String>::new());
    net.replay_games().await;
    net.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_rpc_a_lie_from_a_random_step_is_voided() {
    under_a_hostile_rpc(
        41,
        submitter(
            "lying submitter",
            Some("wrong_output = true\nlie_at = \"random\"\nseed = 11"),
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_rpc_a_wrong_step_count_is_voided() {
    under_a_hostile_rpc(42, submitter("lying submitter", Some("steps_short = 17"))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_rpc_a_lying_challenger_loses() {
    under_a_hostile_rpc(
        43,
        challenger(
            "lying challenger",
            Some("dispute_correct = true\ndiverge_from = \"random\"\nseed = 9"),
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn public_endpoint_a_lie_from_a_random_step_is_voided() {
    behind_a_public_endpoint(
        51,
        submitter(
            "lying submitter",
            Some("wrong_output = true\nlie_at = \"random\"\nseed = 11"),
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn public_endpoint_a_wrong_step_count_is_voided() {
    behind_a_public_endpoint(52, submitter("lying submitter", Some("steps_short = 17"))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn public_endpoint_a_lying_challenger_loses() {
    behind_a_public_endpoint(
        53,
        challenger(
            "lying challenger",
            Some("dispute_correct = true\ndiverge_from = \"random\"\nseed = 9"),
        ),
    )
    .await;
}

/// Bad input: a clear error or a logged and skipped item, never a crash.
#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_clear_errors_and_no_crash() {
    let mut net = Net::new().await;
    let dep = net.path().join("deployment.json");
    let model = net.models[0].dir.clone();
    let key = net.path().join("requester.key");
    write_key(&key, &net.anvil.keys[8]);
    let run = |args: &[&str]| std::process::Command::new(EXE).args(args).output().unwrap();
    let base = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![
            "request".into(),
            model.display().to_string(),
            "--rpc".into(),
            net.anvil.url.clone(),
            "--deployment".into(),
            dep.display().to_string(),
            "--key-file".into(),
            key.display().to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    // input longer than the model's input region
    let too_long = net.path().join("long.bin");
    std::fs::write(&too_long, vec![1u8; 1 << 16]).unwrap();
    let args = base(&["--input-raw", too_long.to_str().unwrap()]);
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("InputTooLong"), "{err}");
    // a model that is not registered
    let other = net.path().join("models-other");
    let (other_dir, _, _) = opml::demo::compile_fixture("logreg_digits", &other).unwrap();
    let x = opml_testkit::devnet::workspace_root().join("fixtures/logreg_digits/input.npy");
    let mut args = base(&["--input", x.to_str().unwrap()]);
    args[1] = other_dir.display().to_string();
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not registered"), "{err}");
    // a malformed config, and a wrong key
    let bad = net.path().join("bad.toml");
    std::fs::write(&bad, "rpc = 5\n").unwrap();
    let out = run(&["submitter", "run", "--config", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("malformed") && err.contains("rpc"), "{err}");
    let cfg = write_agent_config(
        &net.path().join("badkey"),
        &net.anvil.url,
        &dep,
        &net.path().join("models"),
        "0xnot-a-key",
        "",
        None,
    )
    .unwrap();
    let out = run(&["submitter", "run", "--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("private key is not valid") && !err.contains("not-a-key"),
        "{err}"
    );
    // faults without the flag
    let cfg = write_agent_config(
        &net.path().join("faulty"),
        &net.anvil.url,
        &dep,
        &net.path().join("models"),
        &net.anvil.keys[7],
        "",
        Some("wrong_output = true"),
    )
    .unwrap();
    let out = run(&["submitter", "run", "--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--allow-faults"), "{err}");
    // A submitter without the artifact skips the request, logs why, and keeps running;
    // a short input is zero-padded, as on chain, and served by the one that has it.
    let empty = net.path().join("no-models");
    std::fs::create_dir_all(&empty).unwrap();
    let i = net.add(Party {
        models_dir: Some(empty),
        ..submitter("submitter without the model", None)
    });
    let server = net.add(submitter("honest submitter", None));
    let requester = net.anvil.chain(8).await.unwrap();
    let m = &net.models[0];
    post_request(
        &requester,
        &net.d,
        &m.id,
        &m.input[..100],
        parse_amount("0.1 ether").unwrap(),
    )
    .await
    .unwrap();
    let s_addr = net.agents[server].address;
    net.drive(0, |s| s.status_of(s_addr) == [FINALIZED]).await;
    let log = std::fs::read_to_string(&net.agents[i].proc.log).unwrap();
    assert!(
        log.contains("not serving: model not in the models directory"),
        "{log}"
    );
    net.stop();
}

/// A claim staked for one game meets two challengers: neither is refused. The
/// second game is backed by its challenger's own stake; the submitter tops up
/// and so matches it before its first move, and wins both.
#[tokio::test(flavor = "multi_thread")]
async fn a_challenger_backed_game_is_matched_and_defended() {
    let mut net = Net::new().await;
    let honest = net.add(Party {
        policy: "stake_games = 1\ntop_up_games = 1".into(),
        ..submitter("honest submitter", None)
    });
    net.add(challenger(
        "lying challenger",
        Some("dispute_correct = true\ndiverge_from = \"first\""),
    ));
    net.add(challenger(
        "lying challenger",
        Some("dispute_correct = true\ndiverge_from = \"last\""),
    ));
    net.request().await;
    let h = net.agents[honest].address;
    let s = net.drive(2, |s| s.status_of(h) == [FINALIZED]).await;
    net.assert_honest_won(&s);
    assert_eq!(s.games.len(), 2);
    let logs = net.all_logs().await;
    let count = |f: &dyn Fn(&alloy::rpc::types::Log) -> bool| logs.iter().filter(|l| f(l)).count();
    assert_eq!(
        count(&|l| InferenceMarket::Challenged::decode_log(&l.inner)
            .is_ok_and(|e| e.funding == opml_onchain::protocol::FUNDING_CHALLENGER)),
        1,
        "the second challenge backs its own game"
    );
    assert_eq!(
        count(&|l| InferenceMarket::GameMatched::decode_log(&l.inner).is_ok()),
        1,
        "the submitter matched it"
    );
    assert!(count(&|l| InferenceMarket::ToppedUp::decode_log(&l.inner).is_ok()) >= 1);
    assert!(net.net(h).await > 0);
    net.stop();
}

/// A challenger that can pay for one challenge meets two lies (issue 23: one
/// failed action ended the pass, so a second challenge the node refused for
/// funds kept the challenger from ever playing its first game). Here the liar
/// stalls in the first game, the challenger is left with exactly the next bond
/// and stake and no gas on top, and the second lie arrives: the unaffordable
/// challenge is logged and retried, the first game is won on time, its
/// winnings withdrawn, and then the second lie is challenged and voided.
#[tokio::test(flavor = "multi_thread")]
async fn a_challenger_with_one_bond_meets_two_lies() {
    let params = MarketParams {
        challenge_window: 1800,
        ..MarketParams::default()
    };
    let mut net = Net::build_with("mlp784", None, &params).await;
    let liar = net.add(submitter(
        "lying submitter",
        Some("wrong_output = true\nsilent_from_move = 0"),
    ));
    let watcher = net.add(challenger("challenger", None));
    net.request().await;
    let n_games = |n: usize| {
        let net = &net;
        move || async move { Ok((net.snapshot().await.games.len() >= n).then_some(())) }
    };
    wait_for("the first game", SCENARIO, n_games(1))
        .await
        .unwrap();
    let m = InferenceMarket::new(net.d.market, net.watcher.provider.clone());
    let stake = m
        .gameStakeFor(net.models[0].vm.artifact().manifest.steps)
        .call()
        .await
        .unwrap();
    let c = net.agents[watcher].address;
    // The first challenge's stake is credited back (the claim backs the game)
    // and withdrawn; the balance is set after that, or the withdrawal would add to it.
    wait_for("the credited stake withdrawn", SCENARIO, || async {
        Ok(m.withdrawable(c).call().await?.is_zero().then_some(()))
    })
    .await
    .unwrap();
    let value = net.d.params.challenger_bond + U256::from(stake);
    net.anvil
        .set_balance(c, value + U256::from(1))
        .await
        .unwrap();
    net.request().await;
    // The second challenge cannot be paid for: the challenger says so and waits.
    net.wait_log(watcher, &["cannot be paid for"]).await;
    // The liar's clock in the first game runs out.
    net.anvil.warp(net.d.params.clock_budget + 1).await.unwrap();
    wait_for("the second challenge", SCENARIO, n_games(2))
        .await
        .unwrap();
    let l = net.agents[liar].address;
    let s = net.drive(2, |s| s.status_of(l) == [VOIDED, VOIDED]).await;
    net.assert_honest_won(&s);
    net.stop();
}

/// Behind a public endpoint (issue 23): `eth_getLogs` refused past 1,000
/// blocks or 10,000 logs with the providers' own error shapes, 3 % of requests
/// rate limited (429), 1 % hanging longer than the agents' request timeout,
/// revert data stripped. The chain has 100,000 blocks of history before the
/// deployment. The agents start, sync, and go offline for a week of chain
/// time (5,040 blocks 120 s apart; 100,800 blocks 6 s apart with
/// `OPML_DEEP=1`); restarted with 5,000-block pages, they shrink their pages to
/// what the node accepts, catch up, and the honest side wins without a
/// reverted transaction. (Before, a refused range was retried as transient
/// until the patience ran out, and every move queried the game's logs from
/// its creation to the head.)
#[tokio::test(flavor = "multi_thread")]
async fn behind_a_public_endpoint_after_a_long_history() {
    use opml_testkit::hostile::{Fault, Hostile, HostileRpc, Public};
    let params = MarketParams {
        challenge_window: 1800,
        ..MarketParams::default()
    };
    let anvil = Anvil::start_at_block(100_000).unwrap();
    let mut net = Net::build_on(anvil, "mlp784", None, &params).await;
    assert!(net.d.block > 100_000);
    let public = HostileRpc::start(
        &net.anvil.url,
        Hostile::public(11, Public::free_tier(Duration::from_secs(4))),
    )
    .await
    .unwrap();
    net.rpc = public.url.clone();
    let top = "log_page_blocks = 5000\nrpc_timeout_s = 2\n";
    let liar = net.spawn(
        submitter("lying submitter", Some("wrong_output = true")),
        1,
        top,
    );
    let watcher = net.spawn(challenger("challenger", None), 2, top);
    // Both sync once, then go offline for a week.
    for i in [liar, watcher] {
        let data = net.agents[i].dir.join("data");
        wait_for("a first sync", SCENARIO, || async {
            let store = opml_agents::store::Store::open(&data, None).await?;
            Ok(store.cursor().await?.map(|_| ()))
        })
        .await
        .unwrap();
        assert!(net.agents[i].proc.terminate().is_some_and(|s| s.success()));
    }
    let (blocks, spacing) = if std::env::var_os("OPML_DEEP").is_some() {
        (100_800, 6)
    } else {
        (5_040, 120)
    };
    net.anvil.mine_spaced(blocks, spacing).await.unwrap();
    for i in [liar, watcher] {
        net.agents[i].proc.restart().unwrap();
    }
    net.request().await;
    let l = net.agents[liar].address;
    let s = net.drive(1, |s| s.status_of(l) == [VOIDED]).await;
    net.assert_honest_won(&s);
    let counts = public.counts();
    for f in [Fault::LogRangeRefused, Fault::RateLimited] {
        assert!(
            counts.get(&f).is_some_and(|&n| n > 0),
            "no {f:?} met: {counts:?}"
        );
    }
    assert_eq!(net.reverted_txs().await, Vec::<String>::new());
    net.stop();
}

/// Watch-only (issue 23): a challenger with `watch_only = true` judges the lie
/// and simulates its challenge, logs what it would send, and sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_watch_only_challenger_sends_nothing() {
    let mut net = Net::new().await;
    net.add(submitter("lying submitter", Some("wrong_output = true")));
    let key = 1 + net.agents.len();
    let watcher = net.spawn(challenger("challenger", None), key, "watch_only = true\n");
    net.request().await;
    net.wait_log(watcher, &["watch-only: would send", "challenge claim 1"])
        .await;
    let s = net.snapshot().await;
    assert!(
        s.games.is_empty(),
        "a watch-only challenger challenged: {s:?}"
    );
    let nonce = alloy::providers::Provider::get_transaction_count(
        &net.watcher.provider,
        net.agents[watcher].address,
    )
    .await
    .unwrap();
    assert_eq!(nonce, 0, "a watch-only agent sent a transaction");
    net.stop();
}

/// Withdrawals to a cold address (issue 23): the challenger's winnings go to
/// `withdraw_to`, not to its hot key.
#[tokio::test(flavor = "multi_thread")]
async fn winnings_are_withdrawn_to_the_cold_address() {
    let mut net = Net::new().await;
    let liar = net.add(submitter("lying submitter", Some("wrong_output = true")));
    let cold = Address::repeat_byte(0xc0);
    let key = 1 + net.agents.len();
    net.spawn(
        challenger("challenger", None),
        key,
        &format!("withdraw_to = \"{cold}\"\n"),
    );
    net.request().await;
    let l = net.agents[liar].address;
    let s = net.drive(1, |s| s.status_of(l) == [VOIDED]).await;
    net.assert_honest_won(&s);
    let bond = net.d.params.challenger_bond;
    wait_for("the withdrawal to the cold address", SCENARIO, || async {
        let b = alloy::providers::Provider::get_balance(&net.watcher.provider, cold).await?;
        Ok((b > bond).then_some(()))
    })
    .await
    .unwrap();
    net.stop();
}

/// A node that stops answering shows in `/healthz` within the agent's
/// patience and in the RPC error counter (issue 23: with the node paused for
/// 20 s, `/healthz` stayed 200 and the counter 0), and the check clears once
/// the node answers again.
#[tokio::test(flavor = "multi_thread")]
async fn healthz_reports_a_silent_node_within_the_patience() {
    use opml_testkit::devnet::http_get;
    let mut net = Net::new().await;
    let proxy = RpcProxy::start(&net.anvil.url).await.unwrap();
    net.rpc = proxy.url.clone();
    let i = net.spawn(
        submitter("submitter", None),
        1,
        "rpc_patience_s = 3\nrpc_timeout_s = 1\n",
    );
    let addr_file = net.agents[i].dir.join("data/metrics.addr");
    let addr = wait_for("metrics.addr", SCENARIO, || async {
        Ok(std::fs::read_to_string(&addr_file).ok())
    })
    .await
    .unwrap();
    let healthy = || async {
        let (code, _) = http_get(&addr, "/healthz")?;
        Ok((code == 200).then_some(()))
    };
    wait_for("a healthy agent", SCENARIO, healthy)
        .await
        .unwrap();
    let reported = async {
        wait_for(
            "/healthz to report the silent node",
            Duration::from_secs(40),
            || async {
                let (code, body) = http_get(&addr, "/healthz")?;
                Ok((code == 503 && body.contains("has not answered")).then_some(body))
            },
        )
        .await
    };
    let (_, body) = tokio::join!(proxy.cut(Duration::from_secs(15)), reported);
    body.unwrap();
    wait_for("the agent healthy again", SCENARIO, healthy)
        .await
        .unwrap();
    let (_, text) = http_get(&addr, "/metrics").unwrap();
    assert!(
        metric(&text, "opml_rpc_errors_total").is_some_and(|v| v > 0.0),
        "{text}"
    );
    net.stop();
}

/// SIGTERM stops an agent whose node went away within the stop grace (10 s),
/// though each RPC request is retried for `rpc_patience_s` (120 s): a pass
/// stuck on a dead endpoint used to hold the stop for minutes.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_stops_promptly_while_its_node_is_down() {
    let mut net = Net::new().await;
    let i = net.add(submitter("submitter", None));
    net.wait_log(i, &["agent started"]).await;
    net.anvil.stop();
    net.wait_log(i, &["RPC request failed; retrying"]).await;
    let t0 = std::time::Instant::now();
    net.stop(); // a clean exit within the harness's patience (60 s)
    eprintln!("stopped in {:?}", t0.elapsed());
    net.wait_log(
        i,
        &["stopping in the middle of a pass", "submitter stopped"],
    )
    .await;
}

/// A watcher configured to watch what it cannot (issue 23: a challenger whose
/// `policy.models` held the manifest's build id, or any made-up id, started,
/// logged `models=1` and never judged a claim) refuses to start and names the
/// id to use; an artifact whose image is not what its manifest commits to (so
/// it would start every run from another state than the chain) is refused at
/// load, so nothing is ever bonded on it.
#[tokio::test(flavor = "multi_thread")]
async fn a_challenger_refuses_models_it_cannot_watch() {
    let net = Net::new().await;
    let dep = net.path().join("deployment.json");
    let registered = net.models[0].id;
    let start = |name: &str, models_dir: &Path, ids: &[String]| {
        let policy = format!(
            "models = [{}]",
            ids.iter()
                .map(|i| format!("{i:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let cfg = write_agent_config(
            &net.path().join(name),
            &net.anvil.url,
            &dep,
            models_dir,
            &net.anvil.keys[3],
            &policy,
            None,
        )
        .unwrap();
        let out = std::process::Command::new(EXE)
            .args(["challenger", "run", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let models = net.path().join("models");
    // The manifest's build id, as `compile --json` and `inspect` print it.
    let art = opml_vm::artifact::Artifact::load(&net.models[0].dir).unwrap();
    let build_id = art.manifest.model_id.clone();
    let (code, err) = start("by-build-id", &models, std::slice::from_ref(&build_id));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&build_id) && err.contains(&registered.to_string()),
        "the error names the id to use: {err}"
    );
    // A made-up id.
    let (code, err) = start(
        "made-up",
        &models,
        &[format!("{:?}", alloy::primitives::B256::repeat_byte(7))],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not the model id of any artifact"), "{err}");
    // An artifact whose image differs from what its manifest commits to (the
    // file hashes updated, so it loads): refused, so the registered id is not held.
    let tampered = net.path().join("models-tampered");
    let dir = tampered.join("mlp784");
    std::fs::create_dir_all(&dir).unwrap();
    for f in std::fs::read_dir(&net.models[0].dir).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
    }
    let mut art = opml_vm::artifact::Artifact::load(&dir).unwrap();
    let last = art.memory.len() - 1;
    art.memory[last] ^= 1;
    art.seal();
    art.save(&dir).unwrap();
    let (code, err) = start("tampered", &tampered, &[registered.to_string()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not the model id of any artifact"), "{err}");
}

/// The command line against a chain: `opml deploy`, `register`, `request --wait`
/// (served by a submitter process) and `status --json`.
#[tokio::test(flavor = "multi_thread")]
async fn cli_deploys_registers_requests_and_reports_status() {
    let anvil = Anvil::start(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let key = |i: usize| {
        let f = p.join(format!("key{i}"));
        write_key(&f, &anvil.keys[i]);
        f.display().to_string()
    };
    let dep = p.join("deployment.json").display().to_string();
    let opml = |args: &[&str]| {
        let out = std::process::Command::new(EXE).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "opml {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let k0 = key(0);
    let d = opml(&[
        "deploy",
        "--rpc",
        &anvil.url,
        "--key-file",
        &k0,
        "-o",
        &dep,
        "--challenge-window",
        "600",
        "--json",
    ]);
    assert_eq!(d["chain_id"], 31337);
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agent-models");
    let (art, _, _) = opml::demo::compile_fixture("mlp784", &cache).unwrap();
    let art = art.display().to_string();
    let r = opml(&[
        "register",
        &art,
        "--rpc",
        &anvil.url,
        "--key-file",
        &k0,
        "--deployment",
        &dep,
        "--fee",
        "0.1 ether",
        "--json",
    ]);
    assert!(r["model_id"].as_str().unwrap().starts_with("0x"));
    let models = p.join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::os::unix::fs::symlink(&art, models.join("mlp784")).unwrap();
    let cfg = write_agent_config(
        &p.join("sub"),
        &anvil.url,
        Path::new(&dep),
        &models,
        &anvil.keys[1],
        "",
        None,
    )
    .unwrap();
    let mut sub = AgentProcess::spawn(
        Path::new(EXE),
        "submitter",
        "submitter",
        &cfg,
        false,
        &p.join("sub.log"),
    )
    .unwrap();
    let input = opml_testkit::devnet::workspace_root().join("fixtures/mlp784/input.npy");
    let k2 = key(2);
    let request = std::process::Command::new(EXE)
        .args([
            "request",
            &art,
            "--input",
            input.to_str().unwrap(),
            "--rpc",
            &anvil.url,
            "--key-file",
            &k2,
            "--deployment",
            &dep,
            "--wait",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // once the claim is posted, pass its window
    let watcher = anvil.chain(9).await.unwrap();
    let dd = Deployment::load(Path::new(&dep)).unwrap();
    let m = InferenceMarket::new(dd.market, watcher.provider.clone());
    wait_for("the claim", SCENARIO, || {
        let m = m.clone();
        async move { Ok((m.claimCount().call().await? >= U256::from(1)).then_some(())) }
    })
    .await
    .unwrap();
    anvil.warp(601).await.unwrap();
    let out = request.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let settled: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(settled["status"], "finalized");
    assert_eq!(settled["claim"], 1);
    let status = opml(&[
        "status",
        "--rpc",
        &anvil.url,
        "--deployment",
        &dep,
        "--json",
    ]);
    assert_eq!(status["requests"][0]["status"], "finalized");
    assert_eq!(status["requests"][0]["claims"][0]["status"], "finalized");
    assert!(sub.terminate().is_some_and(|s| s.success()));
}

/// The store's queries run on PostgreSQL as on SQLite.
#[tokio::test(flavor = "multi_thread")]
async fn the_store_runs_on_postgresql() {
    use opml_agents::client::TxJournal;
    use opml_agents::store::Store;
    let pg = opml_testkit::devnet::Postgres::start().unwrap();
    let url = pg.database("store").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), Some(&url)).await.unwrap();
    assert_eq!(s.cursor().await.unwrap(), None);
    let c = opml_agents::follow::Cursor {
        next: 42,
        parent: Some(alloy::primitives::B256::repeat_byte(7)),
    };
    s.ingest(&[], c).await.unwrap();
    s.sent(
        "submit request 1",
        3,
        alloy::primitives::B256::repeat_byte(1),
    )
    .await
    .unwrap();
    s.record_mined(alloy::primitives::B256::repeat_byte(1), true, 40, 30_000)
        .await;
    assert_eq!(s.pending_transactions().await.unwrap(), 0);
    assert_eq!(s.fees_since(0).await.unwrap(), 30_000);
    assert!(s.claims(None, true).await.unwrap().is_empty());
    assert!(s.claims(Some(1), false).await.unwrap().is_empty());
    assert!(s.games(&[]).await.unwrap().is_empty());
    assert!(s.games(&["live", "defender_won"]).await.unwrap().is_empty());
    assert!(s.claims_by_id(&[1, 2]).await.unwrap().is_empty());
    assert!(s.game_counts(Address::ZERO).await.unwrap().is_empty());
    assert!(s.open_requests().await.unwrap().is_empty());
    assert_eq!(s.transactions(5).await.unwrap().len(), 1);
    // three instances race for one lease: exactly one gets it
    let ttl = std::time::Duration::from_secs(60);
    let (a, b, c3) = tokio::join!(
        s.lease("game 7", "instance a", ttl),
        s.lease("game 7", "instance b", ttl),
        s.lease("game 7", "instance c", ttl)
    );
    let won = [a.unwrap(), b.unwrap(), c3.unwrap()];
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    drop(s);
    let s = Store::open(dir.path(), Some(&url)).await.unwrap();
    assert_eq!(s.cursor().await.unwrap(), Some(c));
    assert_eq!(s.sent_for("submit request 1").await.unwrap().len(), 1);
}

alloy::sol!(
    #[sol(rpc)]
    #[allow(missing_docs)]
    LiarRig,
    "onchain/artifacts/testkit/LiarRig.json"
);

/// The liar's scripted instant loss of a fresh game `game` over `steps` steps
/// (issue 22): the defender (the rig) posts honest hashes with the false `end`;
/// the Sybil disputes part 0 with made-up hashes; the defender answers part 0
/// honestly; ... until part 0 is one step, settled by whoever is to move: the
/// verifier agrees with the honest hash, so the defender wins. Returns each
/// move's calldata, and whether the Sybil makes it.
fn sybil_loss(
    honest: &dyn opml_vm::trace::TraceProvider,
    arity: u64,
    game: u64,
    end: alloy::primitives::B256,
    steps: u64,
) -> (Vec<(bool, alloy::primitives::Bytes)>, u64) {
    use alloy::primitives::{B256, keccak256};
    use alloy::sol_types::SolCall;
    use opml_agents::player::{boundaries, boundary};
    let hashes = |lo: u64, hi: u64| -> Vec<B256> {
        honest
            .state_hashes(&boundaries(lo, hi, arity))
            .unwrap()
            .into_iter()
            .map(B256::from)
            .collect()
    };
    let id = U256::from(game);
    let (lo, mut hi) = (0u64, steps);
    let mut cur = hashes(lo, hi);
    *cur.last_mut().unwrap() = end;
    let mut moves = vec![(
        false,
        DisputeGame::dissectCall {
            gameId: id,
            points: cur.clone(),
        }
        .abi_encode()
        .into(),
    )];
    let mut sybil = true;
    // the smallest step at which the Sybil posts a made-up state
    let mut first_wrong = u64::MAX;
    loop {
        let b = boundary(lo, hi, arity, 1);
        if b - lo == 1 {
            let proof = honest.step_proof(lo).unwrap();
            let call = DisputeGame::stepCall {
                gameId: id,
                points: cur,
                part: U256::ZERO,
                proof: proof.into(),
            };
            moves.push((sybil, call.abi_encode().into()));
            return (moves, first_wrong);
        }
        if sybil {
            first_wrong = first_wrong.min(boundary(lo, b, arity, 1));
        }
        let next: Vec<B256> = if sybil {
            let mut made_up: Vec<B256> = (0..boundaries(lo, b, arity).len())
                .map(|i| keccak256(format!("made up {game} {lo} {i}")))
                .collect();
            made_up[0] = cur[0];
            made_up
        } else {
            let mut h = hashes(lo, b);
            h[0] = cur[0];
            h
        };
        let call = DisputeGame::respondCall {
            gameId: id,
            points: cur,
            part: U256::ZERO,
            newPoints: next.clone(),
        };
        moves.push((sybil, call.abi_encode().into()));
        cur = next;
        hi = b;
        sybil = !sybil;
    }
}

/// The sandwich liar of issue 22, on anvil with the agents as real processes.
/// The liar is a contract (`LiarRig`) that submits a false claim staked for
/// exactly one game and drives a Sybil puppet. With automine off, the honest
/// challenger's challenge waits in the pool; the liar puts a Sybil challenge
/// in front of it (higher tip: it takes the claim's only stake) and the
/// Sybil's instant loss behind it (lower tip: the stake comes back), and the
/// three land in one block in that order. The honest challenge is accepted all
/// the same (backed by the challenger's own stake), the liar never moves in
/// that game and loses it on time, its claim is voided, and the honest claim
/// settles the request.
#[tokio::test(flavor = "multi_thread")]
async fn fault_sandwich_of_the_honest_challenge() {
    use alloy::eips::eip2718::Encodable2718;
    use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
    use alloy::primitives::Bytes;
    use alloy::providers::Provider;
    use alloy::rpc::types::TransactionRequest;
    use alloy::sol_types::SolCall;
    use opml_agents::client::NoJournal;
    use std::sync::Arc;
    let mut net = Net::new().await;
    let honest = net.add(submitter("honest submitter", None));
    let watcher = net.add(challenger("challenger", None));
    let request = net.request().await;
    wait_for("the honest claim", SCENARIO, || async {
        Ok((net.snapshot().await.claims.len() == 1).then_some(()))
    })
    .await
    .unwrap();
    let p = net.watcher.provider.clone();
    let rpc = |method: &'static str, params: serde_json::Value| {
        let p = p.clone();
        async move {
            p.raw_request::<_, serde_json::Value>(method.into(), params)
                .await
                .unwrap()
        }
    };

    // The liar: an account, its rig contract and one puppet.
    let liar = net.anvil.chain(7).await.unwrap();
    let liar_key = parse_key(&net.anvil.keys[7]).unwrap();
    let rig = liar
        .send(
            "deploy the liar's rig",
            None,
            LiarRig::BYTECODE.clone(),
            U256::ZERO,
            &NoJournal,
        )
        .await
        .unwrap()
        .receipt
        .contract_address
        .unwrap();
    let add = LiarRig::addPuppetsCall { n: U256::from(1) }.abi_encode();
    liar.send(
        "add a puppet",
        Some(rig),
        add.into(),
        U256::ZERO,
        &NoJournal,
    )
    .await
    .unwrap();
    let puppet = LiarRig::new(rig, p.clone())
        .puppets(U256::ZERO)
        .call()
        .await
        .unwrap();
    let wallet = EthereumWallet::from(liar_key.clone());
    let mut nonce = p.get_transaction_count(liar_key.address()).await.unwrap();
    let chain_id = net.d.chain_id;
    // A rig batch signed with explicit fees (anvil orders its pool by them),
    // broadcast without waiting.
    let mut broadcast = async |calls: Vec<LiarRig::Call>, (max_fee, tip): (u128, u128)| {
        let value = calls.iter().map(|c| c.value).sum::<U256>();
        let tx = TransactionRequest::default()
            .with_to(rig)
            .with_input(Bytes::from(LiarRig::batchCall { calls }.abi_encode()))
            .with_value(value)
            .with_nonce(nonce)
            .with_chain_id(chain_id)
            .with_gas_limit(8_000_000)
            .with_max_priority_fee_per_gas(tip)
            .with_max_fee_per_gas(max_fee);
        nonce += 1;
        let env = tx.build(&wallet).await.unwrap();
        let hash: alloy::primitives::B256 = *p
            .send_raw_transaction(&env.encoded_2718())
            .await
            .unwrap()
            .tx_hash();
        hash
    };

    // The false claim (another output), staked for exactly one game.
    let m = InferenceMarket::new(net.d.market, p.clone());
    let model = &net.models[0];
    let honest_trace =
        Arc::new(opml_vm::trace::VmTrace::open(model.vm.clone(), &model.input).unwrap());
    let faults: opml_agents::faults::SubmitterFaults =
        toml::from_str("wrong_output = true").unwrap();
    let lie = opml_agents::faults::LyingTrace::submitter(honest_trace.clone(), &faults)
        .unwrap()
        .unwrap();
    let claim = opml_vm::trace::TraceProvider::claim(&lie).clone();
    let stake = m.gameStakeFor(claim.steps).call().await.unwrap();
    let bond = net.d.params.submitter_bond;
    rpc("evm_setAutomine", serde_json::json!([false])).await;
    let submit = LiarRig::Call {
        puppet: Address::ZERO,
        target: net.d.market,
        value: bond + stake,
        data: opml_agents::play::encode_submit(request, &claim),
    };
    let base: u128 = p.get_gas_price().await.unwrap();
    let tx = broadcast(vec![submit], (4 * base + 1_000_000_000, 1_000_000_000)).await;
    rpc("evm_mine", serde_json::json!([])).await;
    let receipt = p.get_transaction_receipt(tx).await.unwrap().unwrap();
    assert!(receipt.status(), "the liar's claim was accepted");
    let claim_id: u64 = m.claimCount().call().await.unwrap().to();

    // The honest challenge, waiting in the pool.
    let c = net.agents[watcher].address;
    let (h_tx, h_fee, h_tip) = wait_for("the honest challenge in the pool", SCENARIO, || async {
        let pool = rpc("txpool_content", serde_json::json!([])).await;
        let found = pool["pending"].as_object().and_then(|by| {
            let (_, txs) = by
                .iter()
                .find(|(a, _)| a.parse::<Address>().ok() == Some(c))?;
            let t = txs.as_object()?.values().next()?;
            let hash: alloy::primitives::B256 = t["hash"].as_str()?.parse().ok()?;
            let hex =
                |k: &str| u128::from_str_radix(t[k].as_str()?.trim_start_matches("0x"), 16).ok();
            Some((hash, hex("maxFeePerGas")?, hex("maxPriorityFeePerGas")?))
        });
        Ok(found)
    })
    .await
    .unwrap();
    // The next block's base fee is at most 9/8 of the latest one's (EIP-1559).
    let latest = rpc("eth_getBlockByNumber", serde_json::json!(["latest", false])).await;
    let base_hex = latest["baseFeePerGas"]
        .as_str()
        .unwrap()
        .trim_start_matches("0x");
    let next_base = u128::from_str_radix(base_hex, 16).unwrap() * 9 / 8 + 1;
    assert!(
        h_fee > next_base + 1,
        "the honest fee ({h_fee}) leaves room below it above the base fee ({next_base})"
    );

    // Front-run: the Sybil's challenge takes the claim's only stake. Back-run:
    // the Sybil loses its game at once, and the stake comes back.
    let sybil_game: u64 = DisputeGame::new(net.d.dispute_game, p.clone())
        .gameCount()
        .call()
        .await
        .unwrap()
        .to::<u64>()
        + 1;
    let challenge = LiarRig::Call {
        puppet,
        target: net.d.market,
        value: m.challengeValue(U256::from(claim_id)).call().await.unwrap(),
        data: InferenceMarket::challengeCall {
            requestId: U256::from(request),
            claimId: U256::from(claim_id),
        }
        .abi_encode()
        .into(),
    };
    let front = broadcast(
        vec![challenge],
        (h_fee + 1_000_000_000, h_tip + 1_000_000_000),
    )
    .await;
    let (loss, sybil_first_wrong) = sybil_loss(
        honest_trace.as_ref(),
        net.d.params.arity,
        sybil_game,
        alloy::primitives::B256::from(claim.final_state),
        claim.steps,
    );
    let loss = loss
        .into_iter()
        .map(|(by_sybil, data)| LiarRig::Call {
            puppet: if by_sybil { puppet } else { Address::ZERO },
            target: net.d.dispute_game,
            value: U256::ZERO,
            data,
        })
        .collect::<Vec<_>>();
    let moves = loss.len();
    let back = broadcast(loss, (h_fee - 1, h_tip.min(h_fee - 1 - next_base))).await;
    rpc("evm_mine", serde_json::json!([])).await;
    rpc("evm_setAutomine", serde_json::json!([true])).await;

    // One block, in that order, all three succeeded.
    let mut placed = vec![];
    for (what, hash) in [
        ("front-run", front),
        ("honest challenge", h_tx),
        ("back-run", back),
    ] {
        let r = p.get_transaction_receipt(hash).await.unwrap();
        let r = r.unwrap_or_else(|| panic!("the {what} was not mined"));
        assert!(r.status(), "the {what} reverted");
        placed.push((r.block_number.unwrap(), r.transaction_index.unwrap()));
    }
    assert!(
        placed[0].0 == placed[2].0 && placed[0].1 < placed[1].1 && placed[1].1 < placed[2].1,
        "front-run, honest challenge and back-run in one block in that order: {placed:?}"
    );
    let h_game = sybil_game + 1;
    let g = m.getGame(U256::from(h_game)).call().await.unwrap();
    assert_eq!(g.challenger, c);
    assert_eq!(
        g.funding,
        opml_onchain::protocol::FUNDING_CHALLENGER,
        "the honest game is backed by the challenger's own stake"
    );
    let sybil = DisputeGame::new(net.d.dispute_game, p.clone())
        .game(U256::from(sybil_game))
        .call()
        .await
        .unwrap();
    assert_eq!(
        GameStatus::from_u8(sybil.status as u8),
        GameStatus::DefenderWon
    );
    assert_eq!(
        sybil.moves as usize, moves,
        "the Sybil lost in {moves} moves"
    );
    assert_eq!(
        m.getClaim(U256::from(claim_id))
            .call()
            .await
            .unwrap()
            .freeStake,
        stake,
        "the claim's stake is back"
    );

    // The liar never moves in the honest game: it loses it on time.
    net.stalling.push(rig);
    net.scripted_games.extend([
        (
            sybil_game,
            opml::replay::Role::Challenger,
            sybil_first_wrong,
        ),
        (h_game, opml::replay::Role::Defender, claim.steps),
    ]);
    let h = net.agents[honest].address;
    let s = net
        .drive(2, |s| {
            s.status_of(rig) == [VOIDED]
                && s.status_of(h) == [FINALIZED]
                && s.games.iter().all(|g| g.settled)
        })
        .await;
    net.assert_honest_won(&s);
    assert_eq!(
        s.games.iter().find(|g| g.id == h_game).unwrap().status,
        GameStatus::ChallengerWon
    );
    net.replay_games().await;
    assert!(net.net(c).await > 0, "the honest challenger gains");
    let liar_net = net.net(rig).await + net.net(puppet).await;
    assert!(
        liar_net <= -((bond / U256::from(2)).to::<u128>() as i128),
        "the liar's accounts lose at least half the bond: {liar_net}"
    );
    net.stop();
}

/// Crash consistency of the journal: a submitter killed (SIGKILL, injected by
/// `OPML_CRASH_AT`) right after journaling its claim but before broadcasting
/// it, and one killed right after the broadcast, before the receipt. Mining
/// is off, so at the restart the claim is nowhere on chain: the first must
/// send it (the node never saw it), the second must not send it again (it
/// waits in the pool); either way exactly one claim lands. A challenger
/// killed the same way before broadcasting its challenge
/// (`a_killed_challenger_still_challenges`) still challenges.
#[tokio::test(flavor = "multi_thread")]
async fn agents_killed_around_a_broadcast_send_each_purpose_once() {
    use opml_agents::store::Store;
    for point in ["signed", "broadcast"] {
        let t0 = std::time::Instant::now();
        let mut net = Net::new().await;
        let request = net.request().await;
        let provider = net.watcher.provider.clone();
        let automine = |on: bool| {
            let p = provider.clone();
            async move {
                use alloy::providers::Provider;
                p.raw_request::<_, serde_json::Value>(
                    "evm_setAutomine".into(),
                    serde_json::json!([on]),
                )
                .await
                .unwrap();
            }
        };
        automine(false).await;
        let mut party = submitter("submitter", None);
        party.env = vec![("OPML_CRASH_AT".into(), format!("{point}:submit request"))];
        let i = net.add(party);
        net.agents[i].proc.wait_exit();
        eprintln!("{point}: crashed after {:?}", t0.elapsed());
        let log = net.log_of(&net.agents[i]);
        assert!(
            log.contains("OPML_CRASH_AT: killing this process"),
            "{point}: {log}"
        );
        assert!(net.snapshot().await.claims.is_empty());
        net.agents[i].proc.env.clear();
        net.agents[i].proc.restart().unwrap();
        let me = net.agents[i].address;
        let data = net.agents[i].dir.join("data");
        // Until the restarted agent's follower has its claim in the store:
        // from then on it never serves the request again.
        wait_for("the claim in the agent's store", SCENARIO, || async {
            net.anvil.mine(1).await?;
            let store = Store::open(&data, None).await?;
            let mine = store
                .claims(Some(request), false)
                .await?
                .into_iter()
                .any(|c| c.submitter == me);
            Ok(mine.then_some(()))
        })
        .await
        .unwrap();
        eprintln!("{point}: claim stored after {:?}", t0.elapsed());
        net.anvil.mine(2).await.unwrap();
        let claims = net.snapshot().await.claims;
        assert_eq!(claims.len(), 1, "{point}: {claims:?}");
        let store = Store::open(&data, None).await.unwrap();
        let journal: Vec<_> = store
            .transactions(100)
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.0 == format!("submit request {request}"))
            .collect();
        // one version stands (mined, or sent and seen mined by the follower);
        // one the node never saw is marked dropped
        let standing: Vec<_> = journal
            .iter()
            .filter(|t| t.3 == "mined" || t.3 == "sent")
            .collect();
        assert_eq!(standing.len(), 1, "{point}: {journal:?}");
        use alloy::providers::Provider;
        let receipt = net
            .watcher
            .provider
            .get_transaction_receipt(standing[0].2)
            .await
            .unwrap();
        assert!(
            receipt.is_some_and(|r| r.status()),
            "{point}: the standing version is the mined claim"
        );
        // what the agent sent meanwhile (a settlement) is mined, and it stops
        // without waiting for a receipt that would never come
        automine(true).await;
        net.anvil.mine(1).await.unwrap();
        net.stop();
        eprintln!("{point}: done in {:?}", t0.elapsed());
    }
}

/// A challenger killed between journaling its challenge and broadcasting it
/// challenges once restarted (the journal row alone once made it skip the
/// claim for good: a false claim would have finalized), and exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_challenger_still_challenges() {
    let mut net = Net::new().await;
    let liar = net.add(submitter(
        "lying submitter",
        Some("wrong_output = true\nsilent_from_move = 0"),
    ));
    let mut party = challenger("challenger", None);
    party.env = vec![("OPML_CRASH_AT".into(), "signed:challenge claim".into())];
    let watcher = net.add(party);
    net.request().await;
    net.agents[watcher].proc.wait_exit();
    assert!(net.snapshot().await.games.is_empty());
    net.agents[watcher].proc.env.clear();
    net.agents[watcher].proc.restart().unwrap();
    let l = net.agents[liar].address;
    let s = net.drive(1, |s| s.status_of(l) == [VOIDED]).await;
    let c = net.agents[watcher].address;
    assert_eq!(
        s.games.iter().filter(|g| g.challenger == c).count(),
        1,
        "{:?}",
        s.games
    );
    net.assert_honest_won(&s);
    net.stop();
}

/// Limits (issue 23) hold back new commitments only. A submitter at
/// `max_pending_claims`, and one past its `fee_budget_per_day`, leave a
/// second request alone and say why; a challenger at `max_open_games` holds
/// the second lie back while its first game runs, plays that game to the
/// end, then challenges the second.
#[tokio::test(flavor = "multi_thread")]
async fn limits_hold_new_commitments_back_and_play_goes_on() {
    let params = MarketParams {
        challenge_window: 1800,
        ..MarketParams::default()
    };
    for (limit, why) in [
        ("max_pending_claims = 1\n", "max_pending_claims = 1"),
        ("fee_budget_per_day = \"1 wei\"\n", "fee_budget_per_day"),
    ] {
        let mut net = Net::build_with("mlp784", None, &params).await;
        let mut party = submitter("submitter", None);
        party.top = limit.into();
        let i = net.add(party);
        net.request().await;
        wait_for("the first claim", SCENARIO, || async {
            Ok((net.snapshot().await.claims.len() == 1).then_some(()))
        })
        .await
        .unwrap();
        let second = net.request().await;
        let request = format!("request {second}");
        net.wait_log(i, &["held back by a limit", &request, why])
            .await;
        assert_eq!(net.snapshot().await.claims.len(), 1, "{limit}");
        net.stop();
    }

    let mut net = Net::build_with("mlp784", None, &params).await;
    let liar = net.add(submitter(
        "lying submitter",
        Some("wrong_output = true\nsilent_from_move = 0"),
    ));
    let mut party = challenger("challenger", None);
    party.top = "max_open_games = 1\n".into();
    let watcher = net.add(party);
    net.request().await;
    wait_for("the first game", SCENARIO, || async {
        Ok((net.snapshot().await.games.len() == 1).then_some(()))
    })
    .await
    .unwrap();
    net.request().await;
    net.wait_log(watcher, &["held back by a limit", "max_open_games = 1"])
        .await;
    assert_eq!(net.snapshot().await.games.len(), 1);
    // The liar's clock in the first game runs out; the cap frees up.
    net.anvil.warp(net.d.params.clock_budget + 1).await.unwrap();
    let l = net.agents[liar].address;
    let s = net.drive(2, |s| s.status_of(l) == [VOIDED, VOIDED]).await;
    net.assert_honest_won(&s);
    net.stop();
}

/// RPC volume (issue 23): an agent with nothing to do polls less and less
/// often, up to `idle_poll_ms` (1 s in the test configs, 10 s by default),
/// and an idle pass costs a few requests: at the default interval, well
/// within a free tier's 100,000 requests a day. A request makes it busy again.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_agent_polls_less_and_stays_within_a_free_tier() {
    use opml_testkit::devnet::http_get;
    let mut net = Net::new().await;
    let i = net.add(challenger("challenger", None));
    let addr_file = net.agents[i].dir.join("data/metrics.addr");
    let addr = wait_for("metrics.addr", SCENARIO, || async {
        Ok(std::fs::read_to_string(&addr_file).ok())
    })
    .await
    .unwrap();
    let scrape = || http_get(&addr, "/metrics").unwrap().1;
    let value = |text: &str, series: &str| metric(text, series).unwrap_or_default();
    wait_for("the idle interval", SCENARIO, || async {
        Ok((value(&scrape(), "opml_poll_interval_seconds") == 1.0).then_some(()))
    })
    .await
    .unwrap();
    let before = scrape();
    let passes = value(&before, "opml_passes_total");
    // A public chain never stops: a block comes between passes, as on a
    // chain whose block time is near the idle interval.
    let mined_after = std::sync::atomic::AtomicU64::new(passes as u64);
    let after = wait_for("ten idle passes", SCENARIO, || async {
        let now = scrape();
        let done = value(&now, "opml_passes_total");
        if done as u64 > mined_after.swap(done as u64, std::sync::atomic::Ordering::Relaxed) {
            net.anvil.mine(1).await?;
        }
        Ok((done >= passes + 10.0).then_some(now))
    })
    .await
    .unwrap();
    let requests = |text: &str| opml_testkit::devnet::metric_total(text, "opml_rpc_requests_total");
    let per_pass =
        (requests(&after) - requests(&before)) / (value(&after, "opml_passes_total") - passes);
    // at the default 10 s idle interval: requests a day
    let per_day = per_pass * 86_400.0 / 10.0;
    eprintln!("idle: {per_pass:.1} requests a pass, {per_day:.0} a day at 10 s");
    // the head's header, the new block's header and logs, and every third
    // pass the gauges' head, balance and credit (4.5 a pass before, with no
    // block between passes)
    assert!(per_pass <= 4.5, "{per_pass} requests per idle pass");
    assert!(per_day < 100_000.0, "{per_pass} requests per idle pass");
    // work resets the interval
    net.request().await;
    wait_for("the busy interval", SCENARIO, || async {
        Ok((value(&scrape(), "opml_poll_interval_seconds") < 1.0).then_some(()))
    })
    .await
    .unwrap();
    net.stop();
}
