//! The chain client the agents and the CLI share: one HTTP provider, one key,
//! and a transaction sender that owns its nonces.
//!
//! Sending never relies on the node's view of what is pending. Each
//! transaction is simulated first (a call that would revert is not sent: it
//! would only burn gas, and the reason is reported instead), signed here with
//! an explicit nonce and EIP-1559 fees, and followed until a receipt arrives.
//! If none arrives within `bump_after`, the same nonce is signed again with
//! fees raised by at least the 12.5 % nodes require to replace it; whichever
//! version is mined wins. RPC failures (a dead or restarting endpoint) are
//! retried with exponential backoff up to `rpc_patience`.

use alloy::consensus::TxEnvelope;
use alloy::eips::BlockNumberOrTag;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::{RpcError, TransportErrorKind};
use opml_onchain::bindings::revert_reason;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// What can go wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The endpoint did not answer (or answered garbage) for longer than the patience allows.
    #[error(
        "the RPC endpoint {url} failed for {waited:?} ({detail}); check that the node is running and the URL is right"
    )]
    Unreachable {
        /// Endpoint.
        url: String,
        /// How long retries went on.
        waited: Duration,
        /// The last error.
        detail: String,
    },
    /// The node refused the request (not a transport failure).
    #[error("the node refused `{what}`: {detail}")]
    Refused {
        /// The request.
        what: String,
        /// The node's message.
        detail: String,
    },
    /// A simulation of the transaction reverted, so it was not sent.
    #[error("`{purpose}` would revert: {reason}")]
    WouldRevert {
        /// What the transaction was for.
        purpose: String,
        /// The decoded revert reason.
        reason: String,
    },
    /// The transaction was mined but reverted.
    #[error("`{purpose}` reverted on chain in {hash} (block {block})")]
    Reverted {
        /// What the transaction was for.
        purpose: String,
        /// Transaction hash.
        hash: B256,
        /// Block number.
        block: u64,
    },
    /// The account cannot pay for the transaction (its value plus gas at the
    /// current fees): found before sending, or the node's refusal.
    #[error("`{purpose}` cannot be paid for: {detail}; fund {address}")]
    InsufficientFunds {
        /// What the transaction was for.
        purpose: String,
        /// The sending account.
        address: Address,
        /// What it needs and holds, or the node's message.
        detail: String,
    },
    /// The nonce of a pending transaction was used by a transaction this
    /// agent did not send (another process signing with the same key): ours
    /// can never be mined. The next send takes a fresh nonce.
    #[error(
        "nonce {nonce} of `{purpose}` was taken by a transaction this agent did not send; is another process using this key? `{purpose}` is sent again with a fresh nonce"
    )]
    NonceTaken {
        /// What the transaction was for.
        purpose: String,
        /// The nonce.
        nonce: u64,
    },
    /// A key file that cannot be used: unreadable, or readable by others.
    #[error("the key file `{path}` {detail}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong and what to do.
        detail: String,
    },
    /// Watch-only: the transaction was simulated and priced, and not sent.
    #[error("watch-only: `{purpose}` was not sent")]
    WatchOnly {
        /// What the transaction was for.
        purpose: String,
    },
    /// The key is malformed.
    #[error(
        "the private key is not valid: {0}; give 32 bytes as 64 hex digits (optionally 0x-prefixed)"
    )]
    BadKey(String),
    /// The RPC URL is malformed.
    #[error("`{url}` is not a valid RPC URL: {detail}")]
    BadUrl {
        /// What was given.
        url: String,
        /// Why it does not parse.
        detail: String,
    },
}

/// Result of chain operations.
pub type ChainResult<T> = Result<T, ChainError>;

/// How patient the client is with the node and with the mempool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxPolicy {
    /// Give up on an RPC request after failing this long.
    pub rpc_patience: Duration,
    /// Poll interval for receipts and blocks.
    pub poll: Duration,
    /// Re-sign with higher fees when no receipt arrived within this time.
    pub bump_after: Duration,
    /// Fee increase of each bump, in per cent (at least 13: nodes require 12.5 %).
    pub bump_percent: u64,
    /// Never pay more than this per gas (wei).
    pub max_fee_per_gas: u128,
    /// Give up on one HTTP request after this long (it is then retried like any transient failure).
    pub rpc_timeout: Duration,
    /// Never pay more per gas than this multiple of the node's current
    /// suggestion (bumps included; 0: no such cap): bumps follow a real fee
    /// spike, but never run away from the market.
    pub max_fee_multiple: u64,
    /// Simulate and price every transaction, but send none (watch-only).
    pub watch_only: bool,
}

impl Default for TxPolicy {
    fn default() -> Self {
        TxPolicy {
            rpc_patience: Duration::from_secs(120),
            poll: Duration::from_millis(200),
            bump_after: Duration::from_secs(30),
            bump_percent: 20,
            max_fee_per_gas: 1_000_000_000_000, // 1,000 gwei
            rpc_timeout: Duration::from_secs(15),
            max_fee_multiple: 4,
            watch_only: false,
        }
    }
}

