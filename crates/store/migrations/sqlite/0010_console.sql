-- The web console (ADR 0017): one-time sign-in links and the sessions
-- they open. Only SHA-256 digests of the secrets are stored, as for API
-- keys: a copy of the database opens no session. `merchant_id` is NULL
-- for the operator.
CREATE TABLE console_links (
    digest      BLOB PRIMARY KEY NOT NULL CHECK (length(digest) = 32),
    merchant_id BLOB REFERENCES merchants (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    -- Set once, when the link is used: it opens one session, never two.
    used_at     INTEGER
) STRICT;

CREATE TABLE console_sessions (
    digest      BLOB PRIMARY KEY NOT NULL CHECK (length(digest) = 32),
    merchant_id BLOB REFERENCES merchants (id),
    -- How the session was opened: 'link' or 'api_key:<key id>'.
    opened_by   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ended_at    INTEGER
) STRICT;

-- The console's search: a merchant's invoice by its order id.
CREATE INDEX invoices_by_order_id ON invoices (merchant_id, order_id);
-- One invoice's story: its ledger transactions.
CREATE INDEX ledger_transactions_by_invoice ON ledger_transactions (invoice_id);
