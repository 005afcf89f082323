//! An agent's persistent state through sqlx: SQLite by default (one file in
//! the data directory), or PostgreSQL (`database_url = "postgres://..."`).
//! The same queries run on both through sqlx's `Any` driver (placeholders
//! `$1`, `$2`, ..., which SQLite reads too); the schema is in
//! `agents/migrations/sqlite` and `agents/migrations/postgres`, applied on open.
//!
//! The store is a cache of the chain plus the agent's transaction journal.
//! Deleting it loses nothing: the follower scans again from the deployment
//! block and every decision re-reads the chain before it acts.

use crate::client::TxJournal;
use crate::follow::Cursor;
use alloy::primitives::{Address, B256};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;
use opml_onchain::bindings::{DisputeGame, InferenceMarket};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool};
use sqlx::{Row, migrate::Migrator};
use std::path::{Path, PathBuf};

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be opened or migrated.
    #[error(
        "cannot open the agent database `{path}`: {detail}; check the data directory's permissions or the server at `database_url` (deleting the database rebuilds it from the chain)"
    )]
    Open {
        /// File.
        path: String,
        /// Why.
        detail: String,
    },
    /// A query failed.
    #[error("agent database: {0}")]
    Query(#[from] sqlx::Error),
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// A request as the agent saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRow {
    /// Request id.
    pub id: u64,
    /// Model.
    pub model_id: B256,
    /// Input bytes.
    pub input: Vec<u8>,
    /// Unix deadline for claims.
    pub deadline: u64,
    /// Initial state hash (derived on chain).
    pub initial_state: B256,
    /// `open`, `finalized` or `closed`.
    pub status: String,
    /// Why the agent skips it.
    pub note: Option<String>,
}

/// A claim as the agent saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRow {
    /// Claim id.
    pub id: u64,
    /// Its request.
    pub request_id: u64,
    /// Who posted it.
    pub submitter: Address,
    /// Claimed final state.
    pub final_state: B256,
    /// Claimed steps.
    pub steps: u64,
    /// Claimed output bytes.
    pub output: Vec<u8>,
    /// When its challenge window closes (as submitted; extensions are read from the chain).
    pub challenge_deadline: u64,
    /// `pending`, `voided`, `finalized` or `released`.
    pub status: String,
    /// The challenger's re-execution verdict.
    pub verdict: Option<String>,
}

/// A game as the agent saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameRow {
    /// Game id.
    pub id: u64,
    /// The claim it disputes.
    pub claim_id: u64,
    /// Who challenged.
    pub challenger: Address,
    /// Block of the challenge (where its `Dissected` events start).
    pub block: u64,
    /// `live`, `defender_won`, `challenger_won`, `cancelled` or `closed`.
    pub status: String,
}

/// The agent database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    server: bool,
}

fn addr(b: &[u8]) -> Address {
    Address::from_slice(&b[..20.min(b.len())])
}

