-- What each mined transaction cost in gas (wei, as decimal text: it can pass
-- 64 bits), so a daily fee budget can be checked against the journal.
ALTER TABLE txs ADD COLUMN fee TEXT NOT NULL DEFAULT '0';
