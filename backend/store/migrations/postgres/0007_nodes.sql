-- The nodes sharing a PostgreSQL store (only PostgreSQL stores have several):
-- each heartbeats, and the running jobs of a node that stopped are re-queued.
-- id is the node's River client ID, which River records in attempted_by.
CREATE TABLE dbfleet_nodes (
    id           TEXT        PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
);
