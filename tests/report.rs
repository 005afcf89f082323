//! The HTML report of a replay (`opml::report`) opened in a real browser
//! (`opml::browser`, headless Chromium): a synthetic game renders with no
//! error, one band per move and every section; the check itself fails on a
//! page that logs an error or throws; replay text is escaped.
//!
//! Needs `./dev setup` (Debian's chromium and `tests/report/node_modules`);
//! without them the browser tests fail saying so.

use alloy::primitives::{Address, B256, U256};
use opml::browser::check_page;
use opml::replay::{
    DecisiveStep, Divergence, ElementDiff, HonestRun, LayerSpan, MemoryAccess, ModelMap, Money,
    OutputDiff, PartyReport, Point, Replay, Role, Round, TensorDiff, Transfer, Verdict,
    VerifierRun,
};
use std::path::PathBuf;

const STEPS: u64 = 10_000;
const K: u64 = 8;
/// The defender's trace is honest up to this step and false from the next.
const LAST_TRUE: u64 = 6789;

fn out(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn honest_hash(step: u64) -> B256 {
    B256::from(U256::from(step))
}

fn lie_hash(step: u64) -> B256 {
    B256::from(U256::from(step) | (U256::from(0xbad) << 240))
}

/// A state posted by `by`: the defender lies after [`LAST_TRUE`], the challenger never.
fn point(step: u64, by: Role) -> Point {
    let true_state = by == Role::Challenger || step <= LAST_TRUE;
    Point {
        step,
        hash: if true_state {
            honest_hash(step)
        } else {
            lie_hash(step)
        },
        honest: honest_hash(step),
        true_state,
        by,
    }
}

/// A move over `[lo, hi]`: its `K + 1` points (every step when shorter), the
/// first adopted from the opponent, unless it is the first dissection.
fn round(index: usize, kind: &str, mover: Role, part: Option<u64>, lo: u64, hi: u64) -> Round {
    let n = K.min(hi - lo);
    let other = if mover == Role::Defender {
        Role::Challenger
    } else {
        Role::Defender
    };
    let points = (0..=n)
        .map(|j| {
            let by = if j == 0 && index > 0 { other } else { mover };
            point(lo + (hi - lo) * j / n, by)
        })
        .collect();
    Round {
        index,
        kind: kind.into(),
        mover,
        block: 120 + 2 * index as u64,
        timestamp: 1_700_000_000 + 37 * index as u64,
        tx: B256::repeat_byte(0x10 + index as u8),
        gas_used: 180_000 + 1_111 * index as u64,
        part,
        lo,
        hi,
        points,
        clocks_left: (3_600 - 20 * index as u64, 3_600 - 17 * index as u64),
    }
}

fn layer(name: &str, ops: &[&str], start: u64, end: u64) -> LayerSpan {
    LayerSpan {
        name: name.into(),
        ops: ops.iter().map(|s| s.to_string()).collect(),
        nodes: ops.iter().map(|s| format!("/{name}/{s}")).collect(),
        start,
        end,
    }
}

fn party(role: Role, byte: u8, moves: usize, honest: bool) -> PartyReport {
    PartyReport {
        role,
        address: Address::repeat_byte(byte),
        moves,
        points: 4 * K as usize,
        false_points: if honest { 0 } else { 11 },
        first_false_round: (!honest).then_some(0),
        first_false_step: (!honest).then_some(LAST_TRUE + 1),
        last_true_step: (!honest).then_some(LAST_TRUE),
        gas_used: 540_000,
        clock_used: if honest { 51 } else { 60 },
        honest,
    }
}

fn eth(milli: u64) -> U256 {
    U256::from(milli) * U256::from(1_000_000_000_000_000u64)
}

/// A lying defender narrowed by an honest challenger from 10,000 steps to one
/// (10,000 → 1,250 → 157 → 20 → 3 → 1) and the step proven on chain.
fn synthetic() -> Replay {
    use Role::{Challenger, Defender};
    let rounds = vec![
        round(0, "dissect", Defender, None, 0, STEPS),
        round(1, "respond", Challenger, Some(5), 6250, 7500),
        round(2, "respond", Defender, Some(3), 6718, 6875),
        round(3, "respond", Challenger, Some(3), 6776, 6796),
        round(4, "respond", Defender, Some(5), 6788, 6791),
        Round {
            points: vec![point(LAST_TRUE, Defender), point(LAST_TRUE + 1, Defender)],
            ..round(5, "step", Challenger, Some(1), LAST_TRUE, LAST_TRUE + 1)
        },
    ];
    let post = honest_hash(LAST_TRUE + 1);
    Replay {
        game_id: 7,
        chain_id: 31_337,
        file_version: 1,
        checks: vec![
            "every move is signed by its party".into(),
            "points hash to the chain's commitments".into(),
            "intervals follow the parts named".into(),
        ],
        model: ModelMap {
            id: B256::repeat_byte(0xab),
            name: "mnist-cnn".into(),
            steps: STEPS,
            layers: vec![
                layer("input", &["Cast"], 0, 400),
                layer("conv1", &["Conv", "Relu"], 400, 3100),
                layer("pool1", &["MaxPool"], 3100, 3600),
                layer("conv2", &["Conv", "Relu"], 3600, 7900),
                layer("flatten", &["Reshape"], 7900, 8100),
                layer("fc", &["Gemm"], 8100, STEPS),
            ],
            // `flatten` is listed twice in the manifest: once as the reshape that runs no step
            manifest_layers: 7,
        },
        honest: HonestRun {
            initial_state: honest_hash(0),
            final_state: honest_hash(STEPS),
            steps: STEPS,
            claim_final_state_true: false,
            claim_steps_true: true,
            claim_output_true: false,
        },
        defender: party(Defender, 0xde, 3, false),
        challenger: party(Challenger, 0xc4, 3, true),
        rounds,
        first_divergence: Some(Divergence {
            party: Defender,
            after: LAST_TRUE,
            at: LAST_TRUE + 1,
            exact: true,
            layer: Some("conv2".into()),
            nodes: vec!["/conv2/Conv".into()],
            token: None,
        }),
        decisive: Some(DecisiveStep {
            step: LAST_TRUE,
            proven_on_chain: true,
            prover: Some(Challenger),
            layer: Some("conv2".into()),
            ops: vec!["Conv".into(), "Relu".into()],
            nodes: vec!["/conv2/Conv".into(), "/conv2/Relu".into()],
            token: None,
            status: "running".into(),
            pc: 1_234,
            instruction: "i32.store".into(),
            immediates: (2, 16),
            operands: vec![42, 8_000],
            results: vec![],
            memory: Some(MemoryAccess {
                kind: "store".into(),
                address: 0x1f50,
                width: 4,
                leaves: vec![250],
                before: "00000000".into(),
                after: "2a000000".into(),
                region: Some("conv2.output[0..512]".into()),
            }),
            pre_state: honest_hash(LAST_TRUE),
            honest_post: post,
            asserted_post: lie_hash(LAST_TRUE + 1),
            chain_post: Some(post),
            proof_bytes: 1_412,
            proof_is_honest: true,
            rust: VerifierRun {
                post: Some(post),
                error: None,
                gas: None,
            },
            evm: VerifierRun {
                post: Some(post),
                error: None,
                gas: Some((212_345, 180_001, 32_344)),
            },
        }),
        output_diff: Some(OutputDiff {
            elements: 10,
            differing: 3,
            max_abs: 0.75,
            tensors: vec![TensorDiff {
                name: "logits".into(),
                shape: vec![1, 10],
                differing: 3,
                max_abs: 0.75,
                listed: [(3, 1.25, 0.5), (7, -2.0, -1.5), (9, 0.125, 0.0)]
                    .into_iter()
                    .map(|(index, claimed, honest)| ElementDiff {
                        index,
                        claimed,
                        honest,
                    })
                    .collect(),
            }],
        }),
        verdict: Verdict {
            contract: "challenger_won".into(),
            by_timeout: false,
            expected_winner: Some(Challenger),
            agrees: true,
            reason: "the one-step proof showed the defender's post-state at step 6790 false".into(),
        },
        money: Money {
            stake: eth(1_000),
            submitter_bond: eth(500),
            challenger_bond: eth(250),
            winner: Some(Address::repeat_byte(0xc4)),
            payout: eth(272),
            burned: eth(250),
            transfers: vec![
                Transfer {
                    event: "GameSettled".into(),
                    to: Some(Address::repeat_byte(0xc4)),
                    party: Some(Challenger),
                    amount: eth(272),
                    what: "the challenger's bond back and the game's stake".into(),
                },
                Transfer {
                    event: "ClaimVoided".into(),
                    to: Some(Address::repeat_byte(0xc4)),
                    party: Some(Challenger),
                    amount: eth(246),
                    what: "the bounty".into(),
                },
                Transfer {
                    event: "ClaimVoided".into(),
                    to: None,
                    party: None,
                    amount: eth(250),
                    what: "the burnt part of the submitter's bond".into(),
                },
            ],
            unrecorded: vec!["the claim's free stake went back to the submitter".into()],
            gas_used: 1_080_000,
        },
    }
}

const SECTIONS: [&str; 9] = [
    "summary",
    "timeline",
    "narrowing",
    "decisive",
    "divergence",
    "outputs",
    "parties",
    "money",
    "checks",
];

#[test]
fn synthetic_game_renders_cleanly_in_chromium() {
    let r = synthetic();
    let page = out("report-synthetic.html");
    let shot = out("report-synthetic.png");
    std::fs::write(&page, opml::report::html(&r)).unwrap();
    let _ = std::fs::remove_file(&shot);
    let seen = check_page(&page, &shot).unwrap();
    assert!(seen.clean(), "{seen:?}");
    assert_eq!(seen.bands, r.rounds.len(), "{seen:?}");
    for id in SECTIONS {
        assert!(
            seen.sections.iter().any(|s| s == id),
            "no section {id}: {seen:?}"
        );
    }
    assert!(seen.title.contains("dispute 7"), "{seen:?}");
    let svg = seen.svg.expect("svg#bands is rendered");
    assert!(svg.width > 600.0 && svg.height > 100.0, "{svg:?}");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 0,
        "empty screenshot"
    );
}

