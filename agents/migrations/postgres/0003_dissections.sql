-- Every dissection of every game (DisputeGame.Dissected, and GameCreated as
-- the first one: [start, end]), so a move finds the game's current dissection
-- here instead of querying the game's logs from its creation to the head,
-- which public nodes refuse once a game lasts more than their block range.
CREATE TABLE dissections (
    game_id   BIGINT  NOT NULL,
    block     BIGINT  NOT NULL,
    log_index BIGINT  NOT NULL,
    points    BYTEA   NOT NULL,  -- the 32-byte hashes, concatenated
    PRIMARY KEY (game_id, block, log_index)
);
