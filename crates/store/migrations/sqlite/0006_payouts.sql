-- no-transaction
-- Payouts and refunds, the durable outbox of requests to the signer, sweeps
-- of deposit addresses, and the ledger postings that follow the money out
-- (SQLite). Version 0006: 0005 is the audit log's.
--
-- `ledger_transactions` gains postings that name a payout or a sweep and
-- no invoice, so it is rebuilt as in 0003 (SQLite cannot change a table's
-- CHECK constraints or a column's NOT NULL): foreign keys off outside any
-- transaction, one transaction that builds, copies, drops and renames, a
-- foreign key check, foreign keys back on.

PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

-- A payout as the merchant asked for it and as the signer answered. Its
-- reserve is booked in the transaction that inserts it, with its outbox row.
CREATE TABLE payouts (
    id                  BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    merchant_id         BLOB NOT NULL REFERENCES merchants (id),
    chain_id            INTEGER NOT NULL,
    asset               TEXT NOT NULL,
    amount              TEXT NOT NULL CHECK (amount NOT GLOB '*[^0-9]*' AND length(amount) BETWEEN 1 AND 78),
    destination         BLOB NOT NULL CHECK (length(destination) = 20),
    status              TEXT NOT NULL
                        CHECK (status IN ('pending', 'pending_cooldown', 'refused', 'broadcast', 'confirmed', 'failed')),
    -- Where the reserve came from: the merchant's balance, or suspense (a
    -- refund of what an invalidated or expired invoice received).
    source              TEXT NOT NULL CHECK (source IN ('merchant', 'suspense')),
    refund_of           BLOB REFERENCES invoices (id),
    -- The chain's native coin: the network fee is booked in it.
    fee_asset           TEXT NOT NULL,
    cooldown_until      INTEGER,
    refusal_rule        TEXT CHECK (length(refusal_rule) BETWEEN 1 AND 64),
    refusal_message     TEXT,
    failure_reason      TEXT,
    tx_hash             BLOB CHECK (length(tx_hash) = 32),
    network_fee         TEXT CHECK (network_fee NOT GLOB '*[^0-9]*' AND length(network_fee) BETWEEN 1 AND 78),
    idempotency_key     TEXT,
    request_fingerprint BLOB,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (merchant_id, idempotency_key),
    CHECK ((status = 'refused') = (refusal_rule IS NOT NULL AND refusal_message IS NOT NULL)),
    CHECK ((status = 'failed') = (failure_reason IS NOT NULL)),
    CHECK ((status = 'confirmed') = (network_fee IS NOT NULL)),
    CHECK (status NOT IN ('broadcast', 'confirmed') OR tx_hash IS NOT NULL),
    CHECK (source = 'merchant' OR refund_of IS NOT NULL)
) STRICT;
CREATE INDEX payouts_by_merchant ON payouts (merchant_id, id);
CREATE INDEX payouts_by_merchant_status ON payouts (merchant_id, status, id);
-- A refund's limit subtracts the invoice's earlier refunds.
CREATE INDEX payouts_by_refunded_invoice ON payouts (refund_of) WHERE refund_of IS NOT NULL;

-- One deposit address's balance of one asset, swept into the treasury. The
-- signer picks the wallet and reads the balance itself; `amount` is what the
-- books hold for the deposit when the sweep was asked for.
CREATE TABLE sweeps (
    id             BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    chain_id       INTEGER NOT NULL,
    asset          TEXT NOT NULL,
    deposit_index  INTEGER NOT NULL CHECK (deposit_index BETWEEN 0 AND 2147483647),
    invoice_id     BLOB NOT NULL REFERENCES invoices (id),
    amount         TEXT NOT NULL CHECK (amount NOT GLOB '*[^0-9]*' AND length(amount) BETWEEN 1 AND 78),
    fee_asset      TEXT NOT NULL,
    status         TEXT NOT NULL
                   CHECK (status IN ('pending', 'pending_cooldown', 'refused', 'broadcast', 'confirmed', 'failed')),
    tx_hash        BLOB CHECK (length(tx_hash) = 32),
    wallet         TEXT CHECK (wallet IN ('hot', 'cold')),
    moved          TEXT CHECK (moved NOT GLOB '*[^0-9]*' AND length(moved) BETWEEN 1 AND 78),
    network_fee    TEXT CHECK (network_fee NOT GLOB '*[^0-9]*' AND length(network_fee) BETWEEN 1 AND 78),
    -- The signer's last answer, as it gave it (a refusal's rule, a failure's reason).
    outcome        TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    CHECK ((status = 'confirmed') = (moved IS NOT NULL AND network_fee IS NOT NULL AND wallet IS NOT NULL))
) STRICT;
-- At most one sweep of a deposit's asset in flight, whatever the gateways.
CREATE UNIQUE INDEX sweeps_one_open ON sweeps (invoice_id, asset)
    WHERE status IN ('pending', 'pending_cooldown', 'broadcast');
