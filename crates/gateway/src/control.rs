//! The signer's controls as the gateway sees them (ADR 0013): a task reads
//! `GET /v1/control` every `[signer] control_poll_ms`, checks the answer's
//! signature as the outbox does, and keeps the last reading in memory (for
//! `GET /v1/signer` and the metrics) and in the store.
//!
//! A change is logged, never acted on: the gateway cannot freeze, unfreeze
//! or loosen anything, it reports. When the freeze appears or goes, or the
//! policy version or profile moves, the new state is stored by
//! compare-and-set on the one stored before, in one transaction with its
//! audit entries (`signer.frozen` with the reason's tag, `signer.unfrozen`,
//! `signer.policy_changed` with the version and profile) and, for a new
//! freeze, an `operator.freeze` event. So several gateways on one database
//! log and announce a change once.
//!
//! **Who hears `operator.freeze`:** every webhook endpoint subscribed to it,
//! whichever merchant registered it: a freeze stops every merchant's
//! payouts, so each merchant may want to know, and the operator registers an
//! endpoint of their own (under a merchant of their own, say `operations`)
//! to be told. There is no second delivery path to keep secret and retry:
//! the operator's endpoint is signed, retried and logged like any other.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_domain::{EventId, EventType, Timestamp};
use coffer_signer_api::{ControlState, FreezeInfo};
use coffer_store::{BroadcastEvent, ControlChange, Store};
use serde::Serialize;

use crate::signer_client::SignerClient;

/// The last reading.
#[derive(Clone, Debug)]
pub(crate) struct Reading {
    /// What the signer said.
    pub(crate) state: ControlState,
    /// When it said so (the last successful read).
    pub(crate) read_at: Timestamp,
}

/// The control watch; shared with the routes and the metrics.
#[derive(Debug)]
pub(crate) struct ControlWatch {
    pub(crate) client: Arc<SignerClient>,
    store: Arc<dyn Store>,
    dispatcher: Arc<coffer_webhooks::Dispatcher>,
    interval: Duration,
    last: Mutex<Option<Reading>>,
    /// The state's JSON as stored, the base of the next compare-and-set.
    stored: tokio::sync::Mutex<Option<Option<String>>>,
}

impl ControlWatch {
    pub(crate) fn new(
        client: Arc<SignerClient>,
        store: Arc<dyn Store>,
        dispatcher: Arc<coffer_webhooks::Dispatcher>,
        interval: Duration,
    ) -> Self {
        Self { client, store, dispatcher, interval, last: Mutex::default(), stored: tokio::sync::Mutex::default() }
    }

    /// The last reading: this process's, or else the one stored.
    pub(crate) async fn last(&self) -> Result<Option<Reading>, coffer_store::StoreError> {
        if let Some(reading) = self.last.lock().ok().and_then(|last| last.clone()) {
            return Ok(Some(reading));
        }
        let stored = self.store.signer_control().await?;
        Ok(stored.and_then(|s| {
            let state = serde_json::from_str(&s.state).ok()?;
            Some(Reading { state, read_at: s.read_at })
        }))
    }

    /// The last reading of this process, for the metrics (no I/O).
    pub(crate) fn seen(&self) -> Option<Reading> {
        self.last.lock().ok().and_then(|last| last.clone())
    }

    /// Runs until `stop` completes.
    pub(crate) async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = self.poll() => {}
                () = &mut stop => return,
            }
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                () = &mut stop => return,
            }
        }
    }

    async fn poll(&self) {
        let head = match self.store.head().await {
            Ok(head) => head.hash.to_bytes(),
            Err(err) => {
                return tracing::warn!(error = %err, "cannot read the audit log's head; the signer's controls are not read");
            }
        };
        let state = match self.client.control(head).await {
            Ok(state) => state,
            Err(err) => return tracing::warn!(error = %err, "cannot read the signer's controls; retrying"),
        };
        let now = Timestamp::now();
        if let Err(err) = self.record(&state, now).await {
            tracing::warn!(error = %err, "cannot record the signer's controls; retrying");
        }
        if let Ok(mut last) = self.last.lock() {
            *last = Some(Reading { state, read_at: now });
        }
    }

    /// Stores `state` if it differs from the stored one, with what it changed.
    async fn record(&self, state: &ControlState, now: Timestamp) -> Result<(), coffer_store::StoreError> {
        let mut stored = self.stored.lock().await;
        let previous = match &*stored {
            Some(previous) => previous.clone(),
            None => self.store.signer_control().await?.map(|s| s.state),
        };
        let json = serde_json::to_string(state).unwrap_or_default();
        if previous.as_deref() == Some(json.as_str()) {
            *stored = Some(previous);
            return Ok(());
        }
        let before = previous.as_deref().and_then(|text| serde_json::from_str::<ControlState>(text).ok());
        let (audit, freeze) = changes(before.as_ref(), state, now);
        for record in &audit {
            tracing::warn!(action = %record.action, detail = %record.detail, "the signer's controls changed");
        }
        let event = freeze.map(|freeze| BroadcastEvent {
            kind: EventType::OperatorFreeze,
            payload: Box::new(move |id| freeze_payload(id, &freeze, now)),
        });
        let change = ControlChange {
            previous: previous.clone(),
            state: json.clone(),
            read_at: now,
            audit,
            event,
            lease_until: now.plus(self.dispatcher.lease()),
        };
        let recorded = self.store.record_signer_control(change).await?;
        if recorded.applied {
            *stored = Some(Some(json));
            self.dispatcher.dispatch(recorded.deliveries);
        } else {
            // Another gateway stored a change first: its entries stand; read
            // what it stored before the next comparison.
            *stored = None;
        }
        Ok(())
    }
}

