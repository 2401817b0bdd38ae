//! The signer's controls as the gateway last saw them (`GET /v1/control`
//! on the signer: its policy version, profile and freeze), ADR 0013.
//!
//! **Contract:** [`ControlStore::record_signer_control`] is one transaction
//! and a compare-and-set on the state it was computed from: the new state,
//! its audit entries (`signer.frozen`, …) and, for a new freeze, an event
//! with a delivery to every endpoint subscribed to it, whoever its
//! merchant. Several gateways polling one signer over one database see one
//! change each; only the first to write it logs and announces it.

use async_trait::async_trait;
use coffer_domain::{EventId, EventType, Timestamp};

use crate::{RecordedAnswer, Result};

/// The controls as stored: the signer's JSON as it signed it, and since when
/// this gateway has read it so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredControl {
    /// `coffer_signer_api::ControlState`, as JSON.
    pub state: String,
    /// When this state was first read.
    pub read_at: Timestamp,
}

/// An event for every merchant whose endpoints subscribe to it (the signer's
/// freeze concerns them all): one event row and its deliveries per such
/// merchant.
pub struct BroadcastEvent {
    /// Its type.
    pub kind: EventType,
    /// The payload of the event with this id (each merchant's has its own).
    pub payload: Box<dyn Fn(EventId) -> String + Send + Sync>,
}

impl std::fmt::Debug for BroadcastEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastEvent").field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// A change of the controls, to record.
#[derive(Debug)]
pub struct ControlChange {
    /// The stored state it was computed from (`None`: nothing stored yet).
    pub previous: Option<String>,
    /// The new state's JSON.
    pub state: String,
    /// When it was read.
    pub read_at: Timestamp,
    /// Its audit entries, appended in the same transaction.
    pub audit: Vec<coffer_audit::Record>,
    /// The event it raises, if any.
    pub event: Option<BroadcastEvent>,
    /// Deliveries are leased to the caller until then.
    pub lease_until: Timestamp,
}

/// The signer's controls, as last seen.
#[async_trait]
pub trait ControlStore: Send + Sync {
    /// The stored controls, if they were ever read.
    async fn signer_control(&self) -> Result<Option<StoredControl>>;
    /// Records a change (see the module docs). `applied` is `false` if the
    /// stored state was no longer `previous` (another gateway wrote first):
    /// then nothing was written.
    async fn record_signer_control(&self, change: ControlChange) -> Result<RecordedAnswer>;
}
