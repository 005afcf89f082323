//! A hostile JSON-RPC endpoint for tests: an HTTP proxy on loopback in front
//! of anvil that, for a seeded share of the requests, delays them (so
//! concurrent answers come back out of order), answers 503 or a JSON-RPC
//! internal error without forwarding, forwards and then drops the answer
//! (the request took effect, the client never hears), disconnects before
//! forwarding, or answers `eth_blockNumber` with a head it gave earlier
//! (a stale node behind a load balancer).
//!
//! In "public endpoint" mode ([`Public`]) it also behaves like the paid and
//! free endpoints agents run behind: `eth_getLogs` refused past a block range
//! or a result count (with the providers' own error shapes), HTTP 429 rate
//! limits, revert data stripped from errors, and answers that hang.
//!
//! The seed fixes the sequence of decisions, not which request meets which
//! fault: the agents' requests race each other. Each kind of fault is counted,
//! so a test can check that it really met them.

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Forwarded untouched.
    Pass,
    /// Forwarded after a pause of up to [`Hostile::max_delay`].
    Delay,
    /// HTTP 503, not forwarded.
    Unavailable,
    /// A JSON-RPC `-32603` error, not forwarded.
    InternalError,
    /// Forwarded, then the connection is closed without the answer.
    DropAnswer,
    /// The connection is closed before forwarding.
    Disconnect,
    /// A head query (`eth_blockNumber`, or `eth_getBlockByNumber` of
    /// `latest`, `safe` or `finalized`) answered with an older head it gave before.
    StaleHead,
    /// `eth_getLogs` refused: too many blocks ([`Public::max_log_blocks`]).
    LogRangeRefused,
    /// `eth_getLogs` refused: too many results ([`Public::max_log_results`]).
    LogResultsRefused,
    /// HTTP 429, not forwarded.
    RateLimited,
    /// Forwarded, answered only after [`Public::hang`].
    Hang,
    /// An error's revert data removed.
    RevertDataStripped,
}

/// What a public endpoint does besides failing now and then.
#[derive(Debug, Clone)]
pub struct Public {
    /// Most blocks an `eth_getLogs` may span.
    pub max_log_blocks: u64,
    /// Most logs it may return.
    pub max_log_results: usize,
    /// Percent of requests answered 429.
    pub rate_limited: u8,
    /// Percent of requests answered only after `hang`.
    pub hang_percent: u8,
    /// How long a hanging answer takes.
    pub hang: Duration,
    /// Remove `data` from error answers (some providers do: reverts arrive without their reason).
    pub strip_revert_data: bool,
}

impl Public {
    /// A free tier: 1,000 blocks and 10,000 logs per query, 3 % rate limited,
    /// 1 % hanging for `hang`, revert data stripped.
    pub fn free_tier(hang: Duration) -> Public {
        Public {
            max_log_blocks: 1_000,
            max_log_results: 10_000,
            rate_limited: 3,
            hang_percent: 1,
            hang,
            strip_revert_data: true,
        }
    }
}

/// The mix of faults, in percent of requests (the rest pass).
#[derive(Debug, Clone)]
pub struct Hostile {
    /// Seed of the decisions.
    pub seed: u64,
    /// Percent of requests delayed.
    pub delay: u8,
    /// Percent answered 503.
    pub unavailable: u8,
    /// Percent answered with an internal error.
    pub internal_error: u8,
    /// Percent whose answer is dropped after forwarding.
    pub drop_answer: u8,
    /// Percent disconnected before forwarding.
    pub disconnect: u8,
    /// Percent of head queries (`eth_blockNumber`, a block by tag) answered
    /// with a stale head, once there is an older one to give.
    pub stale_head: u8,
    /// Longest delay.
    pub max_delay: Duration,
    /// The public endpoint's limits, if any.
    pub public: Option<Public>,
}

impl Hostile {
    /// A mix where about one request in four meets a fault.
    pub fn nasty(seed: u64) -> Hostile {
        Hostile {
            seed,
            delay: 8,
            unavailable: 4,
            internal_error: 4,
            drop_answer: 3,
            disconnect: 3,
            // an agent asks for the head once a pass: a high share meets it often enough
            stale_head: 30,
            max_delay: Duration::from_millis(400),
            public: None,
        }
    }

    /// No random faults: only a public endpoint's limits.
    pub fn public(seed: u64, public: Public) -> Hostile {
        Hostile {
            seed,
            delay: 0,
            unavailable: 0,
            internal_error: 0,
            drop_answer: 0,
            disconnect: 0,
            stale_head: 0,
            max_delay: Duration::ZERO,
            public: Some(public),
        }
    }
}

