-- Intents a step records before its effect in the region, so that a crash
-- between the two has one right recovery: check_pending_version is the
-- schema version whose rollout health check (after its migration) has not
-- passed yet, run again by a resumed operation; revert_pending_version is
-- the version whose down migration is being run, which the ledger may
-- already have lost. 0 is none.
ALTER TABLE databases ADD COLUMN check_pending_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE databases ADD COLUMN revert_pending_version INTEGER NOT NULL DEFAULT 0;
