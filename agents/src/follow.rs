//! Following the protocol's logs by polling block ranges from a stored cursor
//! (no websocket needed), a configurable number of blocks behind the head.
//!
//! The cursor remembers the hash of the last block it covered. When that block
//! is no longer canonical, a reorg removed blocks the agent has seen: the
//! follower rewinds by `confirmations + REORG_REWIND` blocks and scans again.
//! Everything the agents do with logs is idempotent (rows are keyed by the
//! contracts' ids, and every action re-reads the chain first), so scanning a
//! range twice is harmless, and a claim or game that vanished with the reorg
//! is seen as absent on the chain when the agent next looks at it.

use crate::client::{Chain, ChainError, ChainResult, Header, is_log_range_limit};
use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Blocks re-scanned beyond the confirmation depth after a reorg.
pub const REORG_REWIND: u64 = 64;

/// Where the next poll starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// First block not scanned yet.
    pub next: u64,
    /// Hash of block `next - 1` when it was scanned (`None` before the first scan).
    pub parent: Option<B256>,
}

/// The outcome of one poll.
#[derive(Debug)]
pub enum Poll {
    /// Logs of the blocks `[from, cursor.next)`; store them, then the cursor.
    Logs {
        /// The logs, in chain order.
        logs: Vec<Log>,
        /// The cursor after them.
        cursor: Cursor,
        /// Whether the scan reached the confirmed head.
        caught_up: bool,
    },
    /// A reorg removed block `cursor.next - 1`: continue from `rewind`.
    Reorg {
        /// Where to scan from.
        rewind: Cursor,
        /// The block whose hash changed.
        at: u64,
    },
    /// Nothing new is confirmed yet.
    Idle,
}

/// Polls the logs of a set of contracts.
#[derive(Debug, Clone)]
pub struct Follower {
    chain: Chain,
    addresses: Vec<Address>,
    /// The events asked for (their signature hashes); empty: every event.
    events: Vec<B256>,
    /// Blocks to stay behind the head (0 on a local chain with instant finality).
    pub confirmations: u64,
    /// Most blocks per `eth_getLogs` (nodes cap the range).
    pub max_range: u64,
    /// Never rewind before this block (the deployment, or a later start block).
    pub origin: u64,
    /// The head the follower counts `confirmations` back from: `latest`, or
    /// the chain's `safe` or `finalized` block where it has them.
    pub head: BlockNumberOrTag,
    /// Blocks per query now: halved when the node refuses a range or a result
    /// count as too large, doubled back after each success up to `ceiling`.
    page: Arc<AtomicU64>,
    /// Below the smallest span the node refused (at most `max_range`).
    ceiling: Arc<AtomicU64>,
}

impl Follower {
    /// A follower of `addresses`, starting no earlier than `origin`.
    pub fn new(chain: Chain, addresses: Vec<Address>, origin: u64, confirmations: u64) -> Follower {
        Follower {
            chain,
            addresses,
            events: vec![],
            confirmations,
            max_range: 2_000,
            origin,
            head: BlockNumberOrTag::Latest,
            page: Arc::new(AtomicU64::new(2_000)),
            ceiling: Arc::new(AtomicU64::new(2_000)),
        }
    }

    /// At most `blocks` per `eth_getLogs` (at least 1).
    pub fn with_page(mut self, blocks: u64) -> Follower {
        self.max_range = blocks.max(1);
        self.page = Arc::new(AtomicU64::new(self.max_range));
        self.ceiling = Arc::new(AtomicU64::new(self.max_range));
        self
    }

    /// Asks only for these events (signature hashes): events nobody reads
    /// cannot fill a node's result limit. A liar can emit ten thousand cheap
    /// ones (1-wei top-ups) in one block, which a node capping results
    /// refuses for that block however small the page.
    pub fn with_events(mut self, events: Vec<B256>) -> Follower {
        self.events = events;
        self
    }

    /// Blocks per query now.
    pub fn page(&self) -> u64 {
        self.page.load(Ordering::Relaxed)
    }

    /// The block `confirmations` are counted back from.
    pub async fn head_block(&self) -> ChainResult<u64> {
        Ok(self.head_header().await?.number)
    }

    /// The header of the block `confirmations` are counted back from.
    pub async fn head_header(&self) -> ChainResult<Header> {
        let tag = self.head;
        self.chain
            .header(tag)
            .await?
            .ok_or_else(|| ChainError::Refused {
                what: format!("the {tag} block"),
                detail: "the node has none; set `head = \"latest\"` for this chain".into(),
            })
    }

