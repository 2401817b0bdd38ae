-- Payouts and refunds, the durable outbox of requests to the signer, sweeps
-- of deposit addresses, and the ledger postings that follow the money out
-- (PostgreSQL). Version 0006: 0005 is the audit log's. See the SQLite
-- migration of the same number for what each column means.

CREATE TABLE payouts (
    id                  UUID PRIMARY KEY,
    merchant_id         UUID NOT NULL REFERENCES merchants (id),
    chain_id            BIGINT NOT NULL,
    asset               TEXT NOT NULL,
    amount              TEXT NOT NULL CHECK (amount ~ '^[0-9]{1,78}$'),
    destination         BYTEA NOT NULL CHECK (length(destination) = 20),
    status              TEXT NOT NULL
                        CHECK (status IN ('pending', 'pending_cooldown', 'refused', 'broadcast', 'confirmed', 'failed')),
    source              TEXT NOT NULL CHECK (source IN ('merchant', 'suspense')),
    refund_of           UUID REFERENCES invoices (id),
    fee_asset           TEXT NOT NULL,
    cooldown_until      BIGINT,
    refusal_rule        TEXT CHECK (length(refusal_rule) BETWEEN 1 AND 64),
    refusal_message     TEXT,
    failure_reason      TEXT,
    tx_hash             BYTEA CHECK (length(tx_hash) = 32),
    network_fee         TEXT CHECK (network_fee ~ '^[0-9]{1,78}$'),
    idempotency_key     TEXT,
    request_fingerprint BYTEA,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (merchant_id, idempotency_key),
    CHECK ((status = 'refused') = (refusal_rule IS NOT NULL AND refusal_message IS NOT NULL)),
    CHECK ((status = 'failed') = (failure_reason IS NOT NULL)),
    CHECK ((status = 'confirmed') = (network_fee IS NOT NULL)),
    CHECK (status NOT IN ('broadcast', 'confirmed') OR tx_hash IS NOT NULL),
    CHECK (source = 'merchant' OR refund_of IS NOT NULL)
);
CREATE INDEX payouts_by_merchant ON payouts (merchant_id, id);
CREATE INDEX payouts_by_merchant_status ON payouts (merchant_id, status, id);
CREATE INDEX payouts_by_refunded_invoice ON payouts (refund_of) WHERE refund_of IS NOT NULL;

CREATE TABLE sweeps (
    id             UUID PRIMARY KEY,
    chain_id       BIGINT NOT NULL,
    asset          TEXT NOT NULL,
    deposit_index  BIGINT NOT NULL CHECK (deposit_index BETWEEN 0 AND 2147483647),
    invoice_id     UUID NOT NULL REFERENCES invoices (id),
    amount         TEXT NOT NULL CHECK (amount ~ '^[0-9]{1,78}$'),
    fee_asset      TEXT NOT NULL,
    status         TEXT NOT NULL
                   CHECK (status IN ('pending', 'pending_cooldown', 'refused', 'broadcast', 'confirmed', 'failed')),
    tx_hash        BYTEA CHECK (length(tx_hash) = 32),
    wallet         TEXT CHECK (wallet IN ('hot', 'cold')),
    moved          TEXT CHECK (moved ~ '^[0-9]{1,78}$'),
    network_fee    TEXT CHECK (network_fee ~ '^[0-9]{1,78}$'),
    outcome        TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CHECK ((status = 'confirmed') = (moved IS NOT NULL AND network_fee IS NOT NULL AND wallet IS NOT NULL))
);
CREATE UNIQUE INDEX sweeps_one_open ON sweeps (invoice_id, asset)
    WHERE status IN ('pending', 'pending_cooldown', 'broadcast');
CREATE INDEX sweeps_by_invoice ON sweeps (invoice_id, asset);

CREATE TABLE signer_outbox (
    request_id      UUID PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('payout', 'sweep')),
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('submit', 'poll', 'done', 'held')),
    attempts        BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CHECK ((state IN ('submit', 'poll')) = (next_attempt_at IS NOT NULL))
);
CREATE INDEX signer_outbox_due ON signer_outbox (next_attempt_at) WHERE state IN ('submit', 'poll');

ALTER TABLE ledger_transactions ALTER COLUMN invoice_id DROP NOT NULL;
ALTER TABLE ledger_transactions ADD COLUMN payout_id UUID REFERENCES payouts (id);
ALTER TABLE ledger_transactions ADD COLUMN sweep_id UUID REFERENCES sweeps (id);
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check
    CHECK (kind IN ('receipt', 'settlement', 'write_off', 'recovery', 'reserve', 'release', 'payout', 'network_fee',
                    'sweep', 'top_up', 'hot_to_cold'));
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_names_payment;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_names_payment
    CHECK ((kind IN ('receipt', 'write_off', 'recovery')) = (payment_id IS NOT NULL));
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_names_invoice
    CHECK ((kind IN ('receipt', 'settlement', 'write_off', 'recovery')) = (invoice_id IS NOT NULL));
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_names_payout CHECK (
    (kind NOT IN ('reserve', 'release', 'payout') OR payout_id IS NOT NULL)
    AND (kind IN ('reserve', 'release', 'payout', 'network_fee') OR payout_id IS NULL));
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_names_sweep CHECK (
    (kind NOT IN ('sweep', 'top_up') OR sweep_id IS NOT NULL)
    AND (kind IN ('sweep', 'top_up', 'network_fee') OR sweep_id IS NULL));
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_fee_names_one
    CHECK (kind <> 'network_fee' OR (payout_id IS NULL) <> (sweep_id IS NULL));
CREATE UNIQUE INDEX ledger_once_per_payout ON ledger_transactions (payout_id, kind) WHERE payout_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_once_per_sweep ON ledger_transactions (sweep_id, kind) WHERE sweep_id IS NOT NULL;