struct State {
    rng: u64,
    /// Answers given to each head query ([`head_query`]), oldest first.
    heads: BTreeMap<String, Vec<serde_json::Value>>,
    counts: BTreeMap<Fault, u64>,
}

/// The running proxy.
pub struct HostileRpc {
    /// Its endpoint.
    pub url: String,
    state: Arc<Mutex<State>>,
    accept: tokio::task::JoinHandle<()>,
}

fn splitmix(z: &mut u64) -> u64 {
    *z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut x = *z;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl HostileRpc {
    /// Listens on a free loopback port in front of `upstream` (`http://...`).
    pub async fn start(upstream: &str, mix: Hostile) -> Result<HostileRpc> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State {
            rng: mix.seed,
            heads: BTreeMap::new(),
            counts: BTreeMap::new(),
        }));
        let client = alloy::transports::http::reqwest::Client::new();
        let upstream = upstream.to_string();
        let shared = (state.clone(), Arc::new(mix));
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, mix) = shared.clone();
                let (client, upstream) = (client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (state, mix) = (state.clone(), mix.clone());
                        let (client, upstream) = (client.clone(), upstream.clone());
                        async move { handle(req, &state, &mix, &client, &upstream).await }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Ok(HostileRpc { url, state, accept })
    }

    /// How many requests met each fault so far.
    pub fn counts(&self) -> BTreeMap<Fault, u64> {
        self.state.lock().unwrap().counts.clone()
    }
}

impl Drop for HostileRpc {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The key under which a call that asks for the chain's head is remembered:
/// its method and, for a block by tag, the tag.
fn head_query(call: &serde_json::Value) -> Option<String> {
    match call["method"].as_str()? {
        "eth_blockNumber" => Some("eth_blockNumber".into()),
        "eth_getBlockByNumber" => {
            let tag = call["params"][0].as_str()?;
            matches!(tag, "latest" | "safe" | "finalized")
                .then(|| format!("eth_getBlockByNumber {tag}"))
        }
        _ => None,
    }
}

fn decide(
    state: &Mutex<State>,
    mix: &Hostile,
    head: Option<&str>,
) -> (Fault, Option<serde_json::Value>) {
    let mut s = state.lock().unwrap();
    let roll = (splitmix(&mut s.rng) % 100) as u8;
    let mut fault = Fault::Pass;
    let mut acc = 0u8;
    for (share, f) in [
        (mix.delay, Fault::Delay),
        (mix.unavailable, Fault::Unavailable),
        (mix.internal_error, Fault::InternalError),
        (mix.drop_answer, Fault::DropAnswer),
        (mix.disconnect, Fault::Disconnect),
    ] {
        acc = acc.saturating_add(share);
        if roll < acc {
            fault = f;
            break;
        }
    }
    if let Some(p) = &mix.public
        && fault == Fault::Pass
    {
        let roll = (splitmix(&mut s.rng) % 100) as u8;
        if roll < p.rate_limited {
            fault = Fault::RateLimited;
        } else if roll < p.rate_limited.saturating_add(p.hang_percent) {
            fault = Fault::Hang;
        }
    }
    let mut stale = None;
    let given = head.and_then(|k| s.heads.get(k)).map_or(0, Vec::len);
    if fault == Fault::Pass && given > 1 {
        let roll = (splitmix(&mut s.rng) % 100) as u8;
        if roll < mix.stale_head {
            let back = 1 + (splitmix(&mut s.rng) as usize % (given - 1));
            let heads = &s.heads[head.expect("given > 1")];
            stale = Some(heads[given - 1 - back].clone());
            fault = Fault::StaleHead;
        }
    }
    *s.counts.entry(fault).or_default() += 1;
    (fault, stale)
}

type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

fn count(state: &Mutex<State>, fault: Fault) {
    *state.lock().unwrap().counts.entry(fault).or_default() += 1;
}

/// Blocks an `eth_getLogs` call spans (`latest` and the like read from upstream);
/// `None` for a `blockHash` query or one it cannot read.
async fn log_span(
    call: &serde_json::Value,
    client: &alloy::transports::http::reqwest::Client,
    upstream: &str,
) -> Option<u64> {
    let f = &call["params"][0];
    let number = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|s| s.strip_prefix("0x"))
            .and_then(|h| u64::from_str_radix(h, 16).ok())
    };
    let head = || async {
        let v: serde_json::Value = client
            .post(upstream)
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        number(&v["result"])
    };
    if !f["blockHash"].is_null() {
        return None;
    }
    let from = match number(&f["fromBlock"]) {
        Some(n) => n,
        None if f["fromBlock"] == "earliest" => 0,
        None => head().await?,
    };
    let to = match number(&f["toBlock"]) {
        Some(n) => n,
        None => head().await?,
    };
    Some(to.saturating_sub(from) + 1)
}

