-- The web console (PostgreSQL), ADR 0017; see the SQLite migration of the
-- same number for what each column means.
CREATE TABLE console_links (
    digest      BYTEA PRIMARY KEY CHECK (length(digest) = 32),
    merchant_id UUID REFERENCES merchants (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE TABLE console_sessions (
    digest      BYTEA PRIMARY KEY CHECK (length(digest) = 32),
    merchant_id UUID REFERENCES merchants (id),
    opened_by   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    ended_at    BIGINT
);

CREATE INDEX invoices_by_order_id ON invoices (merchant_id, order_id);
CREATE INDEX ledger_transactions_by_invoice ON ledger_transactions (invoice_id);