/// The most a client with `policy` pays per gas while the node suggests
/// `suggested` (its max fee now): the absolute cap, and the multiple of the
/// suggestion, so bumps follow a fee spike but never run away from the market.
pub fn fee_cap(policy: &TxPolicy, suggested: u128) -> u128 {
    let multiple = match policy.max_fee_multiple {
        0 => u128::MAX,
        m => suggested.max(1).saturating_mul(m as u128),
    };
    policy.max_fee_per_gas.min(multiple)
}

/// Whether a node's message refuses an `eth_getLogs` for its block range or
/// its result count, as public endpoints do (Infura: "query returned more than
/// 10000 results"; Alchemy: "Log response size exceeded ... block range";
/// QuickNode: "eth_getLogs is limited to a 10,000 range"; others: "block range
/// too large", "exceed maximum block range"). Asking again for fewer blocks
/// answers it; waiting does not.
pub fn is_log_range_limit(message: &str) -> bool {
    let m = message.to_lowercase();
    [
        "block range",
        "range too large",
        "range is too large",
        "returned more than",
        "response size exceeded",
        "is limited to",
        "too many results",
        "max results",
        "logs matched",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// Whether an RPC error is worth retrying: transport failures and rate limits are,
/// a node's considered answer (a revert, a bad nonce, a log range too large) is not.
pub fn is_transient(e: &RpcError<TransportErrorKind>) -> bool {
    match e {
        RpcError::Transport(_) => true,
        RpcError::ErrorResp(p) if is_log_range_limit(&p.message) => false,
        RpcError::ErrorResp(p) => {
            matches!(p.code, 429 | -32005 | -32603)
                || p.message.contains("rate limit")
                || p.message.contains("timeout")
        }
        RpcError::NullResp => true,
        _ => false,
    }
}

/// Revert data carried by an RPC error, if the node returned any.
pub fn revert_data(e: &RpcError<TransportErrorKind>) -> Option<Bytes> {
    e.as_error_resp().and_then(|p| p.as_revert_data())
}

/// A connection to one chain with one key.
#[derive(Clone)]
pub struct Chain {
    /// The provider (no fillers: this client signs and sets every field itself).
    pub provider: DynProvider,
    /// The endpoint, for messages, with its secrets masked ([`redact_url`]).
    pub url: String,
    /// The chain id (read once at connection).
    pub chain_id: u64,
    /// Transaction policy.
    pub policy: TxPolicy,
    signer: Option<Arc<Signer>>,
    /// The URL's secrets, masked in every message built from a node's error.
    secrets: Arc<Vec<String>>,
}

struct Signer {
    address: Address,
    wallet: EthereumWallet,
    next_nonce: Arc<Mutex<Option<u64>>>,
    /// Set when other processes sign with the same key.
    fleet: Option<Arc<dyn NonceLock>>,
}

/// A boxed future (for the object-safe [`NonceLock`]).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The one nonce owner of a key shared by several processes: held from
/// reading the node's next nonce until the transaction is broadcast, so two
/// instances never sign the same nonce; the receipt is awaited without it.
pub trait NonceLock: Send + Sync {
    /// Blocks until this process owns `address`'s nonce.
    fn acquire(&self, address: Address) -> BoxFuture<'_, ChainResult<()>>;
    /// Gives it up.
    fn release(&self, address: Address) -> BoxFuture<'_, ()>;
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the key
        f.debug_struct("Chain")
            .field("url", &self.url)
            .field("chain_id", &self.chain_id)
            .field("address", &self.signer.as_ref().map(|s| s.address))
            .finish()
    }
}

/// An RPC URL fit to print: credentials (`user:pass@`), the query (`?apikey=`)
/// and path segments that look like API keys (Infura's `/v3/KEY`, Alchemy's
/// `/v2/KEY`: 16 or more letters and digits) are replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        // unparsable: show only its scheme, if any
        return match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None => "***".into(),
        };
    };
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("***");
        let _ = u.set_password(None);
    }
    if u.query().is_some() {
        u.set_query(Some("***"));
    }
    let looks_secret = |seg: &str| {
        seg.len() >= 16
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if let Some(segs) = u.path_segments() {
        let masked: Vec<String> = segs
            .map(|seg| {
                if looks_secret(seg) {
                    "***".to_string()
                } else {
                    seg.to_string()
                }
            })
            .collect();
        u.set_path(&masked.join("/"));
    }
    u.to_string()
}