    /// Hash of block `n`, a block already scanned (the reorg check): from
    /// `head` when it is the head or its parent, else read from the node. A
    /// stale or lying head costs a rescan, never a missed log.
    async fn hash_of(&self, n: u64, head: &Header) -> ChainResult<Option<B256>> {
        if n == head.number {
            Ok(Some(head.hash))
        } else if n + 1 == head.number {
            Ok(Some(head.parent))
        } else {
            Ok(self.chain.block(n).await?.map(|b| b.0))
        }
    }

    /// The watched contracts' logs of `events` (all when empty) in blocks `from..=to`.
    async fn logs(&self, from: u64, to: u64, events: &[B256]) -> ChainResult<Vec<Log>> {
        let mut filter = Filter::new()
            .address(self.addresses.clone())
            .from_block(BlockNumberOrTag::Number(from))
            .to_block(BlockNumberOrTag::Number(to));
        if !events.is_empty() {
            filter = filter.event_signature(events.to_vec());
        }
        let p = self.chain.provider.clone();
        self.chain
            .rpc("eth_getLogs", || {
                let (p, f) = (p.clone(), filter.clone());
                async move { p.get_logs(&f).await }
            })
            .await
    }

    /// The cursor of a fresh scan (from the deployment block).
    pub fn start(&self) -> Cursor {
        Cursor {
            next: self.origin,
            parent: None,
        }
    }

    /// Scans the next range.
    pub async fn poll(&self, cursor: Cursor) -> ChainResult<Poll> {
        let head = self.head_header().await?;
        self.poll_below(cursor, &head).await
    }

    /// Scans the next range up to `head` (the header of this follower's head
    /// tag, read by the caller) less the confirmations.
    pub async fn poll_below(&self, cursor: Cursor, head: &Header) -> ChainResult<Poll> {
        let safe = head.number.saturating_sub(self.confirmations);
        if let (Some(parent), Some(prev)) = (cursor.parent, cursor.next.checked_sub(1)) {
            let now = self.hash_of(prev, head).await?;
            if now != Some(parent) {
                let next = prev
                    .saturating_sub(self.confirmations + REORG_REWIND)
                    .max(self.origin);
                let parent = match next.checked_sub(1) {
                    Some(p) if next > self.origin => self.hash_of(p, head).await?,
                    _ => None,
                };
                return Ok(Poll::Reorg {
                    rewind: Cursor { next, parent },
                    at: prev,
                });
            }
        }
        if cursor.next > safe {
            return Ok(Poll::Idle);
        }
        loop {
            let page = self.page();
            let to = safe.min(cursor.next + page - 1);
            // The end block is read from the node, never taken from the head's
            // header: behind a load balancer the logs may come from a backend
            // that has not reached the head yet, and a cursor past blocks it
            // never answered for would skip their events for good (red team).
            // Read first: if a reorg replaces it during the scan, the next poll
            // sees a different parent and scans again.
            let Some((to_hash, _)) = self.chain.block(to).await? else {
                return Ok(Poll::Idle);
            };
            let got = self.logs(cursor.next, to, &self.events).await;
            let logs = match got {
                Ok(logs) => logs,
                // One block still too many results: one query per event.
                Err(ChainError::Refused { detail, .. })
                    if is_log_range_limit(&detail)
                        && to == cursor.next
                        && self.events.len() > 1 =>
                {
                    tracing::warn!(
                        block = to,
                        node = detail,
                        "the node refused one block's logs; asking for each event alone"
                    );
                    let mut all = vec![];
                    for e in &self.events {
                        all.extend(self.logs(to, to, std::slice::from_ref(e)).await?);
                    }
                    all.sort_by_key(|l| (l.block_number, l.log_index));
                    all
                }
                Err(ChainError::Refused { detail, .. })
                    if is_log_range_limit(&detail) && to > cursor.next =>
                {
                    let smaller = (to - cursor.next).div_ceil(2);
                    self.page.store(smaller, Ordering::Relaxed);
                    self.ceiling.fetch_min(to - cursor.next, Ordering::Relaxed);
                    tracing::info!(
                        blocks = smaller,
                        node = detail,
                        "the node refused the log range; querying fewer blocks at a time"
                    );
                    continue;
                }
                Err(e) => return Err(e),
            };
            let grown = (page * 2).min(self.ceiling.load(Ordering::Relaxed));
            self.page.store(grown, Ordering::Relaxed);
            return Ok(Poll::Logs {
                logs: logs.into_iter().filter(|l| !l.removed).collect(),
                cursor: Cursor {
                    next: to + 1,
                    parent: Some(to_hash),
                },
                caught_up: to == safe,
            });
        }
    }
}
