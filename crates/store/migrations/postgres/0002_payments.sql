-- Payments on chain (PostgreSQL): the same tables as the SQLite schema, so
-- both stores share one row format. Times are Unix milliseconds; block
-- timestamps are seconds, as chains keep them; amounts are base units as
-- decimal text, checked to be digits only.

ALTER TABLE invoices ADD COLUMN exceptions TEXT NOT NULL DEFAULT '';
CREATE INDEX invoices_by_chain_status_expiry ON invoices (chain_id, status, expires_at);
CREATE INDEX invoices_by_chain_created ON invoices (chain_id, created_at);

-- Each step of a chain's watcher moves its cursor with a compare-and-set,
-- so two gateways can never both apply a step.
CREATE TABLE chain_cursors (
    chain_id   BIGINT PRIMARY KEY,
    number     BIGINT NOT NULL CHECK (number >= 0),
    hash       BYTEA NOT NULL CHECK (length(hash) = 32),
    updated_at BIGINT NOT NULL
);

CREATE TABLE chain_blocks (
    chain_id    BIGINT NOT NULL,
    number      BIGINT NOT NULL CHECK (number >= 0),
    hash        BYTEA NOT NULL CHECK (length(hash) = 32),
    parent_hash BYTEA NOT NULL CHECK (length(parent_hash) = 32),
    timestamp   BIGINT NOT NULL,
    PRIMARY KEY (chain_id, number)
);

CREATE TABLE payments (
    id           BYTEA PRIMARY KEY CHECK (length(id) = 32),
    invoice_id   UUID NOT NULL REFERENCES invoices (id),
    chain_id     BIGINT NOT NULL,
    asset        TEXT NOT NULL,
    amount       TEXT NOT NULL CHECK (amount ~ '^[0-9]{1,78}$'),
    from_address BYTEA NOT NULL CHECK (length(from_address) = 20),
    to_address   BYTEA NOT NULL CHECK (length(to_address) = 20),
    tx_hash      BYTEA NOT NULL CHECK (length(tx_hash) = 32),
    log_index    BIGINT CHECK (log_index >= 0),
    block_number BIGINT NOT NULL CHECK (block_number >= 0),
    block_hash   BYTEA NOT NULL CHECK (length(block_hash) = 32),
    block_time   BIGINT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('canonical', 'orphaned')),
    booked_at    BIGINT,
    settled_at   BIGINT,
    seen_at      BIGINT NOT NULL,
    CHECK (settled_at IS NULL OR booked_at IS NOT NULL)
);
CREATE INDEX payments_by_invoice ON payments (invoice_id);
CREATE INDEX payments_by_chain_block ON payments (chain_id, block_number);
CREATE INDEX payments_unbooked ON payments (chain_id) WHERE booked_at IS NULL AND state = 'canonical';

CREATE TABLE ledger_transactions (
    id         UUID PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('receipt', 'settlement')),
    invoice_id UUID NOT NULL REFERENCES invoices (id),
    payment_id BYTEA REFERENCES payments (id),
    created_at BIGINT NOT NULL,
    CHECK ((kind = 'receipt') = (payment_id IS NOT NULL))
);
-- One receipt per payment; a payment is settled once (its settled_at, set only if unset).
CREATE UNIQUE INDEX ledger_one_receipt_per_payment ON ledger_transactions (payment_id) WHERE kind = 'receipt';

CREATE TABLE ledger_entries (
    transaction_id UUID NOT NULL REFERENCES ledger_transactions (id),
    position       BIGINT NOT NULL CHECK (position >= 0),
    account        TEXT NOT NULL,
    chain_id       BIGINT NOT NULL,
    asset          TEXT NOT NULL,
    side           TEXT NOT NULL CHECK (side IN ('debit', 'credit')),
    amount         TEXT NOT NULL CHECK (amount ~ '^[0-9]{1,78}$'),
    PRIMARY KEY (transaction_id, position)
);

CREATE TABLE ledger_balances (
    account  TEXT NOT NULL,
    chain_id BIGINT NOT NULL,
    asset    TEXT NOT NULL,
    debits   TEXT NOT NULL,
    credits  TEXT NOT NULL,
    PRIMARY KEY (account, chain_id, asset)
);

CREATE TABLE events (
    id          UUID PRIMARY KEY,
    merchant_id UUID NOT NULL REFERENCES merchants (id),
    type        TEXT NOT NULL,
    invoice_id  UUID REFERENCES invoices (id),
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX events_by_invoice ON events (invoice_id);

CREATE TABLE webhook_endpoints (
    id          UUID PRIMARY KEY,
    merchant_id UUID NOT NULL REFERENCES merchants (id),
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);
CREATE INDEX webhook_endpoints_by_merchant ON webhook_endpoints (merchant_id);

CREATE TABLE webhook_deliveries (
    id              UUID PRIMARY KEY,
    endpoint_id     UUID NOT NULL REFERENCES webhook_endpoints (id),
    event_id        UUID NOT NULL REFERENCES events (id),
    merchant_id     UUID NOT NULL REFERENCES merchants (id),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at BIGINT,
    last_attempt_at BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