fn b256(b: &[u8]) -> B256 {
    B256::from_slice(&b[..32.min(b.len())])
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The file of a `sqlite:` URL (`sqlite://path?opts`, `sqlite:path`).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// An exclusive lock on `<db>.migrate-lock`, held until dropped.
async fn lock_beside(db: PathBuf) -> std::io::Result<std::fs::File> {
    tokio::task::spawn_blocking(move || {
        let mut name = db.into_os_string();
        name.push(".migrate-lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PathBuf::from(name))?;
        f.lock()?;
        Ok(f)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The events [`Store::ingest`] reads (signature hashes): the follower asks
/// for these only.
pub const INGESTED: [B256; 13] = [
    InferenceMarket::Requested::SIGNATURE_HASH,
    InferenceMarket::Submitted::SIGNATURE_HASH,
    InferenceMarket::Challenged::SIGNATURE_HASH,
    InferenceMarket::ClaimVoided::SIGNATURE_HASH,
    InferenceMarket::Finalized::SIGNATURE_HASH,
    InferenceMarket::Released::SIGNATURE_HASH,
    InferenceMarket::Refunded::SIGNATURE_HASH,
    InferenceMarket::Cancelled::SIGNATURE_HASH,
    InferenceMarket::GameClosed::SIGNATURE_HASH,
    DisputeGame::GameCreated::SIGNATURE_HASH,
    DisputeGame::Dissected::SIGNATURE_HASH,
    DisputeGame::GameEnded::SIGNATURE_HASH,
    DisputeGame::GameCancelled::SIGNATURE_HASH,
];

impl Store {
    /// Opens the database at `url` (`sqlite:...` or `postgres://...`), or
    /// else `agent.sqlite` in `dir` (created if needed), and applies the migrations.
    pub async fn open(dir: &Path, url: Option<&str>) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let file = dir.join("agent.sqlite");
        let shown = match url {
            // never a password in messages
            Some(u) => match url::Url::parse(u) {
                Ok(mut parsed) => {
                    let _ = parsed.set_password(None);
                    parsed.to_string()
                }
                Err(_) => "database_url".into(),
            },
            None => file.display().to_string(),
        };
        let fail = |detail: String| StoreError::Open {
            path: shown.clone(),
            detail,
        };
        let url = match url {
            Some(u) => u.to_string(),
            None => {
                std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
                format!("sqlite://{}?mode=rwc", file.display())
            }
        };
        let sqlite = url.starts_with("sqlite:");
        if !sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(fail(
                "`database_url` must start with `sqlite:` or `postgres://`".into(),
            ));
        }
        // Two processes opening one SQLite file at once (an agent and `opml`
        // reading its state) would both apply a new migration, and switching
        // a fresh file to WAL fails with "database is locked" while another
        // connection holds it: opening is serialized by a lock file beside
        // it. PostgreSQL has sqlx's advisory lock for its migrations.
        let _opening = match sqlite_file(&url) {
            Some(db) => Some(
                lock_beside(db)
                    .await
                    .map_err(|e| fail(format!("cannot lock it to open: {e}")))?,
            ),
            None => None,
        };
        let pool = AnyPoolOptions::new()
            // one writer for SQLite; a few connections for a server
            .max_connections(if sqlite { 1 } else { 4 })
            .connect(&url)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(|e| fail(e.to_string()))?;
        }
        let migrator = if sqlite { &SQLITE } else { &POSTGRES };
        migrator.run(&pool).await.map_err(|e| fail(e.to_string()))?;
        Ok(Store {
            pool,
            server: !sqlite,
        })
    }

    /// Whether the database is a server (PostgreSQL) that other instances may share.
    pub fn is_server(&self) -> bool {
        self.server
    }

    /// The stored cursor.
    pub async fn cursor(&self) -> StoreResult<Option<Cursor>> {
        let row = sqlx::query("SELECT next_block, parent_hash FROM cursor WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Cursor {
            next: r.get::<i64, _>(0) as u64,
            parent: r.get::<Option<Vec<u8>>, _>(1).map(|b| b256(&b)),
        }))
    }

    /// The dissections of game `id` seen so far (its opening `[start, end]`
    /// included), newest first.
    pub async fn dissections(&self, id: u64) -> StoreResult<Vec<Vec<B256>>> {
        let rows = sqlx::query(
            "SELECT points FROM dissections WHERE game_id = $1 ORDER BY block DESC, log_index DESC",
        )
        .bind(id as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.get::<Vec<u8>, _>(0).chunks(32).map(b256).collect())
            .collect())
    }

    /// Ingests a batch of logs and moves the cursor past them, in one transaction.
    pub async fn ingest(&self, logs: &[Log], cursor: Cursor) -> StoreResult<usize> {
        let mut tx = self.pool.begin().await?;
        let mut n = 0;
        for log in logs {
            let block = log.block_number.unwrap_or_default() as i64;
            let Some(topic) = log.topic0().copied() else {
                continue;
            };
            if topic == InferenceMarket::Requested::SIGNATURE_HASH {
                let Ok(e) = InferenceMarket::Requested::decode_log(&log.inner) else {
                    continue;
                };
                sqlx::query(
                    // seen again after a reorg: the canonical event's fields win
                    "INSERT INTO requests (id, model_id, requester, fee, deadline, initial_state, input, block)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET
                     model_id = excluded.model_id, requester = excluded.requester, fee = excluded.fee,
                     deadline = excluded.deadline, initial_state = excluded.initial_state,
                     input = excluded.input, block = excluded.block",
                )
                .bind(e.requestId.to::<i64>())
                .bind(e.modelId.as_slice())
                .bind(e.requester.as_slice())
                .bind(e.fee.to_string())
                .bind(e.deadline as i64)
                .bind(e.initialState.as_slice())
                .bind(e.input.to_vec())
                .bind(block)
                .execute(&mut *tx)
                .await?;
            } else if topic == InferenceMarket::Submitted::SIGNATURE_HASH {
                let Ok(e) = InferenceMarket::Submitted::decode_log(&log.inner) else {
                    continue;
                };
                sqlx::query(
                    // seen again after a reorg (mined in another block, its window
                    // from that block's time): the canonical event's fields win
                    "INSERT INTO claims (id, request_id, submitter, final_state, steps, output, challenge_deadline, block)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET
                     request_id = excluded.request_id, submitter = excluded.submitter,
                     final_state = excluded.final_state, steps = excluded.steps, output = excluded.output,
                     challenge_deadline = excluded.challenge_deadline, block = excluded.block",
                )
                .bind(e.claimId.to::<i64>())
                .bind(e.requestId.to::<i64>())
                .bind(e.submitter.as_slice())
                .bind(e.finalState.as_slice())
                .bind(e.steps as i64)
                .bind(e.output.to_vec())
                .bind(e.challengeDeadline as i64)
                .bind(block)
                .execute(&mut *tx)
                .await?;
            } else if topic == InferenceMarket::Challenged::SIGNATURE_HASH {
                let Ok(e) = InferenceMarket::Challenged::decode_log(&log.inner) else {
                    continue;
                };
                sqlx::query(
                    "INSERT INTO games (id, claim_id, challenger, block) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(e.gameId.to::<i64>())
                .bind(e.claimId.to::<i64>())
                .bind(e.challenger.as_slice())
                .bind(block)
                .execute(&mut *tx)
                .await?;
            } else if topic == InferenceMarket::ClaimVoided::SIGNATURE_HASH {
                let Ok(e) = InferenceMarket::ClaimVoided::decode_log(&log.inner) else {
                    continue;
                };
                set_status(&mut tx, "claims", e.claimId.to::<i64>(), "voided").await?;
            } else if topic == InferenceMarket::Finalized::SIGNATURE_HASH {
                let Ok(e) = InferenceMarket::Finalized::decode_log(&log.inner) else {
                    continue;
                };
                set_status(&mut tx, "claims", e.claimId.to::<i64>(), "finalized").await?;
                set_status(&mut tx, "requests", e.requestId.to::<i64>(), "finalized").await?;
            } else if topic == InferenceMarket::Released::SIGNATURE_HASH {
                let Ok(e) = InferenceMarket::Released::decode_log(&log.inner) else {
                    continue;
                };
                set_status(&mut tx, "claims", e.claimId.to::<i64>(), "released").await?;
            } else if topic == InferenceMarket::Refunded::SIGNATURE_HASH {
                let Ok(e) = InferenceMarket::Refunded::decode_log(&log.inner) else {
                    continue;
                };
                set_status(&mut tx, "requests", e.requestId.to::<i64>(), "closed").await?;
            } else if topic == InferenceMarket::Cancelled::SIGNATURE_HASH {
                let Ok(e) = InferenceMarket::Cancelled::decode_log(&log.inner) else {
                    continue;
                };
                set_status(&mut tx, "requests", e.requestId.to::<i64>(), "closed").await?;
            } else if topic == InferenceMarket::GameClosed::SIGNATURE_HASH {
                let Ok(e) = InferenceMarket::GameClosed::decode_log(&log.inner) else {
                    continue;
                };
                set_status(&mut tx, "games", e.gameId.to::<i64>(), "closed").await?;
            } else if topic == DisputeGame::GameEnded::SIGNATURE_HASH {
                let Ok(e) = DisputeGame::GameEnded::decode_log(&log.inner) else {
                    continue;
                };
                let s = if e.defenderWon {
                    "defender_won"
                } else {
                    "challenger_won"
                };
                set_status(&mut tx, "games", e.gameId.to::<i64>(), s).await?;
            } else if topic == DisputeGame::Dissected::SIGNATURE_HASH {
                let Ok(e) = DisputeGame::Dissected::decode_log(&log.inner) else {
                    continue;
                };
                insert_dissection(&mut tx, e.gameId.to::<i64>(), log, &e.points).await?;
            } else if topic == DisputeGame::GameCreated::SIGNATURE_HASH {
                let Ok(e) = DisputeGame::GameCreated::decode_log(&log.inner) else {
                    continue;
                };
                insert_dissection(&mut tx, e.gameId.to::<i64>(), log, &[e.start, e.end]).await?;
            } else if topic == DisputeGame::GameCancelled::SIGNATURE_HASH {
                let Ok(e) = DisputeGame::GameCancelled::decode_log(&log.inner) else {
                    continue;
                };
                set_status(&mut tx, "games", e.gameId.to::<i64>(), "cancelled").await?;
            } else {
                continue;
            }
            n += 1;
        }
        sqlx::query(
            "INSERT INTO cursor (id, next_block, parent_hash) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET next_block = excluded.next_block, parent_hash = excluded.parent_hash",
        )
        .bind(cursor.next as i64)
        .bind(cursor.parent.map(|h| h.to_vec()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Requests in status `open`, oldest first.
    pub async fn open_requests(&self) -> StoreResult<Vec<RequestRow>> {
        let rows = sqlx::query(
            "SELECT id, model_id, input, deadline, initial_state, status, note FROM requests
             WHERE status = 'open' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(request_row).collect())
    }

    /// One request.
    pub async fn request(&self, id: u64) -> StoreResult<Option<RequestRow>> {
        let row = sqlx::query(
            "SELECT id, model_id, input, deadline, initial_state, status, note FROM requests WHERE id = $1",
        )
        .bind(id as i64)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(request_row))
    }

    /// Notes why a request is skipped (shown by status and logs once).
    pub async fn note_request(&self, id: u64, note: &str) -> StoreResult<()> {
        sqlx::query("UPDATE requests SET note = $1 WHERE id = $2")
            .bind(note)
            .bind(id as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a request closed for this agent (expired, settled elsewhere).
    pub async fn close_request(&self, id: u64) -> StoreResult<()> {
        sqlx::query("UPDATE requests SET status = 'closed' WHERE id = $1 AND status = 'open'")
            .bind(id as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claims, optionally of one request, optionally only pending ones.
    pub async fn claims(
        &self,
        request: Option<u64>,
        pending_only: bool,
    ) -> StoreResult<Vec<ClaimRow>> {
        // The filters are part of the SQL, not NULL-able parameters: PostgreSQL
        // cannot type a parameter that is only compared with NULL.
        let mut sql = "WHERE true".to_string();
        if request.is_some() {
            sql.push_str(" AND request_id = $1");
        }
        if pending_only {
            sql.push_str(" AND status = 'pending'");
        }
        self.claims_where(&sql, request.map(|r| vec![r]).unwrap_or_default())
            .await
    }

    /// The claims with these ids (those of live games, say): a pass reads
    /// what it acts on, not every claim ever seen.
    pub async fn claims_by_id(&self, ids: &[u64]) -> StoreResult<Vec<ClaimRow>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let list = (1..=ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.claims_where(&format!("WHERE id IN ({list})"), ids.to_vec())
            .await
    }

    async fn claims_where(&self, filter: &str, binds: Vec<u64>) -> StoreResult<Vec<ClaimRow>> {
        let sql = format!(
            "SELECT id, request_id, submitter, final_state, steps, output, challenge_deadline, status, verdict
             FROM claims {filter} ORDER BY id"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b as i64);
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| ClaimRow {
                id: r.get::<i64, _>(0) as u64,
                request_id: r.get::<i64, _>(1) as u64,
                submitter: addr(&r.get::<Vec<u8>, _>(2)),
                final_state: b256(&r.get::<Vec<u8>, _>(3)),
                steps: r.get::<i64, _>(4) as u64,
                output: r.get(5),
                challenge_deadline: r.get::<i64, _>(6) as u64,
                status: r.get(7),
                verdict: r.get(8),
            })
            .collect())
    }

    /// Records the challenger's verdict on a claim.
    pub async fn set_verdict(&self, claim: u64, verdict: &str) -> StoreResult<()> {
        sqlx::query("UPDATE claims SET verdict = $1 WHERE id = $2")
            .bind(verdict)
            .bind(claim as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets a claim's status from what the chain says.
    pub async fn set_claim_status(&self, claim: u64, status: &str) -> StoreResult<()> {
        let mut c = self.pool.acquire().await?;
        set_status(&mut c, "claims", claim as i64, status).await
    }

    /// Sets a game's status from what the chain says.
    pub async fn set_game_status(&self, game: u64, status: &str) -> StoreResult<()> {
        let mut c = self.pool.acquire().await?;
        set_status(&mut c, "games", game as i64, status).await
    }

    /// Games, optionally only those in `statuses`.
    pub async fn games(&self, statuses: &[&str]) -> StoreResult<Vec<GameRow>> {
        // filtered in SQL: finished games pile up over months
        let filter = match statuses.len() {
            0 => String::new(),
            n => format!(
                "WHERE status IN ({})",
                (1..=n)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, claim_id, challenger, block, status FROM games {filter} ORDER BY id"
        )));
        for st in statuses {
            q = q.bind(*st);
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| GameRow {
                id: r.get::<i64, _>(0) as u64,
                claim_id: r.get::<i64, _>(1) as u64,
                challenger: addr(&r.get::<Vec<u8>, _>(2)),
                block: r.get::<i64, _>(3) as u64,
                status: r.get(4),
            })
            .collect())
    }

    /// `who`'s games by side (`defender`, `challenger`) and status, counted
    /// in SQL (the metrics read this every pass, whatever the history).
    pub async fn game_counts(&self, who: Address) -> StoreResult<Vec<(String, String, u64)>> {
        let rows = sqlx::query(
            "SELECT CASE WHEN g.challenger = $1 THEN 'challenger' ELSE 'defender' END AS side,
                    g.status, COUNT(*)
             FROM games g JOIN claims c ON c.id = g.claim_id
             WHERE g.challenger = $1 OR c.submitter = $1
             GROUP BY side, g.status",
        )
        .bind(who.as_slice())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get::<i64, _>(2) as u64))
            .collect())
    }

    /// Takes or renews the lease on `item` for `owner` for `ttl`; false while
    /// another owner holds it unexpired. One statement (an upsert that only
    /// overwrites an expired or own lease), so it is atomic on both backends.
    pub async fn lease(
        &self,
        item: &str,
        owner: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        self.lease_at(item, owner, now, ttl.as_millis() as i64)
            .await
    }

    /// [`Store::lease`] at the given time (unix ms).
    pub async fn lease_at(
        &self,
        item: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "INSERT INTO leases (item, owner, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (item) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
             WHERE leases.owner = excluded.owner OR leases.expires_at < $4
             RETURNING owner",
        )
        .bind(item)
        .bind(owner)
        .bind(now_ms + ttl_ms)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Who holds an unexpired lease on `item`.
    pub async fn lease_owner(&self, item: &str) -> StoreResult<Option<String>> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        Ok(
            sqlx::query_scalar("SELECT owner FROM leases WHERE item = $1 AND expires_at >= $2")
                .bind(item)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Gives up `owner`'s lease on `item`.
    pub async fn release(&self, item: &str, owner: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM leases WHERE item = $1 AND owner = $2")
            .bind(item)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Transactions sent and not known to be mined.
    pub async fn pending_transactions(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM txs WHERE status = 'sent'")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// Hashes of the transactions sent for `purpose` that are pending or mined
    /// (not reverted, replaced or dropped).
    pub async fn sent_for(&self, purpose: &str) -> StoreResult<Vec<(B256, String)>> {
        let rows = sqlx::query(
            "SELECT hash, status FROM txs WHERE purpose = $1 AND status IN ('sent', 'mined')",
        )
        .bind(purpose)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (b256(&r.get::<Vec<u8>, _>(0)), r.get(1)))
            .collect())
    }

    /// Records a receipt: its status, block and gas fee (wei); the other
    /// versions of its nonce can never be mined now.
    pub async fn record_mined(&self, hash: B256, success: bool, block: u64, fee: u128) {
        let r = sqlx::query("UPDATE txs SET status = $1, block = $2, fee = $3 WHERE hash = $4")
            .bind(if success { "mined" } else { "reverted" })
            .bind(block as i64)
            .bind(fee.to_string())
            .bind(hash.as_slice())
            .execute(&self.pool)
            .await;
        // the other versions of the same nonce (fee bumps) can never be mined now
        let r = match r {
            Ok(_) => sqlx::query(
                "UPDATE txs SET status = 'replaced' WHERE status = 'sent'
                 AND nonce = (SELECT nonce FROM txs WHERE hash = $1)",
            )
            .bind(hash.as_slice())
            .execute(&self.pool)
            .await
            .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            tracing::error!(%hash, error = %e, "cannot record a receipt");
        }
    }

    /// Gas fees (wei) of the transactions mined that were sent since `unix` seconds.
    pub async fn fees_since(&self, unix: i64) -> StoreResult<u128> {
        let rows = sqlx::query(
            "SELECT fee FROM txs WHERE sent_at >= $1 AND status IN ('mined', 'reverted')",
        )
        .bind(unix)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.get::<String, _>(0).parse::<u128>().unwrap_or(0))
            .sum())
    }

    /// Every transaction sent, newest first (for status output).
    pub async fn transactions(&self, limit: u32) -> StoreResult<Vec<(String, u64, B256, String)>> {
        let rows =
            sqlx::query("SELECT purpose, nonce, hash, status FROM txs ORDER BY id DESC LIMIT $1")
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get::<i64, _>(1) as u64,
                    b256(&r.get::<Vec<u8>, _>(2)),
                    r.get(3),
                )
            })
            .collect())
    }
}

