-- no-transaction
-- Payouts that wait for approvers, and the signer's controls as the gateway
-- last read them (SQLite). ADR 0013.
--
-- `payouts` gains the state `pending_approval` and the round the signer
-- set (its digest, expiry, quorum and who approved so far). SQLite cannot
-- change a CHECK constraint, so the table is rebuilt as in 0003 and 0006:
-- foreign keys off outside any transaction, one transaction that builds,
-- copies, drops and renames (the ledger's `payout_id` references name the
-- table, so they follow the rename), a foreign key check, foreign keys on.

PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE payouts_v7 (
    id                  BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    merchant_id         BLOB NOT NULL REFERENCES merchants (id),
    chain_id            INTEGER NOT NULL,
    asset               TEXT NOT NULL,
    amount              TEXT NOT NULL CHECK (amount NOT GLOB '*[^0-9]*' AND length(amount) BETWEEN 1 AND 78),
    destination         BLOB NOT NULL CHECK (length(destination) = 20),
    status              TEXT NOT NULL
                        CHECK (status IN ('pending', 'pending_cooldown', 'pending_approval', 'refused', 'broadcast',
                                          'confirmed', 'failed')),
    source              TEXT NOT NULL CHECK (source IN ('merchant', 'suspense')),
    refund_of           BLOB REFERENCES invoices (id),
    fee_asset           TEXT NOT NULL,
    cooldown_until      INTEGER,
    -- The last round of approvals the signer asked for: what approvers sign
    -- (SHA-256), until when (ms), how many, and the names of those who
    -- signed (a JSON array). Kept once the payout moves on.
    approval_digest     BLOB CHECK (length(approval_digest) = 32),
    approval_expires_at INTEGER,
    approval_quorum     INTEGER CHECK (approval_quorum BETWEEN 1 AND 255),
    approval_by         TEXT CHECK (json_valid(approval_by) AND json_type(approval_by) = 'array'),
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
    CHECK (source = 'merchant' OR refund_of IS NOT NULL),
    CHECK ((approval_digest IS NULL) = (approval_expires_at IS NULL)
           AND (approval_digest IS NULL) = (approval_quorum IS NULL)
           AND (approval_digest IS NULL) = (approval_by IS NULL)),
    CHECK (status <> 'pending_approval' OR approval_digest IS NOT NULL)
) STRICT;
INSERT INTO payouts_v7 (id, merchant_id, chain_id, asset, amount, destination, status, source, refund_of, fee_asset,
                        cooldown_until, refusal_rule, refusal_message, failure_reason, tx_hash, network_fee,
                        idempotency_key, request_fingerprint, created_at, updated_at)
    SELECT id, merchant_id, chain_id, asset, amount, destination, status, source, refund_of, fee_asset,
           cooldown_until, refusal_rule, refusal_message, failure_reason, tx_hash, network_fee,
           idempotency_key, request_fingerprint, created_at, updated_at
    FROM payouts;
DROP TABLE payouts;
ALTER TABLE payouts_v7 RENAME TO payouts;
CREATE INDEX payouts_by_merchant ON payouts (merchant_id, id);
CREATE INDEX payouts_by_merchant_status ON payouts (merchant_id, status, id);
CREATE INDEX payouts_by_refunded_invoice ON payouts (refund_of) WHERE refund_of IS NOT NULL;

-- The signer's controls (`GET /v1/control`: policy version, profile, the
-- freeze) as this gateway last saw them change, one row: the JSON as the
-- signer signed it, and when it was first read so. Rewritten by
-- compare-and-set on the text read before, in the transaction that logs
-- the change and enqueues its webhooks, so a change is logged once
-- whatever the gateways sharing the database.
CREATE TABLE signer_control (
    id      INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    state   TEXT NOT NULL CHECK (json_valid(state)),
    read_at INTEGER NOT NULL
) STRICT;

PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
