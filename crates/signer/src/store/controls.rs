//! The controls row, approvals of payouts and changes, and scheduled changes.

use coffer_domain::{Address, ChainId};
use coffer_policy::Controls;
use coffer_signer_api::{Approval, ChangeProposal, Digest};
use rusqlite::{Connection, OptionalExtension as _, params};

use super::{Result, corrupt};

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The stored run-time controls, if any were ever stored.
pub(crate) fn controls(conn: &Connection) -> Result<Option<Controls>> {
    let text: Option<String> =
        conn.prepare_cached("SELECT controls FROM controls WHERE id = 1")?.query_row([], |r| r.get(0)).optional()?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt("controls", e))).transpose()
}

pub(crate) fn save_controls(conn: &Connection, controls: &Controls, now: i64) -> Result<()> {
    let text = serde_json::to_string(controls).map_err(|e| corrupt("controls", e))?;
    conn.prepare_cached(
        "INSERT INTO controls (id, controls, updated_at) VALUES (1, ?1, ?2) \
         ON CONFLICT (id) DO UPDATE SET controls = ?1, updated_at = ?2",
    )?
    .execute(params![text, now])?;
    Ok(())
}

/// Whether a payout to `destination` was ever signed.
#[cfg(test)]
pub(crate) fn destination_paid(conn: &Connection, chain: ChainId, destination: Address) -> Result<bool> {
    Ok(super::destination(conn, chain, destination)?.paid)
}

/// Records that a payout to `destination` was signed at `now` (the first time counts).
pub(crate) fn mark_paid(conn: &Connection, chain: ChainId, destination: Address, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO destinations (chain_id, address, first_requested_at, first_paid_at) VALUES (?1, ?2, ?3, ?3) \
         ON CONFLICT (chain_id, address) DO UPDATE SET first_paid_at = COALESCE(first_paid_at, ?3)",
    )?
    .execute(params![as_i64(chain.0), destination.to_string(), now])?;
    Ok(())
}

/// Keeps one approver's decision on one payout round; `false` if they decided it before.
pub(crate) fn insert_payout_approval(
    conn: &Connection,
    request_id: &str,
    approval: &Approval,
    now: i64,
) -> Result<bool> {
    let text = serde_json::to_string(approval).map_err(|e| corrupt("approval", e))?;
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO payout_approvals (request_id, digest, approver, approval, at) VALUES (?, ?, ?, ?, ?)",
        )?
        .execute(params![request_id, approval.digest.0.as_slice(), approval.approver.to_string(), text, now])?;
    Ok(n == 1)
}

/// Every decision kept for one payout round.
pub(crate) fn payout_approvals(conn: &Connection, request_id: &str, digest: &Digest) -> Result<Vec<Approval>> {
    let mut stmt = conn.prepare_cached("SELECT approval FROM payout_approvals WHERE request_id = ? AND digest = ?")?;
    let rows = stmt.query_map(params![request_id, digest.0.as_slice()], |r| r.get::<_, String>(0))?;
    rows.map(|text| serde_json::from_str(&text?).map_err(|e| corrupt("approval", e))).collect()
}

/// Keeps one approver's decision on a change proposal; `false` if they decided it before.
pub(crate) fn insert_change_approval(
    conn: &Connection,
    proposal: &ChangeProposal,
    approval: &Approval,
    now: i64,
) -> Result<bool> {
    let text = serde_json::to_string(approval).map_err(|e| corrupt("approval", e))?;
    let body = serde_json::to_string(proposal).map_err(|e| corrupt("proposal", e))?;
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO change_approvals (digest, approver, proposal, approval, at) VALUES (?, ?, ?, ?, ?)",
        )?
        .execute(params![approval.digest.0.as_slice(), approval.approver.to_string(), body, text, now])?;
    Ok(n == 1)
}

/// Every decision kept on one proposal.
pub(crate) fn change_approvals(conn: &Connection, digest: &Digest) -> Result<Vec<Approval>> {
    let mut stmt = conn.prepare_cached("SELECT approval FROM change_approvals WHERE digest = ?")?;
    let rows = stmt.query_map(params![digest.0.as_slice()], |r| r.get::<_, String>(0))?;
    rows.map(|text| serde_json::from_str(&text?).map_err(|e| corrupt("approval", e))).collect()
}

/// A scheduled change's state, if the proposal was ever scheduled or vetoed.
pub(crate) fn scheduled_state(conn: &Connection, digest: &Digest) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT state FROM scheduled_changes WHERE digest = ?")?
        .query_row([digest.0.as_slice()], |r| r.get(0))
        .optional()?)
}

/// Schedules a change, or records it `vetoed` (so it can never be scheduled later).
pub(crate) fn schedule(
    conn: &Connection,
    digest: &Digest,
    proposal: &ChangeProposal,
    applies_at: i64,
    state: &str,
) -> Result<()> {
    let body = serde_json::to_string(proposal).map_err(|e| corrupt("proposal", e))?;
    conn.prepare_cached(
        "INSERT INTO scheduled_changes (digest, proposal, applies_at, state) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (digest) DO UPDATE SET state = ?4",
    )?
    .execute(params![digest.0.as_slice(), body, applies_at, state])?;
    Ok(())
}

/// Changes waiting out their time lock, soonest first.
pub(crate) fn waiting_changes(conn: &Connection) -> Result<Vec<(Digest, ChangeProposal, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT digest, proposal, applies_at FROM scheduled_changes WHERE state = 'waiting' ORDER BY applies_at",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
    rows.map(|row| {
        let (digest, body, at) = row?;
        let digest = <[u8; 32]>::try_from(digest).map(Digest).map_err(|_| corrupt("digest", "not 32 bytes"))?;
        let proposal = serde_json::from_str(&body).map_err(|e| corrupt("proposal", e))?;
        Ok((digest, proposal, at))
    })
    .collect()
}
