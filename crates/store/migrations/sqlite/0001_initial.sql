-- Coffer's first schema (SQLite). Times are Unix milliseconds; amounts are
-- base units as decimal text (SQLite integers stop at 2^63, U256 does not).

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL CHECK (value >= 0)
) STRICT;
INSERT INTO counters (name, value) VALUES ('deposit_index', 0);

CREATE TABLE merchants (
    id         BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id            BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    merchant_id   BLOB NOT NULL REFERENCES merchants (id),
    secret_digest BLOB NOT NULL CHECK (length(secret_digest) = 32),
    scopes        TEXT NOT NULL,
    label         TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
) STRICT;
CREATE INDEX api_keys_by_merchant ON api_keys (merchant_id);

CREATE TABLE invoices (
    id                  BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    merchant_id         BLOB NOT NULL REFERENCES merchants (id),
    status              TEXT NOT NULL CHECK (status IN ('new', 'processing', 'settled', 'expired', 'invalid')),
    chain_id            INTEGER NOT NULL,
    asset               TEXT NOT NULL,
    amount              TEXT NOT NULL CHECK (amount NOT GLOB '*[^0-9]*' AND length(amount) BETWEEN 1 AND 78),
    derivation_index    INTEGER NOT NULL UNIQUE CHECK (derivation_index BETWEEN 0 AND 2147483647),
    address             BLOB NOT NULL UNIQUE CHECK (length(address) = 20),
    order_id            TEXT,
    metadata            TEXT NOT NULL DEFAULT '{}',
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    idempotency_key     TEXT,
    request_fingerprint BLOB,
    UNIQUE (merchant_id, idempotency_key)
) STRICT;
CREATE INDEX invoices_by_merchant ON invoices (merchant_id, id);
CREATE INDEX invoices_by_merchant_status ON invoices (merchant_id, status, id);
