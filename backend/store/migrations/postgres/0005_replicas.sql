ALTER TABLE databases ADD COLUMN replica_of TEXT NOT NULL DEFAULT '';

-- Replication of a source database (its replication role's password) and
-- of a replica (what its subscription reports, the last consistency check).
CREATE TABLE replication (
    region      TEXT NOT NULL,
    name        TEXT NOT NULL,
    password    TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT '{}',
    consistency TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (region, name)
);
