-- Coffer's first schema (PostgreSQL). Times are Unix milliseconds, as in the
-- SQLite schema, so both stores share one row format; amounts are base
-- units as decimal text, checked to be digits only.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL CHECK (value >= 0)
);
INSERT INTO counters (name, value) VALUES ('deposit_index', 0);

CREATE TABLE merchants (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            UUID PRIMARY KEY,
    merchant_id   UUID NOT NULL REFERENCES merchants (id),
    secret_digest BYTEA NOT NULL CHECK (length(secret_digest) = 32),
    scopes        TEXT NOT NULL,
    label         TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_by_merchant ON api_keys (merchant_id);

CREATE TABLE invoices (
    id                  UUID PRIMARY KEY,
    merchant_id         UUID NOT NULL REFERENCES merchants (id),
    status              TEXT NOT NULL CHECK (status IN ('new', 'processing', 'settled', 'expired', 'invalid')),
    chain_id            BIGINT NOT NULL,
    asset               TEXT NOT NULL,
    amount              TEXT NOT NULL CHECK (amount ~ '^[0-9]{1,78}$'),
    derivation_index    BIGINT NOT NULL UNIQUE CHECK (derivation_index BETWEEN 0 AND 2147483647),
    address             BYTEA NOT NULL UNIQUE CHECK (length(address) = 20),
    order_id            TEXT,
    metadata            JSONB NOT NULL DEFAULT '{}',
    created_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    idempotency_key     TEXT,
    request_fingerprint BYTEA,
    UNIQUE (merchant_id, idempotency_key)
);
CREATE INDEX invoices_by_merchant ON invoices (merchant_id, id);
CREATE INDEX invoices_by_merchant_status ON invoices (merchant_id, status, id);
