-- Leases of work items (`request 3`, `claim 5`, `game 2`) among the instances
-- of one agent that share this database: one instance at a time acts on an
-- item, and a dead instance's items are free once its leases expire.
CREATE TABLE leases (
    item       TEXT   PRIMARY KEY,
    owner      TEXT   NOT NULL,  -- the instance holding it
    expires_at BIGINT NOT NULL   -- unix milliseconds; anyone may take it after this
);
