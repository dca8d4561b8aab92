-- One row per mutating request and per failed authentication, newest last.
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time        BIGINT  NOT NULL,
    principal   TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    status      BIGINT  NOT NULL,
    request_id  TEXT    NOT NULL,
    remote_addr TEXT    NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time);
