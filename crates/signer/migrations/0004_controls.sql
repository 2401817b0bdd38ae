-- Issue 13 (ADR 0013): approvals, the freeze, profiles and run-time changes.

-- When a payout to the destination was first signed; NULL: never paid.
-- "Never paid before" is what approvals and the new-destination tripwire ask.
ALTER TABLE destinations ADD COLUMN first_paid_at INTEGER;
UPDATE destinations SET first_paid_at = (
    SELECT MIN(s.at) FROM spends s
    WHERE s.kind = 'payout' AND s.chain_id = destinations.chain_id AND s.destination = destinations.address
);

-- The run-time layer over signer.toml's policy: one row, rewritten in the
-- transaction that changes it, so a restart never lifts a freeze.
CREATE TABLE controls (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    controls TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Approvers' signed decisions on a payout's round (its digest).
CREATE TABLE payout_approvals (
    request_id TEXT NOT NULL REFERENCES requests (id),
    digest BLOB NOT NULL,
    approver TEXT NOT NULL,
    approval TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (request_id, digest, approver)
) STRICT, WITHOUT ROWID;

-- Approvers' signed decisions on a policy change (its proposal's digest).
CREATE TABLE change_approvals (
    digest BLOB NOT NULL,
    approver TEXT NOT NULL,
    proposal TEXT NOT NULL,
    approval TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (digest, approver)
) STRICT, WITHOUT ROWID;

-- Loosening changes that reached their quorum and wait out the time lock.
CREATE TABLE scheduled_changes (
    digest BLOB PRIMARY KEY,
    proposal TEXT NOT NULL,
    applies_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('waiting', 'applied', 'vetoed', 'void'))
) STRICT, WITHOUT ROWID;
CREATE INDEX scheduled_waiting ON scheduled_changes (applies_at) WHERE state = 'waiting';

-- The profile a payout was signed under: restricted counts its own limits
-- against what it paid (ADR 0013), and the windows are rebuilt from this.
ALTER TABLE spends ADD COLUMN profile TEXT NOT NULL DEFAULT 'normal' CHECK (profile IN ('normal', 'restricted'));
