//! The signer's audit log read back: for `coffer signer audit export` and
//! `coffer audit verify`, from the store directly.

use coffer_audit::{Anchor, Entry};

use crate::config::SignerConfig;
use crate::store::{self, StoreError};

/// The signer's log and its record of the gateway log's heads.
#[derive(Debug)]
pub struct SignerAudit {
    /// Every entry, in order.
    pub entries: Vec<Entry>,
    /// The gateway heads its requests carried, oldest first.
    pub anchors: Vec<Anchor>,
}

/// Reads both from the signer's database (a running signer may keep writing;
/// what was committed before the read is what is read, and synced first:
/// the running signer syncs its commits only before they leave it).
pub async fn read_audit(config: &SignerConfig) -> Result<SignerAudit, StoreError> {
    let conn = store::open(&config.database_path())?;
    store::sync_wal(&conn)?;
    let entries = store::audit_entries(&conn)?;
    let anchors = store::gateway_heads(&conn)?.into_iter().map(|(at_ms, head)| Anchor { at_ms, head }).collect();
    Ok(SignerAudit { entries, anchors })
}
