-- The gateway's hash-chained audit log (coffer-audit), as in the SQLite
-- schema. `detail` is TEXT, not JSONB: it is the record's canonical JSON,
-- the very text its hash covers, and JSONB would respell numbers.
CREATE TABLE audit_log (
    seq     BIGINT PRIMARY KEY CHECK (seq >= 1),
    at_ms   BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL,
    -- One entry per predecessor: whatever a writer gets wrong, the log cannot fork.
    prev    BYTEA NOT NULL UNIQUE CHECK (length(prev) = 32),
    hash    BYTEA NOT NULL CHECK (length(hash) = 32)
);
-- The last entry of a kind (the configuration the gateway last logged).
CREATE INDEX audit_log_by_action ON audit_log (action, seq);

-- The head, one row. Gateways sharing the database append one at a time:
-- each append locks this row (SELECT … FOR UPDATE), reads the head, inserts
-- the entry after it and moves the head, in one transaction.
CREATE TABLE audit_head (
    id   SMALLINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL CHECK (seq >= 0),
    hash BYTEA NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));
