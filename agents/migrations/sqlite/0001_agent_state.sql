-- State of one agent (submitter or challenger): what it has seen on the chain
-- and every transaction it has signed. Everything here can be rebuilt from the
-- chain (from the deployment block), except the transaction journal, which only
-- makes a restart cheaper.

-- The log follower's position: the next block to scan and the hash of the one before.
CREATE TABLE cursor (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    next_block  INTEGER NOT NULL,
    parent_hash BLOB
);

-- InferenceMarket.Requested
CREATE TABLE requests (
    id            INTEGER PRIMARY KEY,
    model_id      BLOB    NOT NULL,
    requester     BLOB    NOT NULL,
    fee           TEXT    NOT NULL,          -- wei, decimal
    deadline      INTEGER NOT NULL,          -- unix seconds
    initial_state BLOB    NOT NULL,
    input         BLOB    NOT NULL,
    block         INTEGER NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'open',  -- open | finalized | closed
    note          TEXT                       -- why this agent skips it, if it does
);

-- InferenceMarket.Submitted
CREATE TABLE claims (
    id                 INTEGER PRIMARY KEY,
    request_id         INTEGER NOT NULL,
    submitter          BLOB    NOT NULL,
    final_state        BLOB    NOT NULL,
    steps              INTEGER NOT NULL,
    output             BLOB    NOT NULL,
    challenge_deadline INTEGER NOT NULL,
    block              INTEGER NOT NULL,
    status             TEXT    NOT NULL DEFAULT 'pending',  -- pending | voided | finalized | released
    verdict            TEXT                                 -- challenger: agrees | differs (why) | skipped (why)
);
CREATE INDEX claims_by_request ON claims (request_id);

-- InferenceMarket.Challenged (+ DisputeGame.GameEnded)
CREATE TABLE games (
    id         INTEGER PRIMARY KEY,
    claim_id   INTEGER NOT NULL,
    challenger BLOB    NOT NULL,
    block      INTEGER NOT NULL,
    status     TEXT    NOT NULL DEFAULT 'live',  -- live | defender_won | challenger_won | cancelled | closed
    last_note  TEXT
);
CREATE INDEX games_by_claim ON games (claim_id);

-- Every transaction this agent signed: purpose (e.g. `submit request 3`,
-- `move game 2 #5`), nonce, hash and what became of it.
CREATE TABLE txs (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    purpose TEXT    NOT NULL,
    nonce   INTEGER NOT NULL,
    hash    BLOB    NOT NULL UNIQUE,
    status  TEXT    NOT NULL DEFAULT 'sent',  -- sent | mined | reverted
    block   INTEGER,
    sent_at INTEGER NOT NULL                  -- unix seconds (local clock)
);
CREATE INDEX txs_by_purpose ON txs (purpose);
