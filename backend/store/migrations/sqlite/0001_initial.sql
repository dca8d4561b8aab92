CREATE TABLE databases (
    region              TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    owner               TEXT    NOT NULL,
    password            TEXT    NOT NULL,
    deletion_protection INTEGER NOT NULL,
    skip_final_backup   INTEGER NOT NULL,
    status              TEXT    NOT NULL,
    generation          INTEGER NOT NULL,
    observed_generation INTEGER NOT NULL,
    operation_id        TEXT    NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
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
    generation       INTEGER NOT NULL,
    request_id       TEXT    NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX operations_target ON operations (region, database, created_at);

CREATE TABLE idempotency_keys (
    principal    TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    status       INTEGER NOT NULL DEFAULT 0,
    headers      TEXT    NOT NULL DEFAULT '{}',
    body         BLOB,
    created_at   INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    PRIMARY KEY (principal, key)
);

CREATE TABLE api_tokens (
    name       TEXT    PRIMARY KEY,
    hash       TEXT    NOT NULL UNIQUE,
    scope      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
