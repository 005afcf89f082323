//! The operator commands against a real anvil: `opml credits`, `opml game
//! show|move|step|resolve`, and `--timeout` against a paused node.
//!
//! The lying party is played in this process (a claim of wrong output,
//! moves from `opml_agents::faults::LyingTrace` through the agents' own
//! `take_turn`); the honest party is the `opml` binary, run as an operator
//! would. Nothing sleeps: each step waits on what the chain says, and the
//! chain clock moves (`evm_increaseTime`) only past a stalled party's clock.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::sol_types::{SolCall, SolEvent};
use opml::demo::{DemoModel, compile_fixture, demo_params, post_request, setup_with};
use opml_agents::client::{Chain, NoJournal, TxPolicy, parse_key};
use opml_agents::faults::{LyingTrace, SubmitterFaults};
use opml_agents::play::{GameAt, Turn, current_points, encode_submit, read_game, take_turn};
use opml_agents::player::{Decision, GameStatus, Move, boundaries, decide};
use opml_onchain::bindings::{DisputeGame, InferenceMarket};
use opml_onchain::protocol::{Deployment, FUNDING_CHALLENGER, FUNDING_CLAIM, MarketParams};
use opml_testkit::devnet::{Anvil, anvil_path};
use opml_vm::trace::{TraceProvider, VmTrace};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_opml");

/// Dev keys: the liar submits, the challengers challenge, the requester requests.
const LIAR: usize = 1;
const CHALLENGER: usize = 2;
const SECOND_CHALLENGER: usize = 3;
const REQUESTER: usize = 8;
/// Blocks mined between events a command must find, so that its log scan
/// takes several pages (of at most 2,000 blocks).
const LOG_PAGES_APART: u64 = 4_100;

/// A chain with the protocol and the mlp784 fixture registered.
struct Net {
    anvil: Anvil,
    dir: tempfile::TempDir,
    d: Deployment,
    model: DemoModel,
}

