-- Payments on chain (SQLite): the watcher's cursor and recent blocks,
-- payments, the double-entry ledger, and webhooks with their outbox.
-- Times are Unix milliseconds; block timestamps are seconds, as chains keep
-- them; amounts are base units as decimal text.

ALTER TABLE invoices ADD COLUMN exceptions TEXT NOT NULL DEFAULT '';
-- Expiry looks for new invoices whose window closed; startup loads the open ones.
CREATE INDEX invoices_by_chain_status_expiry ON invoices (chain_id, status, expires_at);
-- A watcher sharing a database with other gateways picks up their new invoices.
CREATE INDEX invoices_by_chain_created ON invoices (chain_id, created_at);

-- Each chain's watcher position: the last block it processed. Every step
-- moves it with a compare-and-set, so two watchers can never both apply a step.
CREATE TABLE chain_cursors (
    chain_id   INTEGER PRIMARY KEY NOT NULL,
    number     INTEGER NOT NULL CHECK (number >= 0),
    hash       BLOB NOT NULL CHECK (length(hash) = 32),
    updated_at INTEGER NOT NULL
) STRICT;

-- Recent canonical blocks, remembered to notice a reorganisation, also one
-- that happened while the watcher was stopped.
CREATE TABLE chain_blocks (
    chain_id    INTEGER NOT NULL,
    number      INTEGER NOT NULL CHECK (number >= 0),
    hash        BLOB NOT NULL CHECK (length(hash) = 32),
    parent_hash BLOB NOT NULL CHECK (length(parent_hash) = 32),
    timestamp   INTEGER NOT NULL,
    PRIMARY KEY (chain_id, number)
) STRICT;

CREATE TABLE payments (
    id           BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 32),
    invoice_id   BLOB NOT NULL REFERENCES invoices (id),
    chain_id     INTEGER NOT NULL,
    asset        TEXT NOT NULL,
    amount       TEXT NOT NULL CHECK (amount NOT GLOB '*[^0-9]*' AND length(amount) BETWEEN 1 AND 78),
    from_address BLOB NOT NULL CHECK (length(from_address) = 20),
    to_address   BLOB NOT NULL CHECK (length(to_address) = 20),
    tx_hash      BLOB NOT NULL CHECK (length(tx_hash) = 32),
    log_index    INTEGER CHECK (log_index >= 0),
    block_number INTEGER NOT NULL CHECK (block_number >= 0),
    block_hash   BLOB NOT NULL CHECK (length(block_hash) = 32),
    block_time   INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('canonical', 'orphaned')),
    booked_at    INTEGER,
    settled_at   INTEGER,
    seen_at      INTEGER NOT NULL,
    -- Booked (confirmed and in the ledger) before settled; orphaned ones are never booked later.
    CHECK (settled_at IS NULL OR booked_at IS NOT NULL)
) STRICT;
CREATE INDEX payments_by_invoice ON payments (invoice_id);
CREATE INDEX payments_by_chain_block ON payments (chain_id, block_number);
CREATE INDEX payments_unbooked ON payments (chain_id) WHERE booked_at IS NULL AND state = 'canonical';

-- The ledger. Entries of one transaction balance per asset (checked in
-- Rust before they are written, and by `coffer ledger check` after).
CREATE TABLE ledger_transactions (
    id         BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    kind       TEXT NOT NULL CHECK (kind IN ('receipt', 'settlement')),
    invoice_id BLOB NOT NULL REFERENCES invoices (id),
    payment_id BLOB REFERENCES payments (id),
    created_at INTEGER NOT NULL,
    CHECK ((kind = 'receipt') = (payment_id IS NOT NULL))
) STRICT;
-- Exactly once, enforced by the database: one receipt per payment. (A
-- payment is settled once: settling sets its settled_at, only if unset.)
CREATE UNIQUE INDEX ledger_one_receipt_per_payment ON ledger_transactions (payment_id) WHERE kind = 'receipt';

CREATE TABLE ledger_entries (
    transaction_id BLOB NOT NULL REFERENCES ledger_transactions (id),
    position       INTEGER NOT NULL CHECK (position >= 0),
    account        TEXT NOT NULL,
    chain_id       INTEGER NOT NULL,
    asset          TEXT NOT NULL,
    side           TEXT NOT NULL CHECK (side IN ('debit', 'credit')),
    amount         TEXT NOT NULL CHECK (amount NOT GLOB '*[^0-9]*' AND length(amount) BETWEEN 1 AND 78),
    PRIMARY KEY (transaction_id, position)
) STRICT;

-- Running totals per account, updated in the transaction that books the
-- entries; `coffer ledger check` recomputes them from the entries.
CREATE TABLE ledger_balances (
    account  TEXT NOT NULL,
    chain_id INTEGER NOT NULL,
    asset    TEXT NOT NULL,
    debits   TEXT NOT NULL,
    credits  TEXT NOT NULL,
    PRIMARY KEY (account, chain_id, asset)
) STRICT;

CREATE TABLE events (
    id          BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    merchant_id BLOB NOT NULL REFERENCES merchants (id),
    type        TEXT NOT NULL,
    invoice_id  BLOB REFERENCES invoices (id),
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX events_by_invoice ON events (invoice_id);

CREATE TABLE webhook_endpoints (
    id          BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    merchant_id BLOB NOT NULL REFERENCES merchants (id),
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    -- The signing secret, in clear: signing needs it. See docs/adr/0007.
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    deleted_at  INTEGER
) STRICT;
CREATE INDEX webhook_endpoints_by_merchant ON webhook_endpoints (merchant_id);

-- The outbox: a delivery is written in the same transaction as the change it reports.
CREATE TABLE webhook_deliveries (
    id              BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    endpoint_id     BLOB NOT NULL REFERENCES webhook_endpoints (id),
    event_id        BLOB NOT NULL REFERENCES events (id),
    merchant_id     BLOB NOT NULL REFERENCES merchants (id),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL))
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
