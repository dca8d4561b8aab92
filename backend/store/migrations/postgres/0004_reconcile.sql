-- Self-healing: each database's drift policy, the conditions the reconciler
-- observed, its events, and when the reconciler checks each database next.
ALTER TABLE databases ADD COLUMN drift_policy TEXT NOT NULL DEFAULT 'heal';
-- Written only by DatabaseConditionsPut, never by DatabasePut, so that an
-- operation writing the spec back never loses what the reconciler observed.
ALTER TABLE databases ADD COLUMN conditions TEXT NOT NULL DEFAULT '[]';

CREATE TABLE database_events (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region  TEXT    NOT NULL,
    name    TEXT    NOT NULL,
    time    BIGINT  NOT NULL,
    type    TEXT    NOT NULL,
    reason  TEXT    NOT NULL,
    message TEXT    NOT NULL
);
CREATE INDEX database_events_target ON database_events (region, name, id);

-- One row per database the reconciler has seen.
CREATE TABLE reconcile_state (
    region        TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    generation    BIGINT  NOT NULL,
    checked_at    BIGINT  NOT NULL,
    next_check_at BIGINT  NOT NULL,
    failures      BIGINT  NOT NULL DEFAULT 0,
    findings      TEXT    NOT NULL DEFAULT '[]',
    claimed_until BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (region, name)
);
