-- The signer's own store. Never the gateway's database: nothing here is
-- taken from the gateway except the intents it asked for.

-- One row per intent id. `digest` is the SHA-256 of the intent's canonical
-- JSON: a known id with another digest is refused (request.conflict).
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('payout', 'sweep')),
    digest BLOB NOT NULL,
    intent TEXT NOT NULL,
    chain_id INTEGER NOT NULL,
    asset TEXT NOT NULL,
    outcome TEXT NOT NULL,          -- the current OutcomeState, JSON
    final INTEGER NOT NULL DEFAULT 0,
    wake_at INTEGER,                -- decide again at (cool-down end, sweep after its top-up)
    policy_version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX requests_waking ON requests (wake_at) WHERE wake_at IS NOT NULL;

-- Every transaction the signer signed, stored before it is broadcast.
-- Replacements of a stuck one keep (chain_id, sender, nonce) and count up
-- `attempt`: one nonce per intent, so it can be mined once.
CREATE TABLE txs (
    id INTEGER PRIMARY KEY,
    -- Checked at commit: a decision stores its transaction before its request row.
    request_id TEXT REFERENCES requests (id) DEFERRABLE INITIALLY DEFERRED,  -- NULL: hot excess moved to cold
    purpose TEXT NOT NULL CHECK (purpose IN ('payout', 'sweep', 'top_up', 'to_cold')),
    chain_id INTEGER NOT NULL,
    sender TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    asset TEXT NOT NULL,
    amount TEXT NOT NULL,
    plan TEXT NOT NULL,             -- what was signed, to build a replacement
    raw BLOB NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('signed', 'sent', 'mined', 'confirmed', 'failed', 'replaced')),
    block_number INTEGER,
    network_fee TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    UNIQUE (chain_id, sender, nonce, attempt)
) STRICT;
CREATE INDEX txs_open ON txs (chain_id, sender, nonce) WHERE state IN ('signed', 'sent', 'mined');

-- The next nonce of every address the signer sends from.
CREATE TABLE nonces (
    chain_id INTEGER NOT NULL,
    sender TEXT NOT NULL,
    next INTEGER NOT NULL,
    PRIMARY KEY (chain_id, sender)
) STRICT;

-- The spend ledger: what the signer committed to, per asset, merchant,
-- destination and time. The velocity windows are rebuilt from its last 24
-- hours at start (an indexed range, whatever the history's length).
CREATE TABLE spends (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('payout', 'fee')),
    chain_id INTEGER NOT NULL,
    asset TEXT NOT NULL,
    merchant TEXT,
    destination TEXT,
    amount TEXT NOT NULL,
    request_id TEXT
) STRICT;
CREATE INDEX spends_at ON spends (at);

-- When each destination was first asked for (the cool-down's clock).
CREATE TABLE destinations (
    chain_id INTEGER NOT NULL,
    address TEXT NOT NULL,
    first_requested_at INTEGER NOT NULL,
    PRIMARY KEY (chain_id, address)
) STRICT, WITHOUT ROWID;

-- Request nonces accepted, kept for twice the timestamp window.
CREATE TABLE seen_nonces (
    nonce BLOB PRIMARY KEY,
    seen_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX seen_nonces_at ON seen_nonces (seen_at);

-- The signer's hash-chained audit log.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
) STRICT;

-- The gateway audit log's heads, as its requests carried them: anchors that
-- a wholly rewritten gateway log no longer matches.
CREATE TABLE gateway_heads (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    head TEXT NOT NULL
) STRICT;
