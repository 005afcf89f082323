//! The HTML report of a replayed dispute ([`Replay`]): one self-contained page
//! (inline style, no script, nothing fetched) for researchers, in sections:
//!
//! - `summary`: the game, the model, the honest run and the verdict;
//! - `timeline`: every move (kind, mover, block, time, tx, gas, the part it
//!   named, the interval in dispute after it, its points, the clocks);
//! - `narrowing`: an SVG (`svg#bands`) of the interval narrowing over the
//!   model's layer map, one band (`g.band`) per move, each with a zoom of the
//!   parent interval so the late, tiny intervals stay readable, and markers at
//!   the first divergence and the decisive step;
//! - `decisive`: the step the game narrowed to, decoded (instruction, operands,
//!   memory access, states) and its proof re-verified in Rust and in the EVM;
//! - `divergence` and `outputs`: where the trace left the honest one and how
//!   the claimed output differs;
//! - `parties`, `money`, `checks`: each party's moves and honesty, bonds and
//!   payouts, and the game file's own checks.

use crate::replay::{
    DecisiveStep, LayerSpan, MemoryAccess, OutputDiff, PartyReport, Point, Replay, Role, Round,
    TensorDiff, VerifierRun,
};
use alloy::primitives::{B256, U256};
use std::fmt::Display;

/// The report page of `r`.
pub fn html(r: &Replay) -> String {
    let title = format!(
        "opML dispute {} · chain {} · {}",
        r.game_id, r.chain_id, r.model.name
    );
    let body = [
        summary(r),
        timeline(r),
        narrowing(r),
        decisive(r),
        divergence(r),
        outputs(r),
        parties(r),
        money(r),
        checks(r),
    ]
    .concat();
    // The empty data: icon keeps the browser from asking for /favicon.ico.
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\"><title>{}</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>\n",
        esc(&title)
    )
}