/// The audit entries a change from `before` to `after` calls for, and the
/// freeze to announce, if a new one began.
fn changes(
    before: Option<&ControlState>,
    after: &ControlState,
    at: Timestamp,
) -> (Vec<coffer_audit::Record>, Option<FreezeInfo>) {
    let mut audit = Vec::new();
    let was = before.and_then(|b| b.frozen.as_ref());
    // The same freeze keeps its reason and start; another start is another
    // freeze (lifted and tripped again between two reads).
    let same = |a: &FreezeInfo, b: &FreezeInfo| a.since == b.since && a.reason == b.reason;
    let mut announced = None;
    match (was, &after.frozen) {
        (Some(old), Some(new)) if same(old, new) => {}
        (old, Some(new)) => {
            if old.is_some() {
                audit.push(crate::audit::signer_unfrozen(after.policy_version, at));
            }
            audit.push(crate::audit::signer_frozen(new, after.policy_version, at));
            announced = Some(new.clone());
        }
        (Some(_), None) => audit.push(crate::audit::signer_unfrozen(after.policy_version, at)),
        (None, None) => {}
    }
    if before.is_none_or(|b| b.policy_version != after.policy_version || b.profile != after.profile) {
        let from = before.map(|b| (b.policy_version, b.profile));
        audit.push(crate::audit::signer_policy_changed(from, after.policy_version, after.profile, at));
    }
    (audit, announced)
}

#[derive(Serialize)]
struct FreezeEvent<'a> {
    id: EventId,
    #[serde(rename = "type")]
    kind: &'static str,
    created_at: String,
    data: FreezeData<'a>,
}

#[derive(Serialize)]
struct FreezeData<'a> {
    freeze: FreezeView<'a>,
}

/// A freeze as the `operator.freeze` webhook carries it.
#[derive(Serialize)]
struct FreezeView<'a> {
    reason: &'static str,
    message: &'a str,
    since: String,
    since_unix: i64,
    by: Option<&'a str>,
}

/// The body of `operator.freeze` event `id`: the envelope invoice and payout
/// events have, with `data.freeze`.
fn freeze_payload(id: EventId, freeze: &FreezeInfo, at: Timestamp) -> String {
    let since = Timestamp::from_unix_secs(u64::try_from(freeze.since).unwrap_or_default()).to_rfc3339();
    let body = FreezeEvent {
        id,
        kind: EventType::OperatorFreeze.as_str(),
        created_at: at.to_rfc3339(),
        data: FreezeData {
            freeze: FreezeView {
                reason: freeze.reason.as_str(),
                message: &freeze.message,
                since,
                since_unix: freeze.since,
                by: freeze.by.as_deref(),
            },
        },
    };
    serde_json::to_string(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use coffer_signer_api::{Profile, RuleTag};

    use super::*;

    fn state(version: u64, frozen: Option<(RuleTag, i64)>) -> ControlState {
        ControlState {
            policy_version: version,
            profile: Profile::Normal,
            frozen: frozen.map(|(reason, since)| FreezeInfo { reason, message: "m".into(), since, by: None }),
            quorum: 2,
            scheduled: Vec::new(),
            allowlist: Vec::new(),
        }
    }

    fn actions(before: Option<&ControlState>, after: &ControlState) -> (Vec<String>, bool) {
        let (audit, freeze) = changes(before, after, Timestamp::from_millis(1));
        (audit.into_iter().map(|r| r.action).collect(), freeze.is_some())
    }

    #[test]
    fn each_change_is_logged_once_and_only_a_new_freeze_is_announced() {
        let calm = state(3, None);
        let frozen = state(3, Some((RuleTag::AnomalyOutflow, 100)));
        assert_eq!(actions(None, &calm), (vec!["signer.policy_changed".into()], false), "first seen");
        assert_eq!(actions(Some(&calm), &calm), (vec![], false));
        assert_eq!(actions(Some(&calm), &frozen), (vec!["signer.frozen".into()], true));
        assert_eq!(actions(Some(&frozen), &frozen), (vec![], false), "the same freeze");
        let again = state(3, Some((RuleTag::AnomalyAuth, 200)));
        assert_eq!(actions(Some(&frozen), &again), (vec!["signer.unfrozen".into(), "signer.frozen".into()], true));
        let lifted = state(4, None);
        assert_eq!(
            actions(Some(&frozen), &lifted),
            (vec!["signer.unfrozen".into(), "signer.policy_changed".into()], false)
        );
        let restricted = ControlState { profile: Profile::Restricted, ..calm.clone() };
        assert_eq!(actions(Some(&calm), &restricted), (vec!["signer.policy_changed".into()], false));
    }

    #[test]
    fn the_freeze_event_carries_its_tag_sentence_and_start() {
        let info = FreezeInfo { reason: RuleTag::FreezeApprover, message: "ana froze".into(), since: 60, by: None };
        let id = EventId::new();
        let body: serde_json::Value =
            serde_json::from_str(&freeze_payload(id, &info, Timestamp::from_millis(1))).unwrap();
        assert_eq!(body["type"], "operator.freeze");
        assert_eq!(body["id"], id.to_string());
        let freeze = &body["data"]["freeze"];
        assert_eq!((&freeze["reason"], &freeze["message"]), (&"freeze.approver".into(), &"ana froze".into()));
        assert_eq!((&freeze["since"], &freeze["since_unix"]), (&"1970-01-01T00:01:00Z".into(), &60.into()));
    }
}
