-- Deep reorganisations that re-mine a booked payment, internal transfers,
-- and halts an operator can see and resolve (PostgreSQL). See the SQLite
-- migration of the same number for what each column means.

ALTER TABLE payments DROP CONSTRAINT payments_state_check;
ALTER TABLE payments ADD CONSTRAINT payments_state_check
    CHECK (state IN ('canonical', 'orphaned', 'displaced', 'moved', 'written_off'));
ALTER TABLE payments ADD COLUMN moved_from BYTEA REFERENCES payments (id);
ALTER TABLE payments ADD COLUMN displaced_until BIGINT;
ALTER TABLE payments ADD COLUMN call_path TEXT CHECK (call_path ~ '^[0-9]+(\.[0-9]+)*$' AND length(call_path) <= 200);
ALTER TABLE payments ADD CONSTRAINT payments_kept_booked
    CHECK (state NOT IN ('displaced', 'moved', 'written_off') OR booked_at IS NOT NULL);
ALTER TABLE payments ADD CONSTRAINT payments_displaced_until CHECK ((state = 'displaced') = (displaced_until IS NOT NULL));
ALTER TABLE payments ADD CONSTRAINT payments_call_path_not_log CHECK (call_path IS NULL OR log_index IS NULL);
DROP INDEX payments_unbooked;
CREATE INDEX payments_pending ON payments (chain_id)
    WHERE (booked_at IS NULL AND state = 'canonical') OR state = 'displaced';
-- Invoices whose transfer may still come back stay watched: looked up at start
-- and by every prune of the watch list, which must not scan every payment.
CREATE INDEX payments_away ON payments (chain_id, invoice_id) WHERE state IN ('displaced', 'written_off');

ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check
    CHECK (kind IN ('receipt', 'settlement', 'write_off', 'recovery'));
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_names_payment
    CHECK ((kind = 'settlement') = (payment_id IS NULL));
DROP INDEX ledger_one_receipt_per_payment;
CREATE UNIQUE INDEX ledger_one_receipt_per_payment ON ledger_transactions (payment_id) WHERE kind = 'receipt';
-- Write-offs and recoveries come in pairs, as often as a transfer leaves and returns.
CREATE INDEX ledger_by_payment ON ledger_transactions (payment_id) WHERE payment_id IS NOT NULL;

CREATE TABLE chain_halts (
    id          UUID PRIMARY KEY,
    chain_id    BIGINT NOT NULL,
    code        TEXT NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
    reason      TEXT NOT NULL,
    block       BIGINT,
    halted_at   BIGINT NOT NULL,
    resolved_at BIGINT,
    resolution  TEXT,
    CHECK ((resolved_at IS NULL) = (resolution IS NULL))
);
CREATE UNIQUE INDEX chain_halts_open ON chain_halts (chain_id) WHERE resolved_at IS NULL;