async fn handle(
    req: hyper::Request<hyper::body::Incoming>,
    state: &Mutex<State>,
    mix: &Hostile,
    client: &alloy::transports::http::reqwest::Client,
    upstream: &str,
) -> Answer {
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let call: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let method = call["method"].as_str().unwrap_or("batch").to_string();
    let head = head_query(&call);
    let (mut fault, stale) = decide(state, mix, head.as_deref());
    let closed = || Err(std::io::Error::other("hostile proxy: connection closed"));
    let json = |status: StatusCode, v: serde_json::Value| {
        let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
        *r.status_mut() = status;
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        Ok(r)
    };
    match fault {
        Fault::Disconnect => return closed(),
        Fault::Unavailable => {
            return json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"error": "overloaded (injected)"}),
            );
        }
        Fault::InternalError => {
            return json(
                StatusCode::OK,
                serde_json::json!({"jsonrpc": "2.0", "id": call["id"],
                    "error": {"code": -32603, "message": "internal error (injected)"}}),
            );
        }
        Fault::StaleHead => {
            return json(
                StatusCode::OK,
                serde_json::json!({"jsonrpc": "2.0", "id": call["id"], "result": stale}),
            );
        }
        Fault::RateLimited => {
            return json(
                StatusCode::TOO_MANY_REQUESTS,
                serde_json::json!({"jsonrpc": "2.0", "id": call["id"],
                    "error": {"code": -32005, "message": "daily request count exceeded, request rate limited"}}),
            );
        }
        Fault::Hang => {
            let hang = mix.public.as_ref().map_or(Duration::ZERO, |p| p.hang);
            tokio::time::sleep(hang).await;
        }
        Fault::Delay => {
            let ms = {
                let mut s = state.lock().unwrap();
                splitmix(&mut s.rng) % (mix.max_delay.as_millis() as u64 + 1)
            };
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Fault::Pass | Fault::DropAnswer => {}
        Fault::LogRangeRefused | Fault::LogResultsRefused | Fault::RevertDataStripped => {}
    }
    if let Some(p) = &mix.public
        && method == "eth_getLogs"
        && let Some(blocks) = log_span(&call, client, upstream).await
        && blocks > p.max_log_blocks
    {
        count(state, Fault::LogRangeRefused);
        return json(
            StatusCode::OK,
            serde_json::json!({"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32602,
                "message": format!("Log response size exceeded. You can make eth_getLogs requests with up to a {} block range and no limit on the response size, or you can request any block range with a cap of {} logs in the response.", p.max_log_blocks, p.max_log_results)}}),
        );
    }
    let answer = client
        .post(upstream)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .map_err(std::io::Error::other)?;
    let status = answer.status().as_u16();
    let bytes = answer.bytes().await.map_err(std::io::Error::other)?;
    if fault == Fault::DropAnswer {
        return closed();
    }
    let mut bytes = bytes.to_vec();
    if let Some(p) = &mix.public
        && let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes)
    {
        if method == "eth_getLogs"
            && v["result"]
                .as_array()
                .is_some_and(|r| r.len() > p.max_log_results)
        {
            count(state, Fault::LogResultsRefused);
            return json(
                StatusCode::OK,
                serde_json::json!({"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32005,
                    "message": format!("query returned more than {} results", p.max_log_results)}}),
            );
        }
        if p.strip_revert_data
            && let Some(e) = v.get_mut("error").and_then(|e| e.as_object_mut())
            && e.remove("data").is_some()
        {
            fault = Fault::RevertDataStripped;
            count(state, fault);
            bytes = v.to_string().into_bytes();
        }
    }
    let _ = fault;
    if let Some(key) = head
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && !v["result"].is_null()
    {
        let mut s = state.lock().unwrap();
        let given = s.heads.entry(key).or_default();
        if given.last() != Some(&v["result"]) {
            given.push(v["result"].clone());
        }
    }
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = StatusCode::from_u16(status)
        .context("upstream status")
        .map_err(std::io::Error::other)?;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}
