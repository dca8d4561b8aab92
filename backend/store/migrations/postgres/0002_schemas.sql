ALTER TABLE databases ADD COLUMN schema_name TEXT NOT NULL DEFAULT '';
ALTER TABLE databases ADD COLUMN schema_version BIGINT  NOT NULL DEFAULT 0;
ALTER TABLE databases ADD COLUMN parameters TEXT NOT NULL DEFAULT '{}';
ALTER TABLE databases ADD COLUMN applied_version BIGINT  NOT NULL DEFAULT 0;
CREATE INDEX databases_schema ON databases (schema_name);

CREATE TABLE schemas (
    name       TEXT    PRIMARY KEY,
    rollout    TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

CREATE TABLE schema_migrations (
    schema_name TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    up          TEXT    NOT NULL,
    down        TEXT    NOT NULL DEFAULT '',
    checksum    TEXT    NOT NULL,
    PRIMARY KEY (schema_name, version)
);

-- Only rollouts that stopped have a row; the others are derived.
CREATE TABLE rollouts (
    schema_name TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    state       TEXT    NOT NULL,
    halt        TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (schema_name, version)
);

-- When each database reached each version: the store's copy of the
-- databases' ledgers, which rollout gates read.
CREATE TABLE database_migrations (
    region     TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    BIGINT  NOT NULL,
    applied_at BIGINT  NOT NULL,
    PRIMARY KEY (region, name, version)
);