CREATE INDEX sweeps_by_invoice ON sweeps (invoice_id, asset);

-- The durable outbox to the signer: written in the transaction that creates
-- the payout or sweep, claimed with a lease (`next_attempt_at` pushed into
-- the future), submitted until the signer has it (`submit`), then asked
-- until its answer is final (`poll`), then `done`. A request the signer
-- refuses to take (a conflict on its id) is `held` for a person. The signer
-- decides once per id, so asking again after a crash repeats nothing.
CREATE TABLE signer_outbox (
    request_id      BLOB PRIMARY KEY NOT NULL CHECK (length(request_id) = 16),
    kind            TEXT NOT NULL CHECK (kind IN ('payout', 'sweep')),
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('submit', 'poll', 'done', 'held')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK ((state IN ('submit', 'poll')) = (next_attempt_at IS NOT NULL))
) STRICT;
CREATE INDEX signer_outbox_due ON signer_outbox (next_attempt_at) WHERE state IN ('submit', 'poll');

-- Kinds: those of invoices name one (and a payment, but a settlement); a
-- payout's reserve, release and book-out name the payout; a sweep and its
-- top-up name the sweep; a network fee names the payout or the sweep.
CREATE TABLE ledger_transactions_v6 (
    id         BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    kind       TEXT NOT NULL CHECK (kind IN ('receipt', 'settlement', 'write_off', 'recovery', 'reserve', 'release',
                                             'payout', 'network_fee', 'sweep', 'top_up', 'hot_to_cold')),
    invoice_id BLOB REFERENCES invoices (id),
    payment_id BLOB REFERENCES payments (id),
    payout_id  BLOB REFERENCES payouts (id),
    sweep_id   BLOB REFERENCES sweeps (id),
    created_at INTEGER NOT NULL,
    CHECK ((kind IN ('receipt', 'settlement', 'write_off', 'recovery')) = (invoice_id IS NOT NULL)),
    CHECK ((kind IN ('receipt', 'write_off', 'recovery')) = (payment_id IS NOT NULL)),
    CHECK (kind NOT IN ('reserve', 'release', 'payout') OR payout_id IS NOT NULL),
    CHECK (kind IN ('reserve', 'release', 'payout', 'network_fee') OR payout_id IS NULL),
    CHECK (kind NOT IN ('sweep', 'top_up') OR sweep_id IS NOT NULL),
    CHECK (kind IN ('sweep', 'top_up', 'network_fee') OR sweep_id IS NULL),
    CHECK (kind <> 'network_fee' OR (payout_id IS NULL) <> (sweep_id IS NULL))
) STRICT;
INSERT INTO ledger_transactions_v6 (id, kind, invoice_id, payment_id, created_at)
    SELECT id, kind, invoice_id, payment_id, created_at FROM ledger_transactions;
DROP TABLE ledger_transactions;
ALTER TABLE ledger_transactions_v6 RENAME TO ledger_transactions;

CREATE UNIQUE INDEX ledger_one_receipt_per_payment ON ledger_transactions (payment_id) WHERE kind = 'receipt';
CREATE INDEX ledger_by_payment ON ledger_transactions (payment_id) WHERE payment_id IS NOT NULL;
-- Exactly once, enforced by the database: a payout is reserved once, and
-- released or booked out (with one fee) once; a sweep is booked once.
CREATE UNIQUE INDEX ledger_once_per_payout ON ledger_transactions (payout_id, kind) WHERE payout_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_once_per_sweep ON ledger_transactions (sweep_id, kind) WHERE sweep_id IS NOT NULL;

PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