/// The parts of a URL that [`redact_url`] masks, as they may appear in a
/// transport's error text.
fn url_secrets(url: &str) -> Vec<String> {
    let Ok(u) = url::Url::parse(url) else {
        return vec![url.to_string()];
    };
    let mut out = vec![];
    if !u.username().is_empty() {
        out.push(u.username().to_string());
    }
    out.extend(u.password().map(str::to_string));
    out.extend(u.query().map(str::to_string));
    if let Some(segs) = u.path_segments() {
        out.extend(segs.filter(|s| s.len() >= 16).map(str::to_string));
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Reads a hex private key from `path`. On Unix the file must not be
/// readable or writable by group or others (as ssh requires of its keys).
pub fn read_key_file(path: &std::path::Path) -> ChainResult<PrivateKeySigner> {
    let bad = |detail: String| ChainError::KeyFile {
        path: path.display().to_string(),
        detail,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| bad(format!("cannot be read: {e}")))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(bad(format!(
                "is open to other users (mode {:o}); restrict it with `chmod 600 {}`",
                mode & 0o777,
                path.display()
            )));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
    parse_key(&text)
}

/// Parses a hex private key (never echoed in errors).
pub fn parse_key(key: &str) -> ChainResult<PrivateKeySigner> {
    key.trim()
        .parse::<PrivateKeySigner>()
        .map_err(|e| ChainError::BadKey(e.to_string()))
}

/// What became of a purpose's earlier transactions.
enum Earlier {
    /// None, or none the node can still mine.
    None,
    /// One was mined.
    Mined(Box<Sent>),
    /// One waits in the node's pool: a new one replaces it at its nonce.
    Pending(Replacing),
}

/// A pending transaction that a new one for the same purpose replaces.
#[derive(Clone, Copy)]
struct Replacing {
    nonce: u64,
    max_fee: u128,
    tip: u128,
    hash: B256,
}

/// The nonce of a key while one transaction takes it.
struct NonceHold {
    local: Option<tokio::sync::OwnedMutexGuard<Option<u64>>>,
    signer: Arc<Signer>,
}

impl NonceHold {
    /// Lets the next transaction go: with `next` when this one was broadcast.
    async fn release(&mut self, next: Option<u64>) {
        let Some(mut local) = self.local.take() else {
            return;
        };
        if next.is_some() {
            *local = next;
        }
        drop(local);
        if let Some(fleet) = &self.signer.fleet {
            fleet.release(self.signer.address).await;
        }
    }
}

/// A transaction that was mined successfully.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The receipt.
    pub receipt: TransactionReceipt,
    /// Nonce used.
    pub nonce: u64,
}

/// Where the sender records every transaction it signs (the agents' database).
pub trait TxJournal: Send + Sync {
    /// A transaction was signed and is about to be handed to the node: it is
    /// recorded before the broadcast, so no crash can leave a broadcast
    /// transaction the journal does not know (which a restart would send
    /// again). An error stops the send.
    fn sent(
        &self,
        purpose: &str,
        nonce: u64,
        hash: B256,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// A transaction got its receipt.
    fn mined(&self, receipt: &TransactionReceipt) -> impl Future<Output = ()> + Send;
    /// A sent transaction the node no longer knows (dropped, or lost in a reorg).
    fn dropped(&self, hash: B256) -> impl Future<Output = ()> + Send {
        let _ = hash;
        async {}
    }
    /// Transactions sent for `purpose` that are pending or were mined
    /// successfully, with their nonces: the node is asked again about each
    /// (a reorg can undo a receipt). A journal that keeps none never stops a
    /// second send.
    fn in_flight(&self, purpose: &str) -> impl Future<Output = Vec<(B256, u64)>> + Send {
        let _ = purpose;
        async { vec![] }
    }
}

/// A journal that records nothing (one-shot CLI commands).
pub struct NoJournal;

impl TxJournal for NoJournal {
    async fn sent(&self, _: &str, _: u64, _: B256) -> Result<(), String> {
        Ok(())
    }
    async fn mined(&self, _: &TransactionReceipt) {}
}

/// What the agents read of a block header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
    /// Its parent's hash: block `number - 1`'s, read without a request.
    pub parent: B256,
    /// Its timestamp.
    pub timestamp: u64,
}

impl Chain {
    /// Connects to `url` (reads the chain id, retrying while the node is down),
    /// with an optional key for sending.
    pub async fn connect(
        url: &str,
        key: Option<PrivateKeySigner>,
        policy: TxPolicy,
    ) -> ChainResult<Chain> {
        Self::connect_shared(url, key, policy, None).await
    }

    /// [`Chain::connect`] for a key other processes sign with too: `fleet`
    /// owns its nonce, which is then read from the node for every transaction.
    pub async fn connect_shared(
        url: &str,
        key: Option<PrivateKeySigner>,
        policy: TxPolicy,
        fleet: Option<Arc<dyn NonceLock>>,
    ) -> ChainResult<Chain> {
        let parsed = url
            .parse()
            .map_err(|e: url::ParseError| ChainError::BadUrl {
                url: redact_url(url),
                detail: e.to_string(),
            })?;
        // A node that accepts the connection and never answers must not hang the agent.
        let http = alloy::transports::http::reqwest::Client::builder()
            .timeout(policy.rpc_timeout)
            .connect_timeout(policy.rpc_timeout)
            .build()
            .map_err(|e| ChainError::BadUrl {
                url: redact_url(url),
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_client(alloy::rpc::client::RpcClient::new_http_with_client(
                http, parsed,
            ))
            .erased();
        let mut chain = Chain {
            provider,
            url: redact_url(url),
            secrets: Arc::new(url_secrets(url)),
            chain_id: 0,
            policy,
            signer: key.map(|k| {
                Arc::new(Signer {
                    address: k.address(),
                    wallet: EthereumWallet::from(k),
                    next_nonce: Arc::new(Mutex::new(None)),
                    fleet,
                })
            }),
        };
        let p = chain.provider.clone();
        chain.chain_id = chain.rpc("eth_chainId", || p.get_chain_id()).await?;
        Ok(chain)
    }

    /// The sending address (zero without a key).
    pub fn address(&self) -> Address {
        self.signer.as_ref().map(|s| s.address).unwrap_or_default()
    }

    /// A node or transport error as text, with the URL's secrets masked.
    fn scrub(&self, e: &impl std::fmt::Display) -> String {
        let mut text = e.to_string();
        for secret in self.secrets.iter() {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }

    /// Runs one RPC request of JSON-RPC `method`, retrying transient failures
    /// with exponential backoff (0.2 s doubling to 5 s) until `rpc_patience`
    /// has passed.
    pub async fn rpc<T, F, Fut>(&self, method: &'static str, f: F) -> ChainResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RpcError<TransportErrorKind>>>,
    {
        self.rpc_for(method, method, f).await
    }

    /// `rpc` for a request made on behalf of `what` (a view or a purpose),
    /// which errors and logs name.
    async fn rpc_for<T, F, Fut>(&self, method: &'static str, what: &str, mut f: F) -> ChainResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RpcError<TransportErrorKind>>>,
    {
        let start = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(200);
        let sent = crate::metrics::global()
            .rpc_requests
            .get_or_create(&crate::metrics::RpcLabels {
                method: method.into(),
            })
            .clone();
        loop {
            sent.inc();
            match f().await {
                Ok(v) => {
                    crate::metrics::global().rpc_answered();
                    return Ok(v);
                }
                Err(e) if is_transient(&e) => {
                    crate::metrics::global().rpc_failed();
                    crate::metrics::global().rpc_errors.inc();
                    if start.elapsed() >= self.policy.rpc_patience {
                        return Err(ChainError::Unreachable {
                            url: self.url.clone(),
                            waited: start.elapsed(),
                            detail: self.scrub(&e),
                        });
                    }
                    let error = self.scrub(&e);
                    tracing::warn!(request = what, error, retry_in = ?delay, "RPC request failed; retrying");
                    crate::metrics::global().rpc_retries.inc();
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    crate::metrics::global().rpc_errors.inc();
                    // the node answered (with a refusal): it is up
                    crate::metrics::global().rpc_answered();
                    return Err(match revert_data(&e) {
                        Some(data) => ChainError::WouldRevert {
                            purpose: what.into(),
                            reason: revert_reason(&data),
                        },
                        // geth, reth and anvil word it alike: "insufficient funds for gas * price + value"
                        None if e.to_string().to_lowercase().contains("insufficient funds") => {
                            ChainError::InsufficientFunds {
                                purpose: what.into(),
                                address: self.address(),
                                detail: self.scrub(&e),
                            }
                        }
                        None => ChainError::Refused {
                            what: what.into(),
                            detail: self.scrub(&e),
                        },
                    });
                }
            }
        }
    }

    /// A contract view call (`eth_call`), retried like [`Chain::rpc`] while
    /// the node fails transiently; a revert or refusal is returned as such.
    pub async fn view<P, D, N>(
        &self,
        what: &str,
        call: &alloy::contract::CallBuilder<P, D, N>,
    ) -> ChainResult<D::CallOutput>
    where
        P: Provider<N>,
        D: alloy::contract::CallDecoder,
        N: alloy::network::Network,
    {
        // Transport errors go through `rpc`'s retries and classification;
        // anything else (a decoding failure, say) is kept aside and reported.
        let other = std::sync::Mutex::new(None);
        let out = self
            .rpc_for("eth_call", what, || async {
                match call.call().await {
                    Ok(v) => Ok(Some(v)),
                    Err(alloy::contract::Error::TransportError(e)) => Err(e),
                    Err(e) => {
                        *other.lock().unwrap() = Some(e);
                        Ok(None)
                    }
                }
            })
            .await?;
        match out {
            Some(v) => Ok(v),
            None => Err(contract_error(what)(
                other.into_inner().unwrap().expect("set with None"),
            )),
        }
    }

    /// The latest block number.
    pub async fn block_number(&self) -> ChainResult<u64> {
        let p = self.provider.clone();
        self.rpc("eth_blockNumber", || p.get_block_number()).await
    }

    /// The header of block `at` (a number or a tag), if the node has it.
    pub async fn header(&self, at: BlockNumberOrTag) -> ChainResult<Option<Header>> {
        let p = self.provider.clone();
        let b = self
            .rpc("eth_getBlockByNumber", || {
                let p = p.clone();
                async move { p.get_block_by_number(at).await }
            })
            .await?;
        Ok(b.map(|b| Header {
            number: b.header.number,
            hash: b.header.hash,
            parent: b.header.parent_hash,
            timestamp: b.header.timestamp,
        }))
    }

    /// Hash and timestamp of block `n`, if it exists.
    pub async fn block(&self, n: u64) -> ChainResult<Option<(B256, u64)>> {
        let h = self.header(BlockNumberOrTag::Number(n)).await?;
        Ok(h.map(|h| (h.hash, h.timestamp)))
    }

    /// The latest block's header.
    pub async fn latest(&self) -> ChainResult<Header> {
        self.header(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| ChainError::Refused {
                what: "the latest block".into(),
                detail: "the node returned none".into(),
            })
    }

    /// The timestamp of the latest block (the contracts' `block.timestamp` for the next one is at least this).
    pub async fn now(&self) -> ChainResult<u64> {
        Ok(self.latest().await?.timestamp)
    }

    /// Balance of `who` (wei).
    pub async fn balance(&self, who: Address) -> ChainResult<U256> {
        let p = self.provider.clone();
        self.rpc("eth_getBalance", || {
            let p = p.clone();
            async move { p.get_balance(who).await }
        })
        .await
    }

    /// Simulates a call from this key (an `eth_call` at the latest block); the
    /// error carries the decoded revert reason.
    pub async fn simulate(
        &self,
        purpose: &str,
        to: Address,
        data: &Bytes,
        value: U256,
    ) -> ChainResult<Bytes> {
        let tx = TransactionRequest::default()
            .with_from(self.address())
            .with_to(to)
            .with_input(data.clone())
            .with_value(value);
        let p = self.provider.clone();
        self.rpc_for("eth_call", purpose, || {
            let (p, tx) = (p.clone(), tx.clone());
            async move { p.call(tx).await }
        })
        .await
    }

    /// A nonce above the node's next one (an earlier transaction of this key
    /// was dropped, by a reorg say) is never mined: it is refused, and the
    /// next send asks the node for its nonce.
    async fn refuse_nonce_gap(&self, purpose: &str, from: Address, nonce: u64) -> ChainResult<()> {
        let p = self.provider.clone();
        let node_next = self
            .rpc("eth_getTransactionCount", || {
                let p = p.clone();
                async move { p.get_transaction_count(from).pending().await }
            })
            .await?;
        if node_next < nonce {
            return Err(ChainError::Refused {
                what: purpose.into(),
                detail: format!(
                    "nonce {nonce} is past the node's next nonce {node_next} (an earlier transaction was dropped); it is sent again with a fresh nonce"
                ),
            });
        }
        Ok(())
    }

    /// Forgets the next nonce, so the next transaction asks the node: after a
    /// reorg dropped transactions of this key, their nonces are free again.
    pub async fn forget_nonce(&self) {
        if let Some(s) = &self.signer {
            *s.next_nonce.lock().await = None;
        }
    }

    /// Sends a transaction and waits for its receipt (see the module docs).
    /// `to = None` deploys `data` as creation code.
    pub async fn send(
        &self,
        purpose: &str,
        to: Option<Address>,
        data: Bytes,
        value: U256,
        journal: &impl TxJournal,
    ) -> ChainResult<Sent> {
        let signer = self.signer.clone().ok_or_else(|| {
            ChainError::BadKey(
                "no key was given; pass --key-file or set the key's environment variable".into(),
            )
        })?;
        // Never twice: a transaction for this purpose may be mined or pending
        // already; a pending one is replaced (same nonce), so only one of them lands.
        let replacing = match self.earlier(purpose, journal).await? {
            Earlier::Mined(done) => return Ok(*done),
            Earlier::Pending(r) => Some(r),
            Earlier::None => None,
        };
        let mut tx = TransactionRequest::default()
            .with_from(signer.address)
            .with_input(data)
            .with_value(value)
            .with_chain_id(self.chain_id);
        match to {
            Some(to) => tx.set_to(to),
            None => tx.set_create(),
        }
        // Simulation: a revert here is a decision, not a transient failure.
        let p = self.provider.clone();
        let gas = self
            .rpc_for("eth_estimateGas", purpose, || {
                let (p, tx) = (p.clone(), tx.clone());
                async move { p.estimate_gas(tx).await }
            })
            .await?;
        let gas_limit = gas + gas / 4 + 20_000;
        tx.set_gas_limit(gas_limit);
        let fees = self.fees().await?;
        // The node would refuse it anyway; saying so first names what is
        // missing. At the fee signed first, not the cap a bump may reach: a
        // move affordable now must go out (a bump the balance cannot pay is
        // refused by the node, and the version sent is followed on).
        let first_fee = fees
            .max_fee_per_gas
            .max(1)
            .min(self.fee_cap(fees.max_fee_per_gas));
        let need = value + U256::from(gas_limit) * U256::from(first_fee);
        let have = self.balance(signer.address).await?;
        if self.policy.watch_only {
            tracing::info!(purpose, value = %opml_onchain::protocol::format_ether(value), gas = gas_limit, "watch-only: would send");
            return Err(ChainError::WatchOnly {
                purpose: purpose.into(),
            });
        }
        if have < need {
            return Err(ChainError::InsufficientFunds {
                purpose: purpose.into(),
                address: signer.address,
                detail: format!(
                    "it needs {} (value {} plus gas at the current fees) and the account holds {}",
                    opml_onchain::protocol::format_ether(need),
                    opml_onchain::protocol::format_ether(value),
                    opml_onchain::protocol::format_ether(have)
                ),
            });
        }

        if let Some(r) = replacing {
            tracing::info!(purpose, nonce = r.nonce, earlier = %r.hash, "replacing a pending transaction for the same purpose");
            tx.set_nonce(r.nonce);
            let mut hold = NonceHold {
                local: None,
                signer: signer.clone(),
            };
            return self
                .sign_and_follow(purpose, tx, fees, journal, &mut hold, Some(r))
                .await
                .map(|receipt| Sent {
                    receipt,
                    nonce: r.nonce,
                });
        }
        // Nonces are taken one at a time per key (across the fleet when the
        // key is shared), and held only until the transaction is broadcast.
        let local = signer.next_nonce.clone().lock_owned().await;
        if let Some(fleet) = &signer.fleet {
            fleet.acquire(signer.address).await?;
        }
        let mut hold = NonceHold {
            local: Some(local),
            signer: signer.clone(),
        };
        let cached = if signer.fleet.is_some() {
            None
        } else {
            **hold.local.as_ref().expect("held")
        };
        let nonce = match cached {
            Some(n) => Ok(n),
            None => {
                let p = self.provider.clone();
                let a = signer.address;
                self.rpc("eth_getTransactionCount", || {
                    let p = p.clone();
                    async move { p.get_transaction_count(a).pending().await }
                })
                .await
            }
        };
        let nonce = match nonce {
            Ok(n) => n,
            Err(e) => {
                hold.release(None).await;
                return Err(e);
            }
        };
        tx.set_nonce(nonce);
        let result = self
            .sign_and_follow(purpose, tx, fees, journal, &mut hold, None)
            .await;
        // Not broadcast at all: the nonce is free again.
        hold.release(None).await;
        if !matches!(result, Ok(_) | Err(ChainError::Reverted { .. })) {
            // whatever happened to it, the node knows best which nonce is next
            self.forget_nonce().await;
        }
        result.map(|receipt| Sent { receipt, nonce })
    }

    /// Whether a transaction for `purpose` was mined successfully or waits in
    /// the node's pool. One the journal holds but the node never saw (the
    /// process died between journaling and broadcasting, or the node dropped
    /// it) does not count: it is marked dropped, and the purpose may be sent.
    pub async fn sent_before(&self, purpose: &str, journal: &impl TxJournal) -> ChainResult<bool> {
        Ok(!matches!(
            self.earlier(purpose, journal).await?,
            Earlier::None
        ))
    }

    /// The receipt of whichever of `hashes` (versions of one transaction) was
    /// mined, journaled; a revert as [`ChainError::Reverted`]. `None` while
    /// none is.
    async fn first_mined(
        &self,
        purpose: &str,
        hashes: &[B256],
        journal: &impl TxJournal,
    ) -> ChainResult<Option<ChainResult<TransactionReceipt>>> {
        for &h in hashes {
            if let Some(r) = self.receipt(h).await? {
                journal.mined(&r).await;
                return Ok(Some(if r.status() {
                    Ok(r)
                } else {
                    Err(ChainError::Reverted {
                        purpose: purpose.into(),
                        hash: h,
                        block: r.block_number.unwrap_or_default(),
                    })
                }));
            }
        }
        Ok(None)
    }

    /// What became of the transactions sent for `purpose` before (by this
    /// process or another sharing the journal).
    async fn earlier(&self, purpose: &str, journal: &impl TxJournal) -> ChainResult<Earlier> {
        let mut pending = None;
        for (h, nonce) in journal.in_flight(purpose).await {
            if let Some(r) = self.receipt(h).await? {
                journal.mined(&r).await;
                if r.status() {
                    return Ok(Earlier::Mined(Box::new(Sent { receipt: r, nonce })));
                }
                continue;
            }
            let p = self.provider.clone();
            let known = self
                .rpc("eth_getTransactionByHash", || {
                    let p = p.clone();
                    async move { p.get_transaction_by_hash(h).await }
                })
                .await?;
            // In the pool: listed without a block, its nonce not mined yet and
            // below the node's next (anvil still lists a transaction a reorg removed).
            let in_pool = known.as_ref().is_some_and(|t| t.block_number.is_none()) && {
                let (mined, next) = self.nonces().await?;
                mined <= nonce && nonce < next
            };
            match known {
                Some(t) if in_pool => {
                    use alloy::consensus::Transaction as _;
                    pending = Some((
                        nonce,
                        t.max_fee_per_gas(),
                        t.max_priority_fee_per_gas().unwrap_or(1),
                        h,
                    ));
                }
                _ => {
                    tracing::warn!(purpose, %h, "an earlier transaction was dropped by the node; sending again");
                    journal.dropped(h).await;
                }
            }
        }
        Ok(match pending {
            Some((nonce, max_fee, tip, hash)) => Earlier::Pending(Replacing {
                nonce,
                max_fee,
                tip,
                hash,
            }),
            None => Earlier::None,
        })
    }

    /// The receipt of a transaction, if it was mined.
    async fn receipt(&self, h: B256) -> ChainResult<Option<TransactionReceipt>> {
        let p = self.provider.clone();
        self.rpc("eth_getTransactionReceipt", || {
            let p = p.clone();
            async move { p.get_transaction_receipt(h).await }
        })
        .await
    }

    /// This key's mined transaction count and the node's next nonce (counting its pool).
    async fn nonces(&self) -> ChainResult<(u64, u64)> {
        let p = self.provider.clone();
        let a = self.address();
        let mined = self
            .rpc("eth_getTransactionCount", || {
                let p = p.clone();
                async move { p.get_transaction_count(a).latest().await }
            })
            .await?;
        let p = self.provider.clone();
        let next = self
            .rpc("eth_getTransactionCount", || {
                let p = p.clone();
                async move { p.get_transaction_count(a).pending().await }
            })
            .await?;
        Ok((mined, next))
    }

    fn fee_cap(&self, suggested: u128) -> u128 {
        fee_cap(&self.policy, suggested)
    }

    /// The node's EIP-1559 fee suggestion.
    pub async fn fees(&self) -> ChainResult<alloy::eips::eip1559::Eip1559Estimation> {
        let p = self.provider.clone();
        self.rpc("eth_feeHistory", || {
            let p = p.clone();
            async move { p.estimate_eip1559_fees().await }
        })
        .await
    }

    async fn sign_and_follow(
        &self,
        purpose: &str,
        mut tx: TransactionRequest,
        fees: alloy::eips::eip1559::Eip1559Estimation,
        journal: &impl TxJournal,
        hold: &mut NonceHold,
        replacing: Option<Replacing>,
    ) -> ChainResult<TransactionReceipt> {
        let wallet = &hold.signer.wallet.clone();
        let mut cap = self.fee_cap(fees.max_fee_per_gas);
        let bump = |v: u128| v + v * self.policy.bump_percent.max(13) as u128 / 100 + 1;
        let mut max_fee = fees.max_fee_per_gas.max(1);
        let mut tip = fees.max_priority_fee_per_gas.max(1);
        let nonce = tx.nonce.unwrap_or_default();
        // the version being replaced may still be the one mined
        let mut hashes: Vec<B256> = replacing.iter().map(|r| r.hash).collect();
        if let Some(r) = replacing {
            max_fee = max_fee.max(bump(r.max_fee));
            tip = tip.max(bump(r.tip));
        }
        loop {
            if max_fee > cap {
                tracing::warn!(
                    purpose,
                    max_fee,
                    cap,
                    "fees above the cap (max_fee_gwei, max_fee_multiple): signing at the cap"
                );
            }
            tx.set_max_fee_per_gas(max_fee.min(cap));
            tx.set_max_priority_fee_per_gas(tip.min(cap));
            let envelope: TxEnvelope =
                tx.clone()
                    .build(wallet)
                    .await
                    .map_err(|e| ChainError::Refused {
                        what: format!("signing `{purpose}`"),
                        detail: e.to_string(),
                    })?;
            let hash = *envelope.tx_hash();
            let raw = envelope.encoded_2718();
            journal
                .sent(purpose, nonce, hash)
                .await
                .map_err(|detail| ChainError::Refused {
                    what: format!("recording `{purpose}` before sending it"),
                    detail,
                })?;
            crate::faults::crash_point("signed", purpose);
            let p = self.provider.clone();
            let sent = self
                .rpc("eth_sendRawTransaction", || {
                    let (p, raw) = (p.clone(), raw.clone());
                    async move { p.send_raw_transaction(&raw).await.map(|_| ()) }
                })
                .await;
            // A retried broadcast whose first attempt reached the node is refused as known.
            let known = |d: &str| {
                let d = d.to_lowercase();
                d.contains("already known")
                    || d.contains("known transaction")
                    || d.contains("already imported")
            };
            match sent {
                Ok(()) => {
                    hashes.push(hash);
                    tracing::debug!(purpose, nonce, %hash, max_fee, "transaction sent");
                    crate::faults::crash_point("broadcast", purpose);
                }
                Err(ChainError::Refused { detail, .. }) if known(&detail) => {
                    hashes.push(hash);
                    tracing::debug!(purpose, nonce, %hash, "the node already had the transaction");
                }
                // A replacement the node refuses (underpriced, nonce taken by an
                // earlier version that got mined, a bumped fee the balance cannot
                // pay): keep following what was sent.
                Err(e @ (ChainError::Refused { .. } | ChainError::InsufficientFunds { .. }))
                    if !hashes.is_empty() =>
                {
                    journal.dropped(hash).await;
                    tracing::debug!(purpose, nonce, error = %e, "replacement refused");
                }
                // Refused outright: never in the pool, so the journal must not wait for it.
                Err(e @ (ChainError::Refused { .. } | ChainError::InsufficientFunds { .. })) => {
                    journal.dropped(hash).await;
                    return Err(e);
                }
                // The node stayed unreachable: the transaction may have reached it,
                // so it stays in the journal and the next send asks the node.
                Err(e) => return Err(e),
            }
            // broadcast: the next transaction may take the next nonce
            hold.release(Some(nonce + 1)).await;
            self.refuse_nonce_gap(purpose, tx.from.unwrap_or_default(), nonce)
                .await?;
            let deadline = tokio::time::Instant::now() + self.policy.bump_after;
            while tokio::time::Instant::now() < deadline {
                if let Some(mined) = self.first_mined(purpose, &hashes, journal).await? {
                    return mined;
                }
                tokio::time::sleep(self.policy.poll).await;
            }
            // Every version unmined and the nonce used all the same: by a
            // transaction we did not send, so following ours would never end.
            let (mined_count, _) = self.nonces().await?;
            if mined_count > nonce {
                if let Some(mined) = self.first_mined(purpose, &hashes, journal).await? {
                    return mined;
                }
                for h in &hashes {
                    journal.dropped(*h).await;
                }
                return Err(ChainError::NonceTaken {
                    purpose: purpose.into(),
                    nonce,
                });
            }
            // after a base-fee spike a bump of the old fees may still be too low
            let now = self.fees().await?;
            cap = self.fee_cap(now.max_fee_per_gas);
            max_fee = bump(max_fee).max(now.max_fee_per_gas);
            tip = bump(tip).max(now.max_priority_fee_per_gas);
            tracing::warn!(
                purpose,
                nonce,
                max_fee,
                "no receipt yet; re-signing with higher fees"
            );
        }
    }
}

/// Maps a contract-call error to a [`ChainError`] with the decoded revert reason.
pub fn contract_error(what: &str) -> impl Fn(alloy::contract::Error) -> ChainError + '_ {
    move |e| match e {
        alloy::contract::Error::TransportError(t) => match revert_data(&t) {
            Some(data) => ChainError::WouldRevert {
                purpose: what.into(),
                reason: opml_onchain::bindings::revert_reason(&data),
            },
            None => ChainError::Refused {
                what: what.into(),
                detail: t.to_string(),
            },
        },
        other => ChainError::Refused {
            what: what.into(),
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_keep_no_secret() {
        for (url, secret) in [
            ("https://user:hunter2@rpc.example.com/", "hunter2"),
            (
                "https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef",
                "0123456789abcdef",
            ),
            (
                "https://eth-mainnet.g.alchemy.com/v2/AbCdEf-123456789_xyzXYZ",
                "AbCdEf",
            ),
            ("https://rpc.example.com/?apikey=s3cr3tkey", "s3cr3tkey"),
            ("not a url with hunter2", "hunter2"),
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains(secret), "{url} shown as {shown}");
        }
        assert_eq!(
            redact_url("http://127.0.0.1:8545/"),
            "http://127.0.0.1:8545/"
        );
        assert_eq!(
            redact_url("https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef"),
            "https://mainnet.infura.io/v3/***"
        );
    }

    /// A dead endpoint's error names it without its credentials.
    #[tokio::test]
    async fn a_dead_endpoint_with_credentials_is_reported_without_them() {
        let policy = TxPolicy {
            rpc_patience: Duration::from_millis(300),
            rpc_timeout: Duration::from_millis(200),
            ..TxPolicy::default()
        };
        let url =
            "http://operator:hunter2@127.0.0.1:1/v3/0123456789abcdef0123456789abcdef?key=s3cr3t";
        let e = Chain::connect(url, None, policy)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("127.0.0.1:1"), "{e}");
        for secret in ["hunter2", "0123456789abcdef", "s3cr3t", "operator"] {
            assert!(!e.contains(secret), "{e}");
        }
    }

    #[test]
    fn fees_are_capped_absolutely_and_relative_to_the_current_suggestion() {
        let gwei = 1_000_000_000u128;
        let p = TxPolicy::default();
        assert_eq!(fee_cap(&p, 10 * gwei), 40 * gwei);
        assert_eq!(fee_cap(&p, 400 * gwei), 1_000 * gwei);
        let loose = TxPolicy {
            max_fee_multiple: 0,
            ..TxPolicy::default()
        };
        assert_eq!(fee_cap(&loose, 10 * gwei), 1_000 * gwei);
    }

    #[test]
    fn log_range_refusals_are_recognized_and_not_transient() {
        for m in [
            "query returned more than 10000 results",
            "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range",
            "eth_getLogs is limited to a 10,000 range",
            "block range too large",
        ] {
            assert!(is_log_range_limit(m), "{m}");
        }
        for m in [
            "daily request count exceeded, request rate limited",
            "nonce too low",
        ] {
            assert!(!is_log_range_limit(m), "{m}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn key_files_open_to_others_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key");
        let key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
        std::fs::write(&f, key).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_key_file(&f).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && e.contains("644"), "{e}");
        assert!(!e.contains(&key[2..]), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read_key_file(&f).is_ok());
    }
}