#[test]
fn check_fails_on_a_console_error_and_on_an_exception() {
    for (name, script) in [
        ("report-console-error", "console.error(\"boom\")"),
        ("report-exception", "throw new Error(\"boom\")"),
    ] {
        let page = out(&format!("{name}.html"));
        let html = format!("<!doctype html><title>{name}</title><script>{script}</script>");
        std::fs::write(&page, html).unwrap();
        let seen = check_page(&page, &out(&format!("{name}.png"))).unwrap();
        assert!(!seen.clean(), "{name} passed as clean: {seen:?}");
        assert_eq!(seen.title, name);
    }
}

#[test]
fn replay_text_is_escaped() {
    let mut r = synthetic();
    r.model.name = "<script>alert(1)</script>".into();
    r.model.layers[0].name = "a<b>\"c\"".into();
    r.verdict.reason = "x' onload='alert(2)".into();
    r.checks.push("<img src=x onerror=alert(3)>".into());
    let html = opml::report::html(&r);
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script"), "a script tag got through");
    assert!(!html.contains("<img"), "an img tag got through");
    assert!(html.contains("a&lt;b&gt;&quot;c&quot;"));
    assert!(html.contains("x&#39; onload=&#39;alert(2)"));
    // Exactly one band per move, and nothing else is a band.
    assert_eq!(html.matches("class=\"band\"").count(), r.rounds.len());
}

