-- no-transaction
-- Deep reorganisations that re-mine a booked payment, internal transfers,
-- and halts an operator can see and resolve (SQLite).
--
-- SQLite cannot change a table's CHECK constraints, so `payments` and
-- `ledger_transactions` are rebuilt as SQLite's documentation prescribes:
-- foreign keys off (outside any transaction), one transaction that creates
-- the new table, copies the rows, drops the old one and renames the new,
-- a foreign key check, foreign keys back on. Hence `no-transaction` above.

PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

-- A payment's states (coffer_domain::PaymentState): `displaced` is a booked
-- payment whose block a reorganisation deeper than the confirmations took
-- away: it still counts while the same transfer is looked for on the new
-- chain, until block `displaced_until`. Found, its booking moves to the new
-- payment (`moved_from`) and it becomes `moved`; never found, an operator
-- writes it off (`written_off`).
CREATE TABLE payments_v3 (
    id              BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 32),
    invoice_id      BLOB NOT NULL REFERENCES invoices (id),
    chain_id        INTEGER NOT NULL,
    asset           TEXT NOT NULL,
    amount          TEXT NOT NULL CHECK (amount NOT GLOB '*[^0-9]*' AND length(amount) BETWEEN 1 AND 78),
    from_address    BLOB NOT NULL CHECK (length(from_address) = 20),
    to_address      BLOB NOT NULL CHECK (length(to_address) = 20),
    tx_hash         BLOB NOT NULL CHECK (length(tx_hash) = 32),
    log_index       INTEGER CHECK (log_index >= 0),
    block_number    INTEGER NOT NULL CHECK (block_number >= 0),
    block_hash      BLOB NOT NULL CHECK (length(block_hash) = 32),
    block_time      INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('canonical', 'orphaned', 'displaced', 'moved', 'written_off')),
    booked_at       INTEGER,
    settled_at      INTEGER,
    seen_at         INTEGER NOT NULL,
    -- The payment whose booking this one took last (a transfer re-mined
    -- elsewhere, or back in its first block): the rows so linked share one
    -- booking, and exactly one of them counts.
    moved_from      BLOB REFERENCES payments_v3 (id),
    displaced_until INTEGER,
    -- An internal (contract-made) native transfer: its position in the
    -- transaction's call tree, as the node's trace API numbers it ("0.1").
    call_path       TEXT CHECK (call_path NOT GLOB '*[^0-9.]*' AND length(call_path) BETWEEN 1 AND 200),
    CHECK (settled_at IS NULL OR booked_at IS NOT NULL),
    CHECK (state NOT IN ('displaced', 'moved', 'written_off') OR booked_at IS NOT NULL),
    CHECK ((state = 'displaced') = (displaced_until IS NOT NULL)),
    CHECK (call_path IS NULL OR log_index IS NULL)
) STRICT;
INSERT INTO payments_v3 (id, invoice_id, chain_id, asset, amount, from_address, to_address, tx_hash, log_index,
                         block_number, block_hash, block_time, state, booked_at, settled_at, seen_at)
    SELECT id, invoice_id, chain_id, asset, amount, from_address, to_address, tx_hash, log_index,
           block_number, block_hash, block_time, state, booked_at, settled_at, seen_at FROM payments;

-- Kinds: a receipt, a write-off and a recovery each name a payment, a settlement does not.
CREATE TABLE ledger_transactions_v3 (
    id         BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    kind       TEXT NOT NULL CHECK (kind IN ('receipt', 'settlement', 'write_off', 'recovery')),
    invoice_id BLOB NOT NULL REFERENCES invoices (id),
    payment_id BLOB REFERENCES payments (id),
    created_at INTEGER NOT NULL,
    CHECK ((kind = 'settlement') = (payment_id IS NULL))
) STRICT;
INSERT INTO ledger_transactions_v3 (id, kind, invoice_id, payment_id, created_at)
    SELECT id, kind, invoice_id, payment_id, created_at FROM ledger_transactions;

DROP TABLE ledger_transactions;
DROP TABLE payments;
ALTER TABLE payments_v3 RENAME TO payments;
ALTER TABLE ledger_transactions_v3 RENAME TO ledger_transactions;

CREATE INDEX payments_by_invoice ON payments (invoice_id);
CREATE INDEX payments_by_chain_block ON payments (chain_id, block_number);
-- What the watcher looks at every step: payments waiting for confirmations,
-- and displaced ones waiting for their transfer.
CREATE INDEX payments_pending ON payments (chain_id)
    WHERE (booked_at IS NULL AND state = 'canonical') OR state = 'displaced';
-- Invoices whose transfer may still come back stay watched: looked up at start
-- and by every prune of the watch list, which must not scan every payment.
CREATE INDEX payments_away ON payments (chain_id, invoice_id) WHERE state IN ('displaced', 'written_off');
-- Exactly once, enforced by the database: one receipt per payment.
CREATE UNIQUE INDEX ledger_one_receipt_per_payment ON ledger_transactions (payment_id) WHERE kind = 'receipt';
-- Write-offs and recoveries come in pairs, as often as a transfer leaves and returns.
CREATE INDEX ledger_by_payment ON ledger_transactions (payment_id) WHERE payment_id IS NOT NULL;

-- A chain's watcher stopped for a person (a transfer gone in a deep
-- reorganisation, a reorganisation deeper than the window, a node that
-- serves another chain or a token whose decimals differ from the
-- configuration). Written by the watcher when it halts; `coffer chain
-- status` shows it, `coffer chain resolve` resolves it.
CREATE TABLE chain_halts (
    id          BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    chain_id    INTEGER NOT NULL,
    code        TEXT NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
    reason      TEXT NOT NULL,
    block       INTEGER,
    halted_at   INTEGER NOT NULL,
    resolved_at INTEGER,
    resolution  TEXT,
    CHECK ((resolved_at IS NULL) = (resolution IS NULL))
) STRICT;
-- At most one open halt per chain.
CREATE UNIQUE INDEX chain_halts_open ON chain_halts (chain_id) WHERE resolved_at IS NULL;

PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
