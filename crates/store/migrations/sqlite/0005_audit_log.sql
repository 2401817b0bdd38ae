-- The gateway's hash-chained audit log (coffer-audit): one row per entry,
-- appended after the head in the transaction of the act it records.
-- `detail` is the record's canonical JSON, the very text its hash covers.
CREATE TABLE audit_log (
    seq     INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
    at_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL,
    -- One entry per predecessor: whatever a writer gets wrong, the log cannot fork.
    prev    BLOB NOT NULL UNIQUE CHECK (length(prev) = 32),
    hash    BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
-- The last entry of a kind (the configuration the gateway last logged).
CREATE INDEX audit_log_by_action ON audit_log (action, seq);

-- The head, one row: appends read it and move it in their transaction, so
-- a verifier can tell entries deleted from the end (the head names one the
-- log lacks).
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq  INTEGER NOT NULL CHECK (seq >= 0),
    hash BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));