/// What an `opml` run printed.
struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Out {
    fn json(&self) -> Value {
        assert!(self.ok, "opml failed:\n{}\n{}", self.stdout, self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

fn models_cache() -> PathBuf {
    // shared with tests/agents.rs: compiled once per target directory
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agent-models")
}

impl Net {
    async fn new(params: &MarketParams) -> Net {
        let anvil = Anvil::start(None).expect("anvil");
        let dir = tempfile::tempdir().unwrap();
        let (d, mut models) = setup_with(
            &anvil,
            dir.path(),
            &["mlp784"],
            Some(&models_cache()),
            params,
        )
        .await
        .expect("deploy and register");
        // key files, mode 0600 as `--key-file` requires
        for (i, key) in anvil.keys.iter().enumerate() {
            let f = dir.path().join(format!("key{i}"));
            std::fs::write(&f, key).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Net {
            anvil,
            dir,
            d,
            model: models.remove(0),
        }
    }

    fn deployment(&self) -> PathBuf {
        self.dir.path().join("deployment.json")
    }

    fn key_file(&self, i: usize) -> String {
        self.dir
            .path()
            .join(format!("key{i}"))
            .display()
            .to_string()
    }

    fn address(&self, i: usize) -> Address {
        parse_key(&self.anvil.keys[i]).unwrap().address()
    }

    /// Runs `opml ARGS --rpc .. --deployment ..`.
    async fn opml(&self, args: &[&str]) -> Out {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend([
            "--rpc".into(),
            self.anvil.url.clone(),
            "--deployment".into(),
            self.deployment().display().to_string(),
        ]);
        run(&all, &[]).await
    }

    /// Runs `opml ARGS` with dev key `i` in a key file.
    async fn opml_as(&self, i: usize, args: &[&str]) -> Out {
        let key = self.key_file(i);
        let mut all = args.to_vec();
        all.extend(["--key-file", &key]);
        self.opml(&all).await
    }

    async fn chain(&self, i: usize) -> Chain {
        self.anvil.chain(i).await.unwrap()
    }

    fn market(
        &self,
        c: &Chain,
    ) -> InferenceMarket::InferenceMarketInstance<alloy::providers::DynProvider> {
        InferenceMarket::new(self.d.market, c.provider.clone())
    }

    async fn request(&self) -> u64 {
        let requester = self.chain(REQUESTER).await;
        post_request(
            &requester,
            &self.d,
            &self.model.id,
            &self.model.input,
            opml_onchain::protocol::parse_amount("0.1 ether").unwrap(),
        )
        .await
        .unwrap()
    }

    /// The liar's false claim on `request` (`faults` as in an agent's config),
    /// staked for `games` games; its id and the lying trace.
    async fn lie(&self, request: u64, faults: &str, games: u64) -> (u64, LyingTrace) {
        let honest = Arc::new(VmTrace::open(self.model.vm.clone(), &self.model.input).unwrap());
        let f: SubmitterFaults = toml::from_str(faults).unwrap();
        let lie = LyingTrace::submitter(honest, &f).unwrap().unwrap();
        let claim = lie.claim().clone();
        let liar = self.chain(LIAR).await;
        let stake = self
            .market(&liar)
            .gameStakeFor(claim.steps)
            .call()
            .await
            .unwrap();
        let sent = liar
            .send(
                "submit a lie",
                Some(self.d.market),
                encode_submit(request, &claim),
                self.d.params.submitter_bond + stake * U256::from(games),
                &NoJournal,
            )
            .await
            .unwrap();
        let id = sent
            .receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| InferenceMarket::Submitted::decode_log(&l.inner).ok())
            .unwrap()
            .data
            .claimId
            .to();
        (id, lie)
    }

    /// Dev key `i` challenges the claim; the game's id and its block.
    async fn challenge(&self, i: usize, request: u64, claim: u64) -> (u64, u64) {
        let c = self.chain(i).await;
        let value = self
            .market(&c)
            .challengeValue(U256::from(claim))
            .call()
            .await
            .unwrap();
        let call = InferenceMarket::challengeCall {
            requestId: U256::from(request),
            claimId: U256::from(claim),
        };
        let sent = c
            .send(
                "challenge",
                Some(self.d.market),
                call.abi_encode().into(),
                value,
                &NoJournal,
            )
            .await
            .unwrap();
        let game = sent
            .receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| InferenceMarket::Challenged::decode_log(&l.inner).ok())
            .unwrap()
            .data
            .gameId
            .to();
        (game, sent.receipt.block_number.unwrap())
    }

    /// The liar's move in game `id` (as a lying agent would make it).
    async fn liar_moves(&self, id: u64, created_block: u64, lie: &LyingTrace) -> Move {
        let liar = self.chain(LIAR).await;
        let at = GameAt {
            id,
            created_block,
            known: vec![],
            scan_from: created_block,
        };
        match take_turn(&liar, &self.d, at, lie, &NoJournal, 1, |_, m| Some(m))
            .await
            .unwrap()
        {
            Turn::Moved { mv, .. } => mv,
            other => panic!("the liar did not move: {other:?}"),
        }
    }

    async fn nonce(&self, i: usize) -> u64 {
        self.chain(i)
            .await
            .provider
            .get_transaction_count(self.address(i))
            .await
            .unwrap()
    }
}

/// Runs the `opml` binary with `args` (without inheriting the operator's
/// `OPML_*` settings) and extra environment `env`.
async fn run(args: &[String], env: &[(&str, &str)]) -> Out {
    let start = Instant::now();
    let out = tokio::process::Command::new(EXE)
        .args(args)
        .env_remove("OPML_KEY")
        .env_remove("OPML_RPC")
        .env_remove("OPML_DEPLOYMENT")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run opml");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: start.elapsed(),
    }
}

fn wei(v: &Value) -> U256 {
    U256::from_str_radix(v.as_str().expect("an amount"), 10).unwrap()
}

/// The account `a` of a `credits --json` report.
fn account_of(report: &Value, a: Address) -> Value {
    report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["address"].as_str().unwrap().parse::<Address>().unwrap() == a)
        .unwrap_or_else(|| panic!("no account {a} in {report}"))
        .clone()
}

