-- Payouts that wait for approvers, and the signer's controls as the gateway
-- last read them (PostgreSQL). ADR 0013; see the SQLite migration of the
-- same number for what each column means.

ALTER TABLE payouts DROP CONSTRAINT payouts_status_check;
ALTER TABLE payouts ADD CONSTRAINT payouts_status_check
    CHECK (status IN ('pending', 'pending_cooldown', 'pending_approval', 'refused', 'broadcast', 'confirmed', 'failed'));
ALTER TABLE payouts ADD COLUMN approval_digest BYTEA CHECK (length(approval_digest) = 32);
ALTER TABLE payouts ADD COLUMN approval_expires_at BIGINT;
ALTER TABLE payouts ADD COLUMN approval_quorum BIGINT CHECK (approval_quorum BETWEEN 1 AND 255);
ALTER TABLE payouts ADD COLUMN approval_by TEXT CHECK (json_typeof(approval_by::json) = 'array');
ALTER TABLE payouts ADD CONSTRAINT payouts_approval_whole CHECK (
    (approval_digest IS NULL) = (approval_expires_at IS NULL)
    AND (approval_digest IS NULL) = (approval_quorum IS NULL)
    AND (approval_digest IS NULL) = (approval_by IS NULL));
ALTER TABLE payouts ADD CONSTRAINT payouts_waits_with_a_round
    CHECK (status <> 'pending_approval' OR approval_digest IS NOT NULL);

CREATE TABLE signer_control (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    state   TEXT NOT NULL CHECK (state::json IS NOT NULL),
    read_at BIGINT NOT NULL
);
