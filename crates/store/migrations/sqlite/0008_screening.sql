-- no-transaction
-- Screening (SQLite), ADR 0015: payments held because their sender is on a
-- sanction or stolen-funds list, the ledger postings of a hold, and the
-- screening lists operators imported.
--
-- A payment's hold: `held` until an operator releases or rejects it, then
-- final. The hit is kept as the JSON the gateway showed (category, list,
-- line, label, path), with the operator's decision time and reason.
-- Columns can be added with a CHECK; the kinds of `ledger_transactions`
-- cannot be widened in place, so that table is rebuilt as in 0006.

PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

ALTER TABLE payments ADD COLUMN hold_state TEXT CHECK (hold_state IN ('held', 'released', 'rejected'));
ALTER TABLE payments ADD COLUMN hold_reason TEXT CHECK (hold_reason IS NULL OR json_valid(hold_reason));
ALTER TABLE payments ADD COLUMN hold_decided_at INTEGER;
ALTER TABLE payments ADD COLUMN hold_note TEXT;
CREATE INDEX payments_held ON payments (invoice_id) WHERE hold_state IS NOT NULL;

CREATE TABLE ledger_transactions_v8 (
    id         BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    kind       TEXT NOT NULL CHECK (kind IN ('receipt', 'settlement', 'write_off', 'recovery', 'reserve', 'release',
                                             'payout', 'network_fee', 'sweep', 'top_up', 'hot_to_cold',
                                             'held_receipt', 'hold_release')),
    invoice_id BLOB REFERENCES invoices (id),
    payment_id BLOB REFERENCES payments (id),
    payout_id  BLOB REFERENCES payouts (id),
    sweep_id   BLOB REFERENCES sweeps (id),
    created_at INTEGER NOT NULL,
    CHECK ((kind IN ('receipt', 'settlement', 'write_off', 'recovery', 'held_receipt', 'hold_release'))
           = (invoice_id IS NOT NULL)),
    CHECK ((kind IN ('receipt', 'write_off', 'recovery', 'held_receipt', 'hold_release')) = (payment_id IS NOT NULL)),
    CHECK (kind NOT IN ('reserve', 'release', 'payout') OR payout_id IS NOT NULL),
    CHECK (kind IN ('reserve', 'release', 'payout', 'network_fee') OR payout_id IS NULL),
    CHECK (kind NOT IN ('sweep', 'top_up') OR sweep_id IS NOT NULL),
    CHECK (kind IN ('sweep', 'top_up', 'network_fee') OR sweep_id IS NULL),
    CHECK (kind <> 'network_fee' OR (payout_id IS NULL) <> (sweep_id IS NULL))
) STRICT;
INSERT INTO ledger_transactions_v8 (id, kind, invoice_id, payment_id, payout_id, sweep_id, created_at)
    SELECT id, kind, invoice_id, payment_id, payout_id, sweep_id, created_at FROM ledger_transactions;
DROP TABLE ledger_transactions;
ALTER TABLE ledger_transactions_v8 RENAME TO ledger_transactions;

CREATE UNIQUE INDEX ledger_one_receipt_per_payment ON ledger_transactions (payment_id) WHERE kind = 'receipt';
-- A held payment is booked once, and released at most once.
CREATE UNIQUE INDEX ledger_one_hold_posting_per_payment ON ledger_transactions (payment_id, kind)
    WHERE kind IN ('held_receipt', 'hold_release');
CREATE INDEX ledger_by_payment ON ledger_transactions (payment_id) WHERE payment_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_once_per_payout ON ledger_transactions (payout_id, kind) WHERE payout_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_once_per_sweep ON ledger_transactions (sweep_id, kind) WHERE sweep_id IS NOT NULL;

-- The screening lists an operator imported (`coffer screening import`):
-- the file's bytes as given, so every gateway sharing the database screens
-- with exactly the same entries, and its content hash, as on the audit log.
-- Importing a list of the same name replaces it.
CREATE TABLE screening_lists (
    name        TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    format      TEXT NOT NULL,
    sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
    entries     INTEGER NOT NULL CHECK (entries >= 0),
    content     BLOB NOT NULL,
    imported_at INTEGER NOT NULL
) STRICT;

PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