/// A submitter with a pending claim challenged twice (one game backed by the
/// claim, one by its challenger's own stake) and both challengers: every
/// number `opml credits` shows is the contracts', and together with the
/// requester's escrowed fee they are exactly the market's balance. The
/// claims and games are found by a log scan of several pages.
#[tokio::test(flavor = "multi_thread")]
async fn credits_of_a_submitter_and_its_challengers_are_the_contracts_numbers() {
    let net = Net::new(&demo_params()).await;
    // the claims and games lie more than two log pages after the deployment
    net.anvil.mine(LOG_PAGES_APART).await.unwrap();
    let request = net.request().await;
    let (claim, _) = net.lie(request, "wrong_output = true", 1).await;
    let (g1, _) = net.challenge(CHALLENGER, request, claim).await;
    let (g2, _) = net.challenge(SECOND_CHALLENGER, request, claim).await;
    let (liar, c1, c2) = (
        net.address(LIAR),
        net.address(CHALLENGER),
        net.address(SECOND_CHALLENGER),
    );
    let watcher = net.chain(9).await;
    let m = net.market(&watcher);
    let g = DisputeGame::new(net.d.dispute_game, watcher.provider.clone());
    let c = m.getClaim(U256::from(claim)).call().await.unwrap();
    let stake = U256::from(c.gameStake);
    let (s_bond, c_bond) = (
        U256::from(m.submitterBond().call().await.unwrap()),
        U256::from(m.challengerBond().call().await.unwrap()),
    );
    assert_eq!(
        m.getGame(U256::from(g1)).call().await.unwrap().funding,
        FUNDING_CLAIM
    );
    assert_eq!(
        m.getGame(U256::from(g2)).call().await.unwrap().funding,
        FUNDING_CHALLENGER
    );

    let report = net
        .opml(&[
            "credits",
            "--address",
            &liar.to_string(),
            "--address",
            &c1.to_string(),
            "--address",
            &c2.to_string(),
            "--json",
        ])
        .await
        .json();
    let mut all = U256::ZERO;
    for who in [liar, c1, c2] {
        let a = account_of(&report, who);
        assert_eq!(
            wei(&a["withdrawable"]),
            m.withdrawable(who).call().await.unwrap(),
            "{who}"
        );
        let t = &a["total"];
        assert_eq!(
            wei(&t["all"]),
            wei(&t["withdrawable"]) + wei(&t["claims"]) + wei(&t["games"])
        );
        all += wei(&t["all"]);
    }

    // the submitter: its claim's bond, free stake and the stake game 1 reserved
    let a = account_of(&report, liar);
    let claims = a["claims"].as_array().unwrap();
    assert_eq!(claims.len(), 1, "{a}");
    let x = &claims[0];
    assert_eq!(x["id"], claim);
    assert_eq!(x["request"], request);
    assert_eq!(x["status"], "pending");
    assert_eq!(wei(&x["bond"]), s_bond);
    assert_eq!(wei(&x["free_stake"]), c.freeStake);
    assert_eq!(wei(&x["game_stake"]), stake);
    assert_eq!(x["open_games"], c.openGames);
    assert_eq!(x["unmatched_games"], c.unmatchedGames);
    assert_eq!((c.openGames, c.unmatchedGames), (2, 1));
    assert_eq!(wei(&x["reserved_by_games"]), stake);
    assert_eq!(wei(&x["held"]), s_bond + c.freeStake + stake);
    assert_eq!(x["challenge_deadline"], c.challengeDeadline);
    let defended: Vec<u64> = a["games"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            assert_eq!(g["side"], "defender");
            assert_eq!(wei(&g["held"]), U256::ZERO, "counted with the claim");
            g["id"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(defended, [g1, g2]);

    // the challengers: bond, and own stake only where it backs the game
    for (who, game, own) in [(c1, g1, U256::ZERO), (c2, g2, stake)] {
        let a = account_of(&report, who);
        assert!(a["claims"].as_array().unwrap().is_empty());
        let games = a["games"].as_array().unwrap();
        assert_eq!(games.len(), 1, "{a}");
        let x = &games[0];
        assert_eq!(x["id"], game);
        assert_eq!(x["claim"], claim);
        assert_eq!(x["side"], "challenger");
        assert_eq!(wei(&x["bond"]), c_bond);
        assert_eq!(wei(&x["own_stake"]), own);
        assert_eq!(wei(&x["held"]), c_bond + own);
        let clocks = g.clocks(U256::from(game)).call().await.unwrap();
        assert_eq!(
            U256::from(x["clock_left"].as_u64().unwrap()),
            clocks.challenger
        );
        assert_eq!(x["to_move"], "opponent");
    }
    // challenger 1's stake came back at once: the claim backs its game
    assert_eq!(wei(&account_of(&report, c1)["withdrawable"]), stake);

    // Every wei the market holds is someone's: the three accounts' and the open request's fee.
    let fee = m.getRequest(U256::from(request)).call().await.unwrap().fee;
    let balance = watcher.balance(net.d.market).await.unwrap();
    assert_eq!(balance, all + U256::from(fee));

    // Without --address: the key's account; the human table names the same things.
    let key = net.anvil.keys[SECOND_CHALLENGER].clone();
    let mut args: Vec<String> = ["credits", "--rpc", &net.anvil.url, "--deployment"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(net.deployment().display().to_string());
    let own = run(&args, &[("OPML_KEY", &key)]).await;
    assert!(own.ok, "{}", own.stderr);
    assert!(own.stdout.contains(&c2.to_string()), "{}", own.stdout);
    assert!(
        own.stdout.contains(&format!(
            "game {g2} (claim {claim}, pending) as challenger [awaiting_dissection]"
        )),
        "{}",
        own.stdout
    );
    assert!(
        own.stdout.contains("total held by the market"),
        "{}",
        own.stdout
    );
    let nobody = run(&args, &[]).await;
    assert!(!nobody.ok);
    assert!(nobody.stderr.contains("--address"), "{}", nobody.stderr);
}

/// `game show` on a live game before and after the liar's first dissection;
/// `--dry-run` of a move and of a resolution send nothing (nonces unchanged);
/// `step`, a move out of turn and an early resolution are refused, saying why.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_game_is_shown_and_dry_runs_and_refusals_send_nothing() {
    // a request that stays open while the blocks below are mined (a second each)
    let params = MarketParams {
        request_timeout: 2 * LOG_PAGES_APART,
        ..demo_params()
    };
    let net = Net::new(&params).await;
    let request = net.request().await;
    // the request's input lies more than two log pages before the game
    net.anvil.mine(LOG_PAGES_APART).await.unwrap();
    let (claim, lie) = net.lie(request, "wrong_output = true", 1).await;
    let (game, created) = net.challenge(CHALLENGER, request, claim).await;
    let (liar, challenger) = (net.address(LIAR), net.address(CHALLENGER));
    let id = game.to_string();
    let steps = lie.claim().steps;
    let budget = net.d.params.clock_budget;

    let v = net.opml(&["game", "show", &id, "--json"]).await.json();
    assert_eq!(v["status"], "awaiting_dissection");
    assert_eq!(v["claim"], claim);
    assert_eq!(v["request"], request);
    assert_eq!(
        v["defender"].as_str().unwrap().parse::<Address>().unwrap(),
        liar
    );
    assert_eq!(
        v["challenger"]
            .as_str()
            .unwrap()
            .parse::<Address>()
            .unwrap(),
        challenger
    );
    assert_eq!(v["to_move"]["role"], "defender");
    assert_eq!(v["moves"], 0);
    assert_eq!(v["segment"], serde_json::json!([0, steps]));
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[1]["step"], steps);
    assert_eq!(
        points[1]["hash"].as_str().unwrap(),
        alloy::primitives::B256::from(lie.claim().final_state).to_string()
    );
    assert_eq!(v["clock_left"]["challenger"], budget);
    assert!(v["clock_left"]["defender"].as_u64().unwrap() <= budget);
    assert_eq!(v["history"][0]["event"], "created");

    // The liar dissects: the challenger is to move, against its points.
    let mv = net.liar_moves(game, created, &lie).await;
    let Move::Dissect { points: dissection } = mv else {
        panic!("expected the first dissection, got {mv:?}");
    };
    let v = net.opml(&["game", "show", &id, "--json"]).await.json();
    assert_eq!(v["status"], "awaiting_response");
    assert_eq!(v["moves"], 1);
    assert_eq!(v["to_move"]["role"], "challenger");
    assert_eq!(
        v["to_move"]["address"]
            .as_str()
            .unwrap()
            .parse::<Address>()
            .unwrap(),
        challenger
    );
    let g = read_game(&net.chain(9).await, &net.d, game).await.unwrap();
    assert_eq!(v["to_move"]["deadline"], g.mover_deadline());
    let shown: Vec<(u64, String)> = v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["step"].as_u64().unwrap(),
                p["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(u64, String)> = boundaries(0, steps, net.d.params.arity)
        .into_iter()
        .zip(dissection.iter().map(|p| p.to_string()))
        .collect();
    assert_eq!(shown, want);
    assert_eq!(v["history"][1]["event"], "dissect");
    assert_eq!(v["history"][1]["by"], "defender");
    let human = net.opml(&["game", "show", &id]).await;
    assert!(human.ok, "{}", human.stderr);
    assert!(
        human
            .stdout
            .contains(&format!("to move: the challenger {challenger}")),
        "{}",
        human.stdout
    );

    // Dry runs and refusals: nothing is sent.
    let art = net.model.dir.display().to_string();
    let before = (net.nonce(CHALLENGER).await, net.nonce(LIAR).await);
    let dry = net
        .opml_as(
            CHALLENGER,
            &[
                "game",
                "move",
                &id,
                "--artifact",
                &art,
                "--dry-run",
                "--json",
            ],
        )
        .await
        .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["move"]["kind"], "respond");
    let step = net
        .opml_as(CHALLENGER, &["game", "step", &id, "--artifact", &art])
        .await;
    assert!(!step.ok);
    assert!(
        step.stderr.contains("not at a single step") && step.stderr.contains("opml game move"),
        "{}",
        step.stderr
    );
    let out_of_turn = net
        .opml_as(LIAR, &["game", "move", &id, "--artifact", &art])
        .await;
    assert!(!out_of_turn.ok);
    assert!(
        out_of_turn.stderr.contains("it is the challenger's move"),
        "{}",
        out_of_turn.stderr
    );
    let early = net
        .opml_as(CHALLENGER, &["game", "resolve", &id, "--dry-run"])
        .await;
    assert!(!early.ok);
    assert!(
        early.stderr.contains("cannot be resolved yet")
            && early.stderr.contains(&g.mover_deadline().to_string()),
        "{}",
        early.stderr
    );
    assert_eq!(
        (net.nonce(CHALLENGER).await, net.nonce(LIAR).await),
        before,
        "nothing was sent"
    );
    let after = read_game(&net.chain(9).await, &net.d, game).await.unwrap();
    assert_eq!(after, g, "the game did not change");
}

/// Rounds until the disputed part is a single step, when the first wrong
/// state is `first_wrong` (the responder of round `j` is the challenger for odd `j`).
fn rounds_to_step(steps: u64, arity: u64, first_wrong: u64) -> u64 {
    let (mut lo, mut hi, mut j) = (0, steps, 0);
    loop {
        j += 1;
        let b = boundaries(lo, hi, arity);
        let i = (0..b.len() - 1).find(|&i| b[i + 1] >= first_wrong).unwrap();
        if b[i + 1] - b[i] == 1 {
            return j;
        }
        (lo, hi) = (b[i], b[i + 1]);
    }
}

/// A whole game by hand: the challenger's every move is `opml game move`,
/// the last one `opml game step`, against a submitter that lied about the
/// output and keeps defending its lie. The arity is chosen so that the
/// single step falls to the challenger.
#[tokio::test(flavor = "multi_thread")]
async fn a_game_played_by_hand_ends_with_the_operators_one_step_proof() {
    let (_, art, _) = compile_fixture("mlp784", &models_cache()).unwrap();
    let steps = art.manifest.steps;
    // the lie is at the last step (the claimed end only)
    let arity = (8..=32)
        .find(|&k| rounds_to_step(steps, k, steps) % 2 == 1)
        .expect("an arity where the challenger proves the step");
    let params = MarketParams {
        arity,
        ..demo_params()
    };
    let net = Net::new(&params).await;
    let request = net.request().await;
    let (claim, lie) = net.lie(request, "wrong_output = true", 1).await;
    let (game, created) = net.challenge(CHALLENGER, request, claim).await;
    let (liar, challenger) = (net.address(LIAR), net.address(CHALLENGER));
    let id = game.to_string();
    let art = net.model.dir.display().to_string();
    let watcher = net.chain(9).await;
    let honest = VmTrace::open(net.model.vm.clone(), &net.model.input).unwrap();
    let mut by_hand = vec![];
    let max = rounds_to_step(steps, arity, steps) + 1;
    for _ in 0..=max {
        let g = read_game(&watcher, &net.d, game).await.unwrap();
        if !g.status.is_live() {
            break;
        }
        if g.to_move() == liar {
            net.liar_moves(game, created, &lie).await;
            continue;
        }
        // what the honest challenger must do now: a step, or a response
        let at = GameAt {
            id: game,
            created_block: created,
            known: vec![],
            scan_from: created,
        };
        let points = current_points(&watcher, &net.d, &at, &g).await.unwrap();
        let now = watcher.now().await.unwrap();
        let Decision::Play(want) = decide(&g, &points, challenger, arity, &honest, now).unwrap()
        else {
            panic!("the challenger has a move");
        };
        let sub = if matches!(want, Move::Step { .. }) {
            "step"
        } else {
            "move"
        };
        let nonce = net.nonce(CHALLENGER).await;
        let v = net
            .opml_as(
                CHALLENGER,
                &["game", sub, &id, "--artifact", &art, "--json"],
            )
            .await
            .json();
        assert_eq!(v["move"]["kind"], want.kind(), "{v}");
        assert_eq!(net.nonce(CHALLENGER).await, nonce + 1, "one transaction");
        let after = read_game(&watcher, &net.d, game).await.unwrap();
        assert_eq!(after.moves, g.moves + 1);
        by_hand.push(want.kind());
    }
    let g = read_game(&watcher, &net.d, game).await.unwrap();
    assert_eq!(g.status, GameStatus::ChallengerWon);
    assert_eq!(by_hand.last(), Some(&"step"), "{by_hand:?}");
    assert!(by_hand[..by_hand.len() - 1].iter().all(|k| *k == "respond"));
    let m = net.market(&watcher);
    assert_eq!(
        m.getClaim(U256::from(claim)).call().await.unwrap().status as u8,
        2,
        "the lie is voided"
    );
    let v = net.opml(&["game", "show", &id, "--json"]).await.json();
    assert_eq!(v["status"], "challenger_won");
    assert!(v["to_move"].is_null());
    let history = v["history"].as_array().unwrap();
    let n = history.len();
    assert_eq!(history[n - 2]["event"], "step");
    assert_eq!(history[n - 2]["by"], "challenger");
    assert_eq!(history[n - 1]["winner"], "challenger");
    // the winnings are withdrawable and no game holds anything any more
    let report = net
        .opml(&["credits", "--address", &challenger.to_string(), "--json"])
        .await
        .json();
    let a = account_of(&report, challenger);
    assert_eq!(
        wei(&a["withdrawable"]),
        m.withdrawable(challenger).call().await.unwrap()
    );
    assert!(wei(&a["withdrawable"]) > U256::from(net.d.params.challenger_bond));
    assert!(a["games"].as_array().unwrap().is_empty());
}

/// The liar stops after its first dissection; the operator answers by hand,
/// `resolve` is refused while the liar's clock runs, and once the clock ran
/// out a dry run sends nothing and the real one wins the game. The claim's
/// other game, now pointless to play, is closed by `resolve` too.
#[tokio::test(flavor = "multi_thread")]
async fn a_game_whose_liar_stalls_is_resolved_by_hand_once_its_clock_ran_out() {
    let net = Net::new(&demo_params()).await;
    let request = net.request().await;
    let (claim, lie) = net.lie(request, "wrong_output = true", 1).await;
    let (game, created) = net.challenge(CHALLENGER, request, claim).await;
    let (other, _) = net.challenge(SECOND_CHALLENGER, request, claim).await;
    let id = game.to_string();
    let art = net.model.dir.display().to_string();
    let watcher = net.chain(9).await;
    net.liar_moves(game, created, &lie).await;
    let answer = net
        .opml_as(CHALLENGER, &["game", "move", &id, "--artifact", &art])
        .await;
    assert!(answer.ok, "{}", answer.stderr);
    assert!(answer.stdout.contains("sent in 0x"), "{}", answer.stdout);
    let g = read_game(&watcher, &net.d, game).await.unwrap();
    assert_eq!((g.moves, g.to_move()), (2, net.address(LIAR)));

    // the liar stalls: too early to resolve, and the refusal says until when
    let nonce = net.nonce(CHALLENGER).await;
    let early = net.opml_as(CHALLENGER, &["game", "resolve", &id]).await;
    assert!(!early.ok);
    assert!(
        early.stderr.contains("cannot be resolved yet")
            && early.stderr.contains("defender")
            && early.stderr.contains(&g.mover_deadline().to_string()),
        "{}",
        early.stderr
    );
    net.anvil.warp(net.d.params.clock_budget + 1).await.unwrap();
    let dry = net
        .opml_as(CHALLENGER, &["game", "resolve", &id, "--dry-run", "--json"])
        .await
        .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        net.nonce(CHALLENGER).await,
        nonce,
        "the dry run sent nothing"
    );
    assert!(
        read_game(&watcher, &net.d, game)
            .await
            .unwrap()
            .status
            .is_live()
    );

    let done = net
        .opml_as(CHALLENGER, &["game", "resolve", &id, "--json"])
        .await
        .json();
    assert_eq!(done["status"], "challenger_won");
    assert_eq!(net.nonce(CHALLENGER).await, nonce + 1);
    let g = read_game(&watcher, &net.d, game).await.unwrap();
    assert_eq!(g.status, GameStatus::ChallengerWon);
    let again = net.opml_as(CHALLENGER, &["game", "resolve", &id]).await;
    assert!(
        !again.ok && again.stderr.contains("nothing to resolve"),
        "{}",
        again.stderr
    );

    // The other game of the voided claim: no move is worth sending, resolve closes it.
    let other_id = other.to_string();
    let pointless = net
        .opml_as(
            SECOND_CHALLENGER,
            &["game", "move", &other_id, "--artifact", &art],
        )
        .await;
    assert!(
        !pointless.ok && pointless.stderr.contains("voided by another game"),
        "{}",
        pointless.stderr
    );
    let v = net
        .opml(&["game", "show", &other_id, "--json"])
        .await
        .json();
    assert_eq!(v["claim_status"], "voided");
    assert_eq!(v["to_move"]["resolvable"], true);
    let c2 = net.address(SECOND_CHALLENGER);
    let m = net.market(&watcher);
    let owed = m.withdrawable(c2).call().await.unwrap();
    let closed = net
        .opml_as(CHALLENGER, &["game", "resolve", &other_id, "--json"])
        .await
        .json();
    assert_eq!(closed["status"], "cancelled");
    let r = m.getGame(U256::from(other)).call().await.unwrap();
    assert!(r.settled);
    let report = net
        .opml(&["credits", "--address", &c2.to_string(), "--json"])
        .await
        .json();
    let a = account_of(&report, c2);
    assert!(a["games"].as_array().unwrap().is_empty(), "{a}");
    let paid = wei(&a["withdrawable"]) - owed;
    assert!(
        paid >= U256::from(net.d.params.challenger_bond),
        "bond and stake paid back: {paid}"
    );
}

