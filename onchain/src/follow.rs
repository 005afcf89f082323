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

use crate::client::{Chain, ChainResult};
use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};

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
    /// Blocks to stay behind the head (0 on a local chain with instant finality).
    pub confirmations: u64,
    /// Most blocks per `eth_getLogs` (nodes cap the range).
    pub max_range: u64,
    /// Never rewind before this block (the deployment).
    pub origin: u64,
}

impl Follower {
    /// A follower of `addresses`, starting no earlier than `origin`.
    pub fn new(chain: Chain, addresses: Vec<Address>, origin: u64, confirmations: u64) -> Follower {
        Follower {
            chain,
            addresses,
            confirmations,
            max_range: 2_000,
            origin,
        }
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
        let head = self.chain.block_number().await?;
        let safe = head.saturating_sub(self.confirmations);
        if let (Some(parent), Some(prev)) = (cursor.parent, cursor.next.checked_sub(1)) {
            let now = self.chain.block(prev).await?.map(|b| b.0);
            if now != Some(parent) {
                let next = prev
                    .saturating_sub(self.confirmations + REORG_REWIND)
                    .max(self.origin);
                let parent = match next.checked_sub(1) {
                    Some(p) if next > self.origin => self.chain.block(p).await?.map(|b| b.0),
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
        let to = safe.min(cursor.next + self.max_range - 1);
        // The end block's hash is read first: if a reorg replaces it during the
        // scan, the next poll sees a different parent and scans again.
        let Some((to_hash, _)) = self.chain.block(to).await? else {
            return Ok(Poll::Idle);
        };
        let filter = Filter::new()
            .address(self.addresses.clone())
            .from_block(BlockNumberOrTag::Number(cursor.next))
            .to_block(BlockNumberOrTag::Number(to));
        let p = self.chain.provider.clone();
        let logs = self
            .chain
            .rpc("eth_getLogs", || {
                let (p, f) = (p.clone(), filter.clone());
                async move { p.get_logs(&f).await }
            })
            .await?;
        Ok(Poll::Logs {
            logs: logs.into_iter().filter(|l| !l.removed).collect(),
            cursor: Cursor {
                next: to + 1,
                parent: Some(to_hash),
            },
            caught_up: to == safe,
        })
    }
}