fn request_row(r: &AnyRow) -> RequestRow {
    RequestRow {
        id: r.get::<i64, _>(0) as u64,
        model_id: b256(&r.get::<Vec<u8>, _>(1)),
        input: r.get(2),
        deadline: r.get::<i64, _>(3) as u64,
        initial_state: b256(&r.get::<Vec<u8>, _>(4)),
        status: r.get(5),
        note: r.get(6),
    }
}

async fn insert_dissection(
    c: &mut AnyConnection,
    game: i64,
    log: &Log,
    points: &[B256],
) -> StoreResult<()> {
    let bytes: Vec<u8> = points.iter().flat_map(|p| p.0).collect();
    sqlx::query(
        "INSERT INTO dissections (game_id, block, log_index, points) VALUES ($1, $2, $3, $4)
         ON CONFLICT (game_id, block, log_index) DO UPDATE SET points = excluded.points",
    )
    .bind(game)
    .bind(log.block_number.unwrap_or_default() as i64)
    .bind(log.log_index.unwrap_or_default() as i64)
    .bind(bytes)
    .execute(&mut *c)
    .await?;
    Ok(())
}

async fn set_status(c: &mut AnyConnection, table: &str, id: i64, status: &str) -> StoreResult<()> {
    // `table` is one of the fixed names above, never input.
    let sql = format!("UPDATE {table} SET status = $1 WHERE id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

impl TxJournal for Store {
    async fn sent(&self, purpose: &str, nonce: u64, hash: B256) -> Result<(), String> {
        let r = sqlx::query(
            "INSERT INTO txs (purpose, nonce, hash, sent_at) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(purpose)
        .bind(nonce as i64)
        .bind(hash.as_slice())
        .bind(now_unix())
        .execute(&self.pool)
        .await;
        r.map(|_| ()).map_err(|e| {
            tracing::error!(purpose, %hash, error = %e, "cannot record a transaction before sending it; not sent");
            format!("the database refused the journal row: {e}")
        })
    }

    async fn mined(&self, receipt: &alloy::rpc::types::TransactionReceipt) {
        self.record_mined(
            receipt.transaction_hash,
            receipt.status(),
            receipt.block_number.unwrap_or_default(),
            receipt.gas_used as u128 * receipt.effective_gas_price,
        )
        .await
    }

    async fn dropped(&self, hash: B256) {
        let r = sqlx::query(
            "UPDATE txs SET status = 'dropped' WHERE hash = $1 AND status IN ('sent', 'mined')",
        )
        .bind(hash.as_slice())
        .execute(&self.pool)
        .await;
        if let Err(e) = r {
            tracing::error!(%hash, error = %e, "cannot record a dropped transaction");
        }
    }

    async fn in_flight(&self, purpose: &str) -> Vec<(B256, u64)> {
        let rows = sqlx::query(
            "SELECT hash, nonce FROM txs WHERE purpose = $1 AND status IN ('sent', 'mined') ORDER BY id",
        )
        .bind(purpose)
        .fetch_all(&self.pool)
        .await;
        match rows {
            Ok(rows) => rows
                .iter()
                .map(|r| (b256(&r.get::<Vec<u8>, _>(0)), r.get::<i64, _>(1) as u64))
                .collect(),
            Err(e) => {
                tracing::error!(purpose, error = %e, "cannot read the journal");
                vec![]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_migrates_and_keeps_the_cursor_and_journal_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), None).await.unwrap();
        assert_eq!(s.cursor().await.unwrap(), None);
        let c = Cursor {
            next: 42,
            parent: Some(B256::repeat_byte(7)),
        };
        s.ingest(&[], c).await.unwrap();
        s.sent("submit request 1", 3, B256::repeat_byte(1))
            .await
            .unwrap();
        s.record_mined(B256::repeat_byte(1), true, 40, 21_000 * 7)
            .await;
        drop(s);
        let s = Store::open(dir.path(), None).await.unwrap();
        assert_eq!(s.cursor().await.unwrap(), Some(c));
        assert_eq!(
            s.sent_for("submit request 1").await.unwrap(),
            vec![(B256::repeat_byte(1), "mined".to_string())]
        );
        assert_eq!(s.fees_since(0).await.unwrap(), 21_000 * 7);
        assert_eq!(s.fees_since(i64::MAX).await.unwrap(), 0);
    }

    /// An agent and a reader opening a fresh SQLite database at once both
    /// succeed: the migrations run once (they raced to "duplicate column").
    #[tokio::test(flavor = "multi_thread")]
    async fn two_processes_opening_one_database_migrate_it_once() {
        for _ in 0..8 {
            let dir = tempfile::tempdir().unwrap();
            let (a, b) = tokio::join!(Store::open(dir.path(), None), Store::open(dir.path(), None));
            a.unwrap();
            b.unwrap();
        }
        assert_eq!(
            sqlite_file("sqlite:///tmp/x/agent.sqlite?mode=rwc"),
            Some(PathBuf::from("/tmp/x/agent.sqlite"))
        );
        assert_eq!(sqlite_file("postgres://h/db"), None);
    }

    /// A pass reads live games and their claims, and the metrics count games
    /// in SQL: a long history of finished ones is never loaded.
    #[tokio::test]
    async fn live_games_and_counts_come_from_sql_over_a_long_history() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), None).await.unwrap();
        let (me, other) = (Address::repeat_byte(1), Address::repeat_byte(2));
        for id in 1..=300i64 {
            // claims by `me` (odd) and `other` (even); games challenged by the other side
            let (submitter, challenger) = if id % 2 == 1 {
                (me, other)
            } else {
                (other, me)
            };
            sqlx::query(
                "INSERT INTO claims (id, request_id, submitter, final_state, steps, output, challenge_deadline, block)
                 VALUES ($1, $1, $2, $3, 1, $4, 0, 1)",
            )
            .bind(id)
            .bind(submitter.as_slice())
            .bind(B256::ZERO.as_slice())
            .bind(vec![0u8])
            .execute(&s.pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO games (id, claim_id, challenger, block) VALUES ($1, $1, $2, 1)",
            )
            .bind(id)
            .bind(challenger.as_slice())
            .execute(&s.pool)
            .await
            .unwrap();
            if id > 2 {
                let status = if id % 3 == 0 {
                    "challenger_won"
                } else {
                    "defender_won"
                };
                s.set_game_status(id as u64, status).await.unwrap();
            }
        }
        let live = s.games(&["live"]).await.unwrap();
        assert_eq!(live.iter().map(|g| g.id).collect::<Vec<_>>(), [1, 2]);
        let claims = s.claims_by_id(&[1, 2]).await.unwrap();
        assert_eq!(claims.len(), 2);
        assert_eq!(claims[0].submitter, me);
        let counts = s.game_counts(me).await.unwrap();
        let n = |side: &str, status: &str| {
            counts
                .iter()
                .find(|c| c.0 == side && c.1 == status)
                .map_or(0, |c| c.2)
        };
        assert_eq!(n("defender", "live") + n("challenger", "live"), 2);
        assert_eq!(counts.iter().map(|c| c.2).sum::<u64>(), 300);
        // games 3..=300: every third the challenger won
        let challenger_won = (3..=300).filter(|i| i % 3 == 0).count() as u64;
        assert_eq!(
            n("defender", "challenger_won") + n("challenger", "challenger_won"),
            challenger_won
        );
    }

    #[tokio::test]
    async fn a_lease_is_one_owner_s_until_it_expires_or_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), None).await.unwrap();
        assert!(s.lease_at("game 1", "a", 1_000, 500).await.unwrap());
        assert!(!s.lease_at("game 1", "b", 1_400, 500).await.unwrap());
        // the owner renews it
        assert!(s.lease_at("game 1", "a", 1_400, 500).await.unwrap());
        assert!(!s.lease_at("game 1", "b", 1_800, 500).await.unwrap());
        // expired: another takes it over, and the first owner cannot renew
        assert!(s.lease_at("game 1", "b", 1_901, 500).await.unwrap());
        assert!(!s.lease_at("game 1", "a", 1_950, 500).await.unwrap());
        // released: free at once
        s.release("game 1", "b").await.unwrap();
        assert!(s.lease_at("game 1", "a", 1_960, 500).await.unwrap());
        assert!(s.lease_at("game 2", "b", 1_960, 500).await.unwrap());
    }
}
