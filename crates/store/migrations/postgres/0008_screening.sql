-- Screening (PostgreSQL), ADR 0015; see the SQLite migration of the same
-- number for what each column means.

ALTER TABLE payments ADD COLUMN hold_state TEXT CHECK (hold_state IN ('held', 'released', 'rejected'));
ALTER TABLE payments ADD COLUMN hold_reason TEXT CHECK (hold_reason IS NULL OR hold_reason::json IS NOT NULL);
ALTER TABLE payments ADD COLUMN hold_decided_at BIGINT;
ALTER TABLE payments ADD COLUMN hold_note TEXT;
CREATE INDEX payments_held ON payments (invoice_id) WHERE hold_state IS NOT NULL;

ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check
    CHECK (kind IN ('receipt', 'settlement', 'write_off', 'recovery', 'reserve', 'release', 'payout', 'network_fee',
                    'sweep', 'top_up', 'hot_to_cold', 'held_receipt', 'hold_release'));
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_names_payment;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_names_payment
    CHECK ((kind IN ('receipt', 'write_off', 'recovery', 'held_receipt', 'hold_release')) = (payment_id IS NOT NULL));
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_names_invoice;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_names_invoice
    CHECK ((kind IN ('receipt', 'settlement', 'write_off', 'recovery', 'held_receipt', 'hold_release'))
           = (invoice_id IS NOT NULL));
CREATE UNIQUE INDEX ledger_one_hold_posting_per_payment ON ledger_transactions (payment_id, kind)
    WHERE kind IN ('held_receipt', 'hold_release');

CREATE TABLE screening_lists (
    name        TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 200),
    format      TEXT NOT NULL,
    sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
    entries     BIGINT NOT NULL CHECK (entries >= 0),
    content     BYTEA NOT NULL,
    imported_at BIGINT NOT NULL
);