/// An anvil of this test's own, so that it can be paused (SIGSTOP): the
/// node keeps accepting connections and never answers. Continued and
/// killed on drop.
struct PausableAnvil {
    child: std::process::Child,
    url: String,
    key: String,
}

impl PausableAnvil {
    fn start() -> PausableAnvil {
        use std::io::BufRead;
        let mut child = std::process::Command::new(anvil_path().unwrap())
            .args([
                "--port",
                "0",
                "--code-size-limit",
                "65536",
                "--gas-limit",
                "60000000",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start anvil");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut key, mut in_keys) = (None, false);
        let url = loop {
            let line = lines.next().expect("anvil exited").unwrap();
            if line.starts_with("Private Keys") {
                in_keys = true;
            } else if in_keys && key.is_none() {
                key = line
                    .split_whitespace()
                    .find(|w| w.starts_with("0x"))
                    .map(str::to_string);
            }
            if let Some(addr) = line.strip_prefix("Listening on ") {
                break format!("http://{}", addr.trim());
            }
        };
        std::thread::spawn(move || for _ in lines {});
        PausableAnvil {
            child,
            url,
            key: key.expect("a dev key"),
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child, not reaped yet.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0, "kill({sig})");
    }
}

impl Drop for PausableAnvil {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `status`, `credits` and `game show` against a paused node fail within
/// `--timeout` with the endpoint named (never its credentials) and what to
/// check; once the node continues, `status` answers again.
#[tokio::test(flavor = "multi_thread")]
async fn commands_against_a_paused_node_fail_within_the_timeout_naming_the_endpoint() {
    let anvil = PausableAnvil::start();
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::connect(
        &anvil.url,
        Some(parse_key(&anvil.key).unwrap()),
        TxPolicy::default(),
    )
    .await
    .unwrap();
    let d = opml_agents::deploy::deploy(&chain, &MarketParams::default())
        .await
        .unwrap();
    let dep = dir.path().join("deployment.json");
    d.save(&dep).unwrap();
    let dep = dep.display().to_string();
    let endpoint = anvil.url.trim_start_matches("http://").to_string();
    let with_secret = format!("http://operator:hunter2@{endpoint}/");
    let someone = chain.address().to_string();
    let args = |rpc: &str, cmd: &[&str]| -> Vec<String> {
        cmd.iter()
            .map(|s| s.to_string())
            .chain(["--rpc", rpc, "--deployment", &dep, "--timeout", "2"].map(String::from))
            .collect()
    };
    let ok = run(&args(&anvil.url, &["status"]), &[]).await;
    assert!(ok.ok && ok.stdout.contains("no requests"), "{}", ok.stderr);

    anvil.signal(libc::SIGSTOP);
    for (rpc, cmd) in [
        (anvil.url.as_str(), vec!["status"]),
        (anvil.url.as_str(), vec!["credits", "--address", &someone]),
        (anvil.url.as_str(), vec!["game", "show", "1"]),
        (with_secret.as_str(), vec!["status", "--json"]),
    ] {
        let out = run(&args(rpc, &cmd), &[]).await;
        assert!(!out.ok, "{cmd:?} succeeded against a paused node");
        // 2 s for the node, the rest for starting a debug binary on a loaded machine
        assert!(
            out.took < Duration::from_secs(12),
            "{cmd:?} took {:?}",
            out.took
        );
        let e = &out.stderr;
        assert!(
            e.contains(&endpoint)
                && e.contains("did not answer within 2 s")
                && e.contains("paused"),
            "{cmd:?}: {e}"
        );
        assert!(!e.contains("hunter2") && !e.contains("operator"), "{e}");
    }
    anvil.signal(libc::SIGCONT);
    let again = run(&args(&anvil.url, &["status"]), &[]).await;
    assert!(again.ok, "{}", again.stderr);
}