#[test]
fn a_game_ended_on_a_clock_says_why_there_is_no_decisive_step() {
    let mut r = synthetic();
    r.rounds.truncate(3);
    r.decisive = None;
    r.first_divergence = None;
    r.output_diff = None;
    r.verdict.by_timeout = true;
    let html = opml::report::html(&r);
    assert!(
        html.contains(
            "the game ended on a clock with the interval at [6718, 6875] (157 steps) after round 2"
        ),
        "{html}"
    );
    assert_eq!(html.matches("class=\"band\"").count(), 3);
    for id in SECTIONS {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "no section {id}"
        );
    }
    // No moves at all still renders every section.
    r.rounds.clear();
    let html = opml::report::html(&r);
    assert!(html.contains("the game has no moves"));
    assert!(html.contains("<svg id=\"bands\""));
}

/// The money section lists every amount of the outcome with its event (the
/// voided bond's burn included) and the totals per account; the summary says
/// which layers it counts, so the count is not mistaken for `opml inspect`'s.
#[test]
fn money_lists_every_transfer_and_the_summary_says_what_layers_count() {
    let r = synthetic();
    let html = opml::report::html(&r);
    let money = &html[html.find("<section id=\"money\">").unwrap()..];
    let money = &money[..money.find("</section>").unwrap()];
    for want in [
        "<code>ClaimVoided</code>",
        "the burnt part of the submitter&#39;s bond",
        ">0.25 ETH<",
        "the bounty",
        ">0.246 ETH<",
        "<code>GameSettled</code>",
        // 0.272 + 0.246 to the challenger, in all
        ">0.518 ETH<",
        "Not shown: the claim&#39;s free stake went back to the submitter",
    ] {
        assert!(money.contains(want), "no {want:?} in {money}");
    }
    let burnt = &money[money.find("burnt in all").unwrap()..];
    assert!(burnt[..200].contains(">0.25 ETH<"), "{burnt}");
    assert!(
        html.contains("10000 in 7 layers (6 with steps, 1 reshape that only renames memory)"),
        "{html}"
    );
}
