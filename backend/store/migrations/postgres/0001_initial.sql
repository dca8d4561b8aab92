-- The same tables as migrations/sqlite/0001_initial.sql. Times are Unix
-- microseconds in BIGINT in both dialects, so that the store's queries are
-- written once.
CREATE TABLE databases (
    region              TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    owner               TEXT    NOT NULL,
    password            TEXT    NOT NULL,
    deletion_protection BOOLEAN NOT NULL,
    skip_final_backup   BOOLEAN NOT NULL,
    status              TEXT    NOT NULL,
    generation          BIGINT  NOT NULL,
    observed_generation BIGINT  NOT NULL,
    operation_id        TEXT    NOT NULL DEFAULT '',
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    PRIMARY KEY (region, name)
);

CREATE TABLE operations (
    id               TEXT    PRIMARY KEY,
    kind             TEXT    NOT NULL,
    region           TEXT    NOT NULL,
    database         TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    step             TEXT    NOT NULL DEFAULT '',
    progress         TEXT    NOT NULL DEFAULT '',
    error            TEXT,
    generation       BIGINT  NOT NULL,
    request_id       TEXT    NOT NULL DEFAULT '',
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX operations_target ON operations (region, database, created_at);

CREATE TABLE idempotency_keys (
    principal    TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    status       INTEGER NOT NULL DEFAULT 0,
    headers      TEXT    NOT NULL DEFAULT '{}',
    body         BYTEA,
    created_at   BIGINT  NOT NULL,
    locked_until BIGINT  NOT NULL,
    PRIMARY KEY (principal, key)
);

CREATE TABLE api_tokens (
    name       TEXT   PRIMARY KEY,
    hash       TEXT   NOT NULL UNIQUE,
    scope      TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
