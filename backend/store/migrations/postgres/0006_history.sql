-- History the operations dashboard shows: replication lag samples of each
-- replica (the replication monitor appends one per pass; older than
-- LagSamplesKept are dropped) and when each step of an operation started.
CREATE TABLE lag_samples (
    region      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    time        BIGINT  NOT NULL,
    lag_bytes   BIGINT  NOT NULL,
    -- The lag in time, in microseconds: an integer in every dialect.
    lag_micros  BIGINT  NOT NULL,
    PRIMARY KEY (region, name, time)
);

CREATE TABLE operation_steps (
    operation_id TEXT    NOT NULL,
    step         TEXT    NOT NULL,
    started_at   BIGINT  NOT NULL,
    PRIMARY KEY (operation_id, step)
);