const STYLE: &str = r#"
:root { --ok: #1a7f37; --bad: #c62828; --muted: #5f6b7a; --line: #dde2e8; --def: #1f5fbf; --chal: #a84f00; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #1d2329;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 16px 48px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 0 0 16px; }
h1 { font-size: 22px; margin: 0 0 2px; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
p { margin: 6px 0 10px; }
code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { background: #eef1f4; font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
#outputs table { width: auto; min-width: 480px; }
.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv th { width: 210px; color: var(--muted); font-weight: 500; }
.scroll { overflow-x: auto; }
.muted, .sub { color: var(--muted); }
.ok { color: var(--ok); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
.role-defender { color: var(--def); font-weight: 600; }
.role-challenger { color: var(--chal); font-weight: 600; }
.verdict { border-left: 4px solid var(--ok); background: #f0f8f2; padding: 8px 14px; margin: 12px 0; border-radius: 4px; }
.verdict.disagree { border-color: var(--bad); background: #fcf0f0; }
.verdict .big { font-size: 18px; font-weight: 600; }
mark { background: #ffe08a; border-radius: 2px; }
ul.checks { margin: 0; padding-left: 20px; }
ul.checks li::marker { content: "✓  "; color: var(--ok); }
svg#bands { display: block; width: 100%; height: auto; }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: #1d2329; }
svg .small { font-size: 10px; fill: var(--muted); }
svg .track { fill: #eef1f4; }
svg .l0 { fill: #cfe0f3; } svg .l1 { fill: #fbe3c6; }
svg .faint .l0, svg .faint .l1 { opacity: .55; }
svg .iv { fill: rgba(69, 117, 180, .35); stroke: #2f5d9b; stroke-width: 1; }
svg .pt { stroke-width: 1.6; } svg .pt.t { stroke: #1a9850; } svg .pt.f { stroke: #d73027; stroke-width: 2; }
svg .mk-div { stroke: #f28e2b; stroke-width: 2; stroke-dasharray: 4 2; }
svg .mk-dec { stroke: #7b3294; stroke-width: 2; }
svg .axis line { stroke: #9aa4b0; }
svg .band:hover .track { fill: #e2e7ee; }
svg tspan.false { fill: var(--bad); font-weight: 600; }
svg tspan.role-defender { fill: var(--def); } svg tspan.role-challenger { fill: var(--chal); }
"#;

// ---- text and HTML helpers -------------------------------------------------

/// `s` as HTML text or attribute value.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn section(id: &str, heading: &str, body: &str) -> String {
    format!("<section id=\"{id}\">{heading}{body}</section>")
}

fn h2(title: &str) -> String {
    format!("<h2>{}</h2>", esc(title))
}

fn p(html: &str) -> String {
    format!("<p>{html}</p>")
}

/// A two-column table of names and (HTML) values.
fn kv(rows: &[(&str, String)]) -> String {
    let rows: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{v}</td></tr>", esc(k)))
        .collect();
    format!("<table class=\"kv\"><tbody>{rows}</tbody></table>")
}

/// A table with a header; a column named with a leading `#` is numeric
/// (right-aligned, the `#` not shown). Cells are HTML.
fn table(cols: &[&str], rows: &[Vec<String>]) -> String {
    let class = |c: &str| {
        if c.starts_with('#') {
            " class=\"n\""
        } else {
            ""
        }
    };
    let head: String = cols
        .iter()
        .map(|c| format!("<th{}>{}</th>", class(c), esc(c.trim_start_matches('#'))))
        .collect();
    let body: String = rows
        .iter()
        .map(|row| {
            let cells: String = row
                .iter()
                .zip(cols)
                .map(|(cell, c)| format!("<td{}>{cell}</td>", class(c)))
                .collect();
            format!("<tr>{cells}</tr>")
        })
        .collect();
    format!(
        "<div class=\"scroll\"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )
}

fn code(s: impl Display) -> String {
    format!("<code>{}</code>", esc(&s.to_string()))
}

/// A hash as `0x1234…abcd`, in full on hover.
fn short_hash(h: &B256) -> String {
    let s = h.to_string();
    format!(
        "<code title=\"{s}\">{}…{}</code>",
        &s[..6],
        &s[s.len() - 4..]
    )
}

fn mark(ok: bool, text: &str) -> String {
    let class = if ok { "ok" } else { "bad" };
    format!("<span class=\"{class}\">{}</span>", esc(text))
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn role(r: Role) -> String {
    format!("<span class=\"role-{0}\">{0}</span>", r.name())
}

fn or_dash<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map_or_else(|| "<span class=\"muted\">—</span>".into(), f)
}

fn list<T: Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "<span class=\"muted\">none</span>".into();
    }
    items.iter().map(code).collect::<Vec<_>>().join(", ")
}

fn steps(n: u64) -> String {
    if n == 1 {
        "1 step".into()
    } else {
        format!("{n} steps")
    }
}

/// `[lo, hi] (n steps)`.
fn interval(lo: u64, hi: u64) -> String {
    format!("[{lo}, {hi}] ({})", steps(hi.saturating_sub(lo)))
}

/// Wei as ETH (trailing zeros dropped), the wei on hover.
fn eth(wei: U256) -> String {
    let digits = format!("{:0>19}", wei.to_string());
    let (int, frac) = digits.split_at(digits.len() - 18);
    let frac = frac.trim_end_matches('0');
    let value = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    format!("<span title=\"{wei} wei\">{value} ETH</span>")
}

/// Seconds as `1d 02h 03m`, `1h 02m 03s`, `2m 03s` or `45s`, the seconds on hover.
fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let text = match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s:02}s"),
        (0, _, _) => format!("{h}h {m:02}m {s:02}s"),
        _ => format!("{d}d {h:02}h {m:02}m"),
    };
    format!("<span title=\"{secs} s\">{text}</span>")
}

/// A Unix time as `YYYY-MM-DD hh:mm:ss` (UTC).
pub fn utc(ts: u64) -> String {
    i64::try_from(ts)
        .ok()
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or_else(
            || format!("{ts} s"),
            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
}

/// A float with at most 6 decimals (scientific when tiny or huge), exact on hover.
fn float(x: f64) -> String {
    let a = x.abs();
    let text = if a == 0.0 || (1e-3..1e6).contains(&a) {
        let s = format!("{x:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.4e}")
    };
    format!("<span title=\"{x}\">{text}</span>")
}

/// A hash, marked against the one it should equal.
fn hash_vs(h: &B256, honest: &B256) -> String {
    let verdict = if h == honest {
        mark(true, "honest")
    } else {
        mark(false, "not the honest state")
    };
    format!("{} {verdict}", code(h))
}

// ---- sections ---------------------------------------------------------------

fn summary(r: &Replay) -> String {
    let v = &r.verdict;
    let heading = format!(
        "<h1>Dispute game {}</h1><div class=\"sub\">chain {} · game file version {} · {} · {}</div>",
        r.game_id,
        r.chain_id,
        r.file_version,
        esc(&r.model.name),
        steps(r.model.steps)
    );
    let expected = or_dash(v.expected_winner, role);
    let verdict = format!(
        "<div class=\"verdict{}\"><div class=\"big\">{}{}</div>\
         <div>expected winner (who played the honest trace): {expected} · {}</div><div>{}</div></div>",
        if v.agrees { "" } else { " disagree" },
        esc(&v.contract.replace('_', " ")),
        if v.by_timeout { " · by timeout" } else { "" },
        if v.agrees {
            mark(true, "the contract agrees")
        } else {
            mark(false, "the contract disagrees")
        },
        esc(&v.reason)
    );
    let h = &r.honest;
    let claim = |ok: bool| mark(ok, yes_no(ok));
    let rows = [
        ("model", esc(&r.model.name)),
        ("model id", code(r.model.id)),
        (
            "steps",
            format!("{} in {}", r.model.steps, esc(&r.model.layers_text())),
        ),
        ("by timeout", yes_no(v.by_timeout).into()),
        ("honest initial state", code(h.initial_state)),
        ("honest final state", code(h.final_state)),
        ("honest steps", h.steps.to_string()),
        (
            "claimed final state is honest",
            claim(h.claim_final_state_true),
        ),
        ("claimed step count is honest", claim(h.claim_steps_true)),
        ("claimed output is honest", claim(h.claim_output_true)),
    ];
    section("summary", &heading, &(verdict + &kv(&rows)))
}

fn timeline(r: &Replay) -> String {
    let cols = [
        "#round",
        "kind",
        "mover",
        "#block",
        "time (UTC)",
        "tx",
        "#gas",
        "#part",
        "#interval",
        "#length",
        "#points",
        "#false",
        "#clocks left (def / chal)",
    ];
    let rows: Vec<Vec<String>> = r.rounds.iter().map(timeline_row).collect();
    let body = if rows.is_empty() {
        p("No moves: the game was never played.")
    } else {
        table(&cols, &rows)
    };
    section("timeline", &h2("Timeline of moves"), &body)
}

fn timeline_row(m: &Round) -> Vec<String> {
    let false_steps: Vec<String> = false_points(&m.points)
        .map(|p| p.step.to_string())
        .collect();
    let false_cell = if false_steps.is_empty() {
        "0".into()
    } else {
        format!(
            "<span class=\"bad\" title=\"false at {}\">{}</span>",
            false_steps.join(", "),
            false_steps.len()
        )
    };
    vec![
        m.index.to_string(),
        esc(&m.kind),
        role(m.mover),
        m.block.to_string(),
        format!(
            "<span title=\"unix {}\">{}</span>",
            m.timestamp,
            utc(m.timestamp)
        ),
        short_hash(&m.tx),
        m.gas_used.to_string(),
        or_dash(m.part, |p| p.to_string()),
        format!("[{}, {}]", m.lo, m.hi),
        (m.hi.saturating_sub(m.lo)).to_string(),
        m.points.len().to_string(),
        false_cell,
        format!(
            "{} / {}",
            duration(m.clocks_left.0),
            duration(m.clocks_left.1)
        ),
    ]
}

fn false_points(points: &[Point]) -> impl Iterator<Item = &Point> {
    points.iter().filter(|p| !p.true_state)
}

fn narrowing(r: &Replay) -> String {
    let intro = p(
        "One band per move. Left: the interval in dispute after the move, over the whole run and \
         the model's layer map, with the move's points (green: the honest state, red: not). \
         Right: the parent interval (the one the move narrowed) zoomed to the full width, with \
         its points above, the part chosen highlighted and the move's own points below. \
         Hover a layer, a point or a marker for details.",
    );
    section(
        "narrowing",
        &h2("Narrowing of the interval"),
        &(intro + &figure::svg(r)),
    )
}

fn decisive(r: &Replay) -> String {
    let body = match &r.decisive {
        Some(d) => decisive_step(d),
        None => p(&esc(&no_decisive_reason(r))),
    };
    section("decisive", &h2("The decisive step"), &body)
}

fn no_decisive_reason(r: &Replay) -> String {
    match r.rounds.last() {
        None => "No decisive step: the game has no moves.".into(),
        Some(last) => format!(
            "No decisive step: no one-step proof was sent and the game ended {} with the interval \
             at {} after round {} ({} by {}).",
            if r.verdict.by_timeout {
                "on a clock"
            } else {
                "before one step"
            },
            interval(last.lo, last.hi),
            last.index,
            last.kind,
            last.mover.name()
        ),
    }
}

fn decisive_step(d: &DecisiveStep) -> String {
    let proven = if d.proven_on_chain {
        format!("yes, by {}", or_dash(d.prover, role))
    } else {
        "no: the clocks ended the game with the interval at this step; the honest proof is verified here"
            .into()
    };
    let mut rows = vec![
        ("step", format!("{} → {}", d.step, d.step + 1)),
        ("proven on chain", proven),
        ("layer", or_dash(d.layer.as_deref(), esc)),
        (
            "generated token",
            or_dash(d.token, |t: usize| format!("{t} (counting from 0)")),
        ),
        ("ops", list(&d.ops)),
        ("nodes", list(&d.nodes)),
        ("status before", esc(&d.status)),
        ("pc", d.pc.to_string()),
        (
            "instruction",
            format!(
                "{} <span class=\"muted\">immediates</span> {}, {}",
                code(&d.instruction),
                d.immediates.0,
                d.immediates.1
            ),
        ),
        ("operands (top first)", list(&d.operands)),
        ("results", list(&d.results)),
    ];
    rows.extend(memory_rows(d.memory.as_ref()));
    rows.extend([
        ("pre-state (agreed)", code(d.pre_state)),
        ("honest post-state", code(d.honest_post)),
        (
            "asserted post-state",
            hash_vs(&d.asserted_post, &d.honest_post),
        ),
        (
            "post-state on chain",
            or_dash(d.chain_post.as_ref(), |h| hash_vs(h, &d.honest_post)),
        ),
        ("proof", format!("{} bytes", d.proof_bytes)),
        (
            "proof is the honest one",
            mark(d.proof_is_honest, yes_no(d.proof_is_honest)),
        ),
        ("Rust verifier", verifier(&d.rust, &d.honest_post)),
        ("EVM verifier (revm)", verifier(&d.evm, &d.honest_post)),
    ]);
    kv(&rows)
}

fn memory_rows(m: Option<&MemoryAccess>) -> Vec<(&'static str, String)> {
    let Some(m) = m else {
        return vec![("memory", "<span class=\"muted\">no access</span>".into())];
    };
    let (before, after) = hex_diff(&m.before, &m.after);
    vec![
        (
            "memory access",
            format!(
                "{} of {} bytes at {} · leaves {} · region {}",
                esc(&m.kind),
                m.width,
                code(format!("{:#x}", m.address)),
                list(&m.leaves),
                or_dash(m.region.as_deref(), code)
            ),
        ),
        ("bytes before", before),
        ("bytes after", after),
    ]
}

/// Two hex strings with the bytes that differ marked.
fn hex_diff(before: &str, after: &str) -> (String, String) {
    let bytes = |s: &str| -> Vec<String> {
        s.trim_start_matches("0x")
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect()
    };
    let (b, a) = (bytes(before), bytes(after));
    let render = |this: &[String], other: &[String]| -> String {
        let inner: String = this
            .iter()
            .enumerate()
            .map(|(i, byte)| {
                if other.get(i) == Some(byte) {
                    esc(byte)
                } else {
                    format!("<mark>{}</mark>", esc(byte))
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        format!("<code>{inner}</code>")
    };
    (render(&b, &a), render(&a, &b))
}

fn verifier(v: &VerifierRun, honest: &B256) -> String {
    let mut parts = Vec::new();
    if let Some(post) = &v.post {
        parts.push(format!("post {}", hash_vs(post, honest)));
    }
    if let Some(e) = &v.error {
        parts.push(format!("{} {}", mark(false, "error:"), esc(e)));
    }
    if let Some((total, execution, calldata)) = v.gas {
        parts.push(format!(
            "gas {total} <span class=\"muted\">(execution {execution}, calldata {calldata})</span>"
        ));
    }
    if parts.is_empty() {
        "<span class=\"muted\">not run</span>".into()
    } else {
        parts.join("<br>")
    }
}

fn divergence(r: &Replay) -> String {
    let body = match &r.first_divergence {
        None => p("No divergence: every state posted is the honest one."),
        Some(d) => {
            let exact = if d.exact {
                format!(
                    "yes: step {} → {} is the first divergent step",
                    d.after, d.at
                )
            } else {
                format!(
                    "no: the first divergent step lies in ({}, {}]",
                    d.after, d.at
                )
            };
            kv(&[
                ("party", role(d.party)),
                ("honest up to step", d.after.to_string()),
                ("first false state at step", d.at.to_string()),
                ("exact", exact),
                ("layer", or_dash(d.layer.as_deref(), esc)),
                ("nodes", list(&d.nodes)),
            ])
        }
    };
    section("divergence", &h2("First divergence"), &body)
}

fn outputs(r: &Replay) -> String {
    let body = match &r.output_diff {
        Some(o) => output_diff(o),
        None if r.honest.claim_output_true => p("The claimed output is the honest one."),
        None => p(
            "The claimed output is not the honest one, but could not be compared element by element.",
        ),
    };
    section(
        "outputs",
        &h2("Output diff (claimed against honest)"),
        &body,
    )
}

fn output_diff(o: &OutputDiff) -> String {
    let head = p(&format!(
        "{} of {} output elements differ; largest |claimed − honest| {}.",
        o.differing,
        o.elements,
        float(o.max_abs)
    ));
    head + &o.tensors.iter().map(tensor_diff).collect::<String>()
}

fn tensor_diff(t: &TensorDiff) -> String {
    let elements: usize = t.shape.iter().product();
    let shape: Vec<String> = t.shape.iter().map(usize::to_string).collect();
    let head = format!(
        "<h3>{} <span class=\"muted\">[{}]</span></h3>{}",
        esc(&t.name),
        shape.join(" × "),
        p(&format!(
            "{} of {elements} elements differ; largest |claimed − honest| {}{}.",
            t.differing,
            float(t.max_abs),
            if t.listed.len() < t.differing {
                format!("; the first {} are listed", t.listed.len())
            } else {
                String::new()
            }
        ))
    );
    if t.listed.is_empty() {
        return head;
    }
    let rows: Vec<Vec<String>> = t
        .listed
        .iter()
        .map(|e| {
            vec![
                e.index.to_string(),
                float(e.claimed),
                float(e.honest),
                float(e.claimed - e.honest),
            ]
        })
        .collect();
    head + &table(
        &["#index", "#claimed", "#honest", "#claimed − honest"],
        &rows,
    )
}

fn parties(r: &Replay) -> String {
    type Field = (&'static str, fn(&PartyReport) -> String);
    let fields: [Field; 10] = [
        ("address", |p| code(p.address)),
        ("moves", |p| p.moves.to_string()),
        ("points posted", |p| p.points.to_string()),
        ("false points", |p| {
            if p.false_points == 0 {
                "0".into()
            } else {
                mark(false, &p.false_points.to_string())
            }
        }),
        ("first false round", |p| {
            or_dash(p.first_false_round, |v| v.to_string())
        }),
        ("first false step", |p| {
            or_dash(p.first_false_step, |v| v.to_string())
        }),
        ("last true step", |p| {
            or_dash(p.last_true_step, |v| v.to_string())
        }),
        ("gas", |p| p.gas_used.to_string()),
        ("clock used", |p| duration(p.clock_used)),
        ("honest", |p| mark(p.honest, yes_no(p.honest))),
    ];
    let rows: Vec<Vec<String>> = fields
        .iter()
        .map(|(name, f)| vec![esc(name), f(&r.defender), f(&r.challenger)])
        .collect();
    section(
        "parties",
        &h2("Parties"),
        &table(&["", "defender (submitter)", "challenger"], &rows),
    )
}

fn money(r: &Replay) -> String {
    let m = &r.money;
    let account = |a: alloy::primitives::Address, p: Option<Role>| {
        code(a) + &p.map_or(String::new(), |p| format!(" ({})", role(p)))
    };
    let rows = [
        ("stake", eth(m.stake)),
        ("submitter bond", eth(m.submitter_bond)),
        ("challenger bond", eth(m.challenger_bond)),
        ("burnt in all", eth(m.burned)),
        ("gas of all moves", m.gas_used.to_string()),
    ];
    let mut rows: Vec<(&str, String)> = rows.into();
    let credited: Vec<(String, String)> = m
        .credited()
        .into_iter()
        .map(|(a, p)| (account(a, p), eth(m.credited_to(a))))
        .collect();
    let credited_rows: Vec<(&str, String)> = credited
        .iter()
        .map(|(who, amount)| ("credited in all", format!("{amount} to {who}")))
        .collect();
    rows.splice(3..3, credited_rows);
    let transfers: Vec<Vec<String>> = m
        .transfers
        .iter()
        .map(|t| {
            vec![
                code(&t.event),
                t.to.map_or_else(|| mark(false, "burnt"), |a| account(a, t.party)),
                eth(t.amount),
                esc(&t.what),
            ]
        })
        .collect();
    let mut body = kv(&rows);
    body += "<h3>Transfers of the outcome (from the market's events)</h3>";
    body += &if transfers.is_empty() {
        p("<span class=\"muted\">None: the game has no settlement on record.</span>")
    } else {
        table(&["event", "to", "#amount", "what"], &transfers)
    };
    for u in &m.unrecorded {
        body += &p(&format!(
            "<span class=\"muted\">Not shown: {}</span>",
            esc(u)
        ));
    }
    section("money", &h2("Money"), &body)
}

fn checks(r: &Replay) -> String {
    let body = if r.checks.is_empty() {
        p("No checks recorded.")
    } else {
        let items: String = r
            .checks
            .iter()
            .map(|c| format!("<li>{}</li>", esc(c)))
            .collect();
        p("The game file's own checks, all passed (a failing file is refused):")
            + &format!("<ul class=\"checks\">{items}</ul>")
    };
    section("checks", &h2("Checks"), &body)
}

/// The SVG of the narrowing: a layer map on top, then one band per move.
mod figure {
    use super::{LayerSpan, Point, Replay, Round, esc, steps};
    use std::fmt::Write as _;

    /// The SVG's user units (it scales to the page's width).
    const WIDTH: f64 = 1160.0;
    /// The x range of the whole run (layer map and each band's left track).
    const MAIN: (f64, f64) = (8.0, 700.0);
    /// The x range of each band's zoom.
    const ZOOM: (f64, f64) = (736.0, 1150.0);
    const AXIS_Y: f64 = 38.0;
    const MAP_Y: f64 = 46.0;
    const MAP_H: f64 = 28.0;
    const BANDS_Y: f64 = 90.0;
    const BAND_H: f64 = 60.0;
    /// Track within a band.
    const TRACK_Y: f64 = 20.0;
    const TRACK_H: f64 = 20.0;
    /// The narrowest interval drawn, so a one-step interval over a long run stays visible.
    const MIN_W: f64 = 3.0;
    /// Rough width of a character of the 11 px font, to place labels only where they fit.
    const CHAR_W: f64 = 6.0;
    /// The same for the 10 px captions.
    const SMALL_W: f64 = 5.6;

    /// Steps `lo..=hi` onto `x0..=x1`.
    #[derive(Clone, Copy)]
    struct Scale {
        lo: u64,
        hi: u64,
        x0: f64,
        x1: f64,
    }

    impl Scale {
        fn x(&self, step: u64) -> f64 {
            let span = self.hi.saturating_sub(self.lo).max(1) as f64;
            let t = step.clamp(self.lo, self.hi) - self.lo;
            self.x0 + t as f64 / span * (self.x1 - self.x0)
        }

        fn contains(&self, step: u64) -> bool {
            (self.lo..=self.hi).contains(&step)
        }
    }

    /// A vertical line at a step (the first divergence, the decisive step).
    struct Marker {
        step: u64,
        class: &'static str,
        label: String,
    }

    pub(super) fn svg(r: &Replay) -> String {
        let domain = r
            .rounds
            .iter()
            .map(|m| m.hi)
            .chain([r.model.steps, r.honest.steps])
            .max()
            .unwrap_or(0)
            .max(1);
        let main = Scale {
            lo: 0,
            hi: domain,
            x0: MAIN.0,
            x1: MAIN.1,
        };
        let markers = markers(r);
        let height = BANDS_Y + BAND_H * r.rounds.len() as f64 + 4.0;
        let mut s = format!(
            "<svg id=\"bands\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" \
             width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"interval narrowing per round\">"
        );
        s += &legend(&markers);
        s += &axis(&main, AXIS_Y);
        s += &format!(
            "<text class=\"small\" x=\"{}\" y=\"{AXIS_Y}\">zoom of the parent interval</text>",
            ZOOM.0
        );
        s += &layer_strip(&main, &r.model.layers, MAP_Y, MAP_H, "map", true);
        s += &marker_lines(&main, &markers, MAP_Y - 2.0, MAP_Y + MAP_H + 2.0);
        for (i, m) in r.rounds.iter().enumerate() {
            let parent = i.checked_sub(1).map(|j| &r.rounds[j]);
            let y = BANDS_Y + BAND_H * i as f64;
            s += &band(i, m, parent, &main, &r.model.layers, &markers, y);
        }
        s + "</svg>"
    }

    fn markers(r: &Replay) -> Vec<Marker> {
        let divergence = r.first_divergence.as_ref().map(|d| Marker {
            step: d.at,
            class: "mk-div",
            label: format!(
                "first divergence: {} false at step {}",
                d.party.name(),
                d.at
            ),
        });
        let decisive = r.decisive.as_ref().map(|d| Marker {
            step: d.step,
            class: "mk-dec",
            label: format!("decisive step {} → {}", d.step, d.step + 1),
        });
        divergence.into_iter().chain(decisive).collect()
    }

    fn legend(markers: &[Marker]) -> String {
        let mut items = vec![
            (
                "<line class=\"pt t\" x1=\"5\" y1=\"-9\" x2=\"5\" y2=\"3\"/>".to_string(),
                "honest state".to_string(),
            ),
            (
                "<line class=\"pt f\" x1=\"5\" y1=\"-9\" x2=\"5\" y2=\"3\"/>".into(),
                "false state".into(),
            ),
            (
                "<rect class=\"iv\" x=\"0\" y=\"-8\" width=\"12\" height=\"10\"/>".into(),
                "interval in dispute".into(),
            ),
        ];
        items.extend(markers.iter().map(|m| {
            (
                format!(
                    "<line class=\"{}\" x1=\"5\" y1=\"-10\" x2=\"5\" y2=\"4\"/>",
                    m.class
                ),
                m.label.clone(),
            )
        }));
        let mut x = MAIN.0;
        let mut s = String::from("<g class=\"legend\">");
        for (swatch, text) in items {
            let _ = write!(
                s,
                "<g transform=\"translate({x} 14)\">{swatch}<text x=\"17\" y=\"0\">{}</text></g>",
                esc(&text)
            );
            x += 17.0 + text.chars().count() as f64 * CHAR_W + 14.0;
        }
        s + "</g>"
    }

    /// Ticks every 1, 2 or 5 × 10ⁿ steps (about 8 of them) above the layer map.
    fn axis(s: &Scale, y: f64) -> String {
        let span = s.hi - s.lo;
        let raw = span.div_ceil(8).max(1);
        let mag = 10u64.pow(raw.ilog10());
        let step = [1u64, 2, 5, 10]
            .iter()
            .map(|m| m.saturating_mul(mag))
            .find(|v| *v >= raw)
            .unwrap_or(raw);
        let mut out = String::from("<g class=\"axis\">");
        let mut tick = |v: u64, anchor: &str| {
            let x = s.x(v);
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\"/>\
                 <text class=\"small\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}<title>{v}</title></text>",
                y + 3.0,
                y + 7.0,
                y,
                compact(v, s.hi)
            );
        };
        for v in (s.lo..s.hi).step_by(step as usize) {
            tick(v, if v == s.lo { "start" } else { "middle" });
        }
        // The end of the run, unless the last tick is close enough for their
        // labels (one centred, one ending there) to touch.
        let last = s.lo + (span - 1) / step * step;
        if s.hi - last > step * 9 / 10 {
            tick(s.hi, "end");
        }
        out + "</g>"
    }

    /// The layers over `s`'s range, clipped to it, alternating colours, each
    /// named on hover (and labelled when `labels` and it is wide enough).
    fn layer_strip(
        s: &Scale,
        layers: &[LayerSpan],
        y: f64,
        h: f64,
        class: &str,
        labels: bool,
    ) -> String {
        let mut out = format!("<g class=\"{class}\">");
        for (i, l) in layers.iter().enumerate() {
            let (lo, hi) = (l.start.max(s.lo), l.end.min(s.hi));
            if lo >= hi {
                continue;
            }
            let (x0, x1) = (s.x(lo), s.x(hi));
            let title = format!(
                "{} · steps [{}, {})\nops: {}\nnodes: {}",
                l.name,
                l.start,
                l.end,
                l.ops.join(", "),
                l.nodes.join(", ")
            );
            let _ = write!(
                out,
                "<rect class=\"l{}\" x=\"{x0:.2}\" y=\"{y}\" width=\"{:.2}\" height=\"{h}\"><title>{}</title></rect>",
                i % 2,
                (x1 - x0).max(0.5),
                esc(&title)
            );
            if labels && (x1 - x0) > l.name.chars().count() as f64 * CHAR_W + 8.0 {
                let _ = write!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" pointer-events=\"none\">{}</text>",
                    (x0 + x1) / 2.0,
                    y + h / 2.0 + 4.0,
                    esc(&l.name)
                );
            }
        }
        out + "</g>"
    }

    /// `[lo, hi]` as a rect at least [`MIN_W`] wide (widened about its centre).
    fn span_rect(s: &Scale, lo: u64, hi: u64, y: f64, h: f64, title: &str) -> String {
        let (x0, x1) = (s.x(lo), s.x(hi));
        let w = (x1 - x0).max(MIN_W);
        let x = ((x0 + x1) / 2.0 - w / 2.0).max(s.x0 - MIN_W / 2.0);
        format!(
            "<rect class=\"iv\" x=\"{x:.2}\" y=\"{y}\" width=\"{w:.2}\" height=\"{h}\"><title>{}</title></rect>",
            esc(title)
        )
    }

    /// A tick per point from `y0` to `y1`, false ones drawn last so they stay on top.
    fn ticks(s: &Scale, points: &[Point], y0: f64, y1: f64) -> String {
        let (honest, false_): (Vec<&Point>, Vec<&Point>) =
            points.iter().partition(|p| p.true_state);
        let mut out = String::new();
        for p in honest.into_iter().chain(false_) {
            let x = s.x(p.step);
            let title = if p.true_state {
                format!(
                    "step {} · by {} · honest state {}",
                    p.step,
                    p.by.name(),
                    p.hash
                )
            } else {
                format!(
                    "step {} · by {} · FALSE: posted {}, honest {}",
                    p.step,
                    p.by.name(),
                    p.hash,
                    p.honest
                )
            };
            let _ = write!(
                out,
                "<line class=\"pt {}\" x1=\"{x:.2}\" y1=\"{y0}\" x2=\"{x:.2}\" y2=\"{y1}\"><title>{}</title></line>",
                if p.true_state { "t" } else { "f" },
                esc(&title)
            );
        }
        out
    }

    fn marker_lines(s: &Scale, markers: &[Marker], y0: f64, y1: f64) -> String {
        let mut out = String::new();
        for m in markers.iter().filter(|m| s.contains(m.step)) {
            let x = s.x(m.step);
            let _ = write!(
                out,
                "<line class=\"{}\" x1=\"{x:.2}\" y1=\"{y0}\" x2=\"{x:.2}\" y2=\"{y1}\"><title>{}</title></line>",
                m.class,
                esc(&m.label)
            );
        }
        out
    }

    fn track(x0: f64, x1: f64) -> String {
        format!(
            "<rect class=\"track\" x=\"{x0}\" y=\"{TRACK_Y}\" width=\"{}\" height=\"{TRACK_H}\" rx=\"2\"/>",
            x1 - x0
        )
    }

    /// One move: its interval over the whole run on the left, its parent zoomed on the right.
    fn band(
        i: usize,
        m: &Round,
        parent: Option<&Round>,
        main: &Scale,
        layers: &[LayerSpan],
        markers: &[Marker],
        y: f64,
    ) -> String {
        // Ticks reach past the track, markers (drawn first, under them) further.
        let (top, bottom) = (TRACK_Y - 3.0, TRACK_Y + TRACK_H + 3.0);
        let iv_title = format!("round {}: {}", m.index, super::interval(m.lo, m.hi));
        let mut s = format!("<g class=\"band\" data-round=\"{i}\" transform=\"translate(0 {y})\">");
        s += &format!("<text x=\"{}\" y=\"13\">{}</text>", MAIN.0, label(m));
        s += &track(MAIN.0, MAIN.1);
        s += &marker_lines(main, markers, top - 3.0, bottom + 3.0);
        s += &span_rect(main, m.lo, m.hi, TRACK_Y, TRACK_H, &iv_title);
        s += &ticks(main, &m.points, top, bottom);

        // The zoom: the parent's range (or the move's own for the first).
        let (lo, hi) = parent.map_or((m.lo, m.hi), |p| (p.lo.min(m.lo), p.hi.max(m.hi)));
        let zoom = Scale {
            lo,
            hi,
            x0: ZOOM.0,
            x1: ZOOM.1,
        };
        s += &caption(
            ZOOM.0,
            13.0,
            "start",
            &zoom_caption(m, parent),
            ZOOM.1 - ZOOM.0,
        );
        s += &track(ZOOM.0, ZOOM.1);
        s += &layer_strip(&zoom, layers, TRACK_Y, TRACK_H, "faint", false);
        s += &marker_lines(&zoom, markers, top - 3.0, bottom + 3.0);
        s += &span_rect(&zoom, m.lo, m.hi, TRACK_Y, TRACK_H, &iv_title);
        match parent {
            Some(p) => {
                // Parent's points on the upper part, the move's own on the lower, as they
                // share the chosen part's ends (and may disagree there).
                let split = TRACK_Y + TRACK_H * 0.6;
                s += &ticks(&zoom, &p.points, top, split);
                s += &ticks(&zoom, &m.points, split, bottom);
            }
            None => s += &ticks(&zoom, &m.points, top, bottom),
        }
        // Under the zoom: its ends, and between them the layers it spans.
        let below = TRACK_Y + TRACK_H + 13.0;
        let (lo_s, hi_s) = (lo.to_string(), hi.to_string());
        s += &caption(ZOOM.0, below, "start", &lo_s, f64::INFINITY);
        s += &caption(ZOOM.1, below, "end", &hi_s, f64::INFINITY);
        // Centred, so it has twice the room of the wider end label.
        let room = ZOOM.1 - ZOOM.0 - 2.0 * lo_s.len().max(hi_s.len()) as f64 * SMALL_W - 24.0;
        let mid = (ZOOM.0 + ZOOM.1) / 2.0;
        s += &caption(mid, below, "middle", &zoom_layers(lo, hi, layers), room);
        s + "</g>"
    }

    /// An axis label: `v` in at most 3 significant digits with an SI suffix
    /// (`1.25M`), once the axis reaches 10,000 (below, digits are short enough).
    fn compact(v: u64, axis_end: u64) -> String {
        let Some((div, suffix)) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
            .into_iter()
            .find(|(d, _)| v as f64 >= *d && axis_end >= 10_000)
        else {
            return v.to_string();
        };
        let x = v as f64 / div;
        let digits = if x >= 100.0 {
            0
        } else if x >= 10.0 {
            1
        } else {
            2
        };
        let s = format!("{x:.digits$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            &s
        };
        format!("{s}{suffix}")
    }

    /// A small caption cut to about `width` px (long layer names would run
    /// off the figure or into each other), in full on hover.
    fn caption(x: f64, y: f64, anchor: &str, text: &str, width: f64) -> String {
        if text.is_empty() {
            return String::new();
        }
        let max = (width / SMALL_W).min(1e6) as usize;
        let shown = if text.chars().count() <= max {
            text.to_string()
        } else {
            text.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
        };
        format!(
            "<text class=\"small\" x=\"{x:.1}\" y=\"{y}\" text-anchor=\"{anchor}\">{}<title>{}</title></text>",
            esc(&shown),
            esc(text)
        )
    }

    /// `round 3 · respond by challenger · [1200, 1350] (150 steps) · 2 false`.
    fn label(m: &Round) -> String {
        let false_ = super::false_points(&m.points).count();
        let false_ = if false_ > 0 {
            format!(" · <tspan class=\"false\">{false_} false</tspan>")
        } else {
            String::new()
        };
        format!(
            "round {} · {} by <tspan class=\"role-{who}\">{who}</tspan> · {}{false_}",
            m.index,
            esc(&m.kind),
            super::interval(m.lo, m.hi),
            who = m.mover.name(),
        )
    }

    /// The layers `[lo, hi]` spans: `in conv2`, `in 16 layers, conv1 to fc`.
    fn zoom_layers(lo: u64, hi: u64, layers: &[LayerSpan]) -> String {
        let names: Vec<&str> = layers
            .iter()
            .filter(|l| l.start < hi.max(lo + 1) && l.end > lo)
            .map(|l| l.name.as_str())
            .collect();
        match names.as_slice() {
            [] => String::new(),
            [a] => format!("in {a}"),
            [a, b] => format!("in {a}, {b}"),
            [a, .., b] => format!("in {} layers, {a} to {b}", names.len()),
        }
    }

    /// What the zoom shows: the parent range and the part chosen.
    fn zoom_caption(m: &Round, parent: Option<&Round>) -> String {
        let (lo, hi) = parent.map_or((m.lo, m.hi), |p| (p.lo, p.hi));
        let what = match (parent, m.part) {
            (None, _) => format!("{} points over [{lo}, {hi}]", m.points.len()),
            (Some(p), Some(part)) => format!(
                "parent [{lo}, {hi}] · part {part} of {}",
                p.points.len().saturating_sub(1)
            ),
            (Some(_), None) => format!("parent [{lo}, {hi}]"),
        };
        format!("{what} · {}", steps(hi.saturating_sub(lo)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert!(eth(U256::from(1_500_000_000_000_000_000u128)).contains(">1.5 ETH<"));
        assert!(eth(U256::from(7u64)).contains(">0.000000000000000007 ETH<"));
        assert!(eth(U256::ZERO).contains(">0 ETH<"));
        assert!(duration(3_725).contains(">1h 02m 05s<"));
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
