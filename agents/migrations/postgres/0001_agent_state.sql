-- PostgreSQL schema: the same tables as migrations/sqlite, in PostgreSQL types.
-- State of one agent (submitter or challenger): what it has seen on the chain
-- and every transaction it has signed. Everything here can be rebuilt from the
-- chain (from the deployment block), except the transaction journal, which only
-- makes a restart cheaper.

-- The log follower's position: the next block to scan and the hash of the one before.
CREATE TABLE cursor (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    next_block  BIGINT NOT NULL,
    parent_hash BYTEA
);

-- InferenceMarket.Requested
CREATE TABLE requests (
    id            BIGINT PRIMARY KEY,
    model_id      BYTEA    NOT NULL,
    requester     BYTEA    NOT NULL,
    fee           TEXT    NOT NULL,          -- wei, decimal
    deadline      BIGINT NOT NULL,          -- unix seconds
    initial_state BYTEA    NOT NULL,
    input         BYTEA    NOT NULL,
    block         BIGINT NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'open',  -- open | finalized | closed
    note          TEXT                       -- why this agent skips it, if it does
);

-- InferenceMarket.Submitted
CREATE TABLE claims (
    id                 BIGINT PRIMARY KEY,
    request_id         BIGINT NOT NULL,
    submitter          BYTEA    NOT NULL,
    final_state        BYTEA    NOT NULL,
    steps              BIGINT NOT NULL,
    output             BYTEA    NOT NULL,
    challenge_deadline BIGINT NOT NULL,
    block              BIGINT NOT NULL,
    status             TEXT    NOT NULL DEFAULT 'pending',  -- pending | voided | finalized | released
    verdict            TEXT                                 -- challenger: agrees | differs (why) | skipped (why)
);
CREATE INDEX claims_by_request ON claims (request_id);

-- InferenceMarket.Challenged (+ DisputeGame.GameEnded)
CREATE TABLE games (
    id         BIGINT PRIMARY KEY,
    claim_id   BIGINT NOT NULL,
    challenger BYTEA    NOT NULL,
    block      BIGINT NOT NULL,
    status     TEXT    NOT NULL DEFAULT 'live',  -- live | defender_won | challenger_won | cancelled | closed
    last_note  TEXT
);
CREATE INDEX games_by_claim ON games (claim_id);

-- Every transaction this agent signed: purpose (e.g. `submit request 3`,
-- `move game 2 #5`), nonce, hash and what became of it.
CREATE TABLE txs (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    purpose TEXT    NOT NULL,
    nonce   BIGINT NOT NULL,
    hash    BYTEA    NOT NULL UNIQUE,
    status  TEXT    NOT NULL DEFAULT 'sent',  -- sent | mined | reverted
    block   BIGINT,
    sent_at BIGINT NOT NULL                  -- unix seconds (local clock)
);
CREATE INDEX txs_by_purpose ON txs (purpose);
