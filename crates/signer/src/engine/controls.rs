//! The freeze and policy changes: a tripwire's freeze stored with the
//! decision that tripped it, approver-signed changes judged by the pure
//! policy (tighten on one signature, loosen by quorum, raised limits after
//! the time lock), and the controls state everyone may read (ADR 0013).

use coffer_audit::Head;
use coffer_policy::{Policy, Refusal, Strictness, Trip};
use coffer_signer_api::{ControlAnswer, ControlRequest, ControlState, Decision, PolicyChange, RuleTag, Scheduled};
use serde_json::json;

use super::audit::{SIGNER, append};
use super::{Engine, EngineError, Inner, now};
use crate::store::{self, Connection};

/// The actor for acts approvers signed.
const APPROVERS: &str = "approvers";

/// What the engine answers a control request.
#[derive(Debug)]
pub(crate) enum ControlReply {
    Done(ControlAnswer),
    Rejected { status: u16, rule: RuleTag, message: String },
}

impl Engine {
    /// Freezes outgoing payments for `trip`, in the caller's transaction:
    /// the controls row and the audit entry. `None` if already frozen.
    pub(crate) fn freeze(
        &self,
        conn: &mut Connection,
        head: Head,
        policy: &Policy,
        trip: &Trip,
        subject: &str,
        now: i64,
    ) -> Result<(Option<Policy>, Head), EngineError> {
        if policy.frozen().is_some() {
            return Ok((None, head));
        }
        let next = policy.frozen_by(trip, now);
        store::save_controls(conn, next.controls(), now)?;
        let detail = json!({
            "reason": trip.reason.as_str(),
            "message": trip.message,
            "tripped_by": subject,
            "policy_version": next.version(),
        });
        tracing::warn!(reason = trip.reason.as_str(), message = %trip.message, "outgoing payments frozen");
        let head = append(conn, head, SIGNER, "signer.frozen", subject, detail)?;
        Ok((Some(next), head))
    }

    /// What `GET /v1/control` answers.
    pub(crate) async fn control_state(&self) -> Result<ControlState, EngineError> {
        let inner = self.inner.lock().await;
        let policy = self.policy();
        let scheduled = store::waiting_changes(&inner.conn)?
            .into_iter()
            .map(|(digest, proposal, applies_at)| Scheduled { proposal, digest, applies_at })
            .collect();
        Ok(state_of(&policy, scheduled))
    }

    /// An approver-signed change: every signature checked against the
    /// signer's own approver list, the proposal bound to the version in
    /// force and unexpired; then applied, scheduled, kept waiting for more
    /// approvers, or vetoed.
    pub(crate) async fn control(&self, request: ControlRequest) -> Result<ControlReply, EngineError> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let policy = self.policy();
        let at = now();
        let proposal = &request.proposal;
        let digest = proposal.digest();
        let subject = format!("change:{digest}");
        let Some(rules) = policy.approvals().cloned() else {
            let message = "this signer lists no approvers, so its policy cannot change at run time".to_owned();
            return self.refuse_control(inner, 409, RuleTag::ControlInvalid, message, &subject).await;
        };
        let mut names = Vec::new();
        for approval in &request.approvals {
            match rules.check(approval, &digest) {
                Ok(name) => names.push((name, approval)),
                Err(refusal) => {
                    let rule = if refusal.rule == RuleTag::ApprovalMismatch {
                        RuleTag::ControlInvalid
                    } else {
                        RuleTag::ControlSignature
                    };
                    return self.refuse_control(inner, 401, rule, refusal.message, &subject).await;
                }
            }
        }
        if names.is_empty() {
            let message = "a control request needs at least one approver's signature".to_owned();
            return self.refuse_control(inner, 401, RuleTag::ControlSignature, message, &subject).await;
        }
        let vetoes: Vec<&str> =
            names.iter().filter(|(_, a)| a.decision == Decision::Reject).map(|(n, _)| n.as_str()).collect();
        if let Some(by) = vetoes.first() {
            return self.veto(inner, &request, by, &subject, at).await;
        }
        if proposal.expires_at <= at {
            let message = format!("the proposal expired at {}; propose it again", proposal.expires_at);
            return self.refuse_control(inner, 409, RuleTag::ControlExpired, message, &subject).await;
        }
        if proposal.base_version != policy.version() {
            let message = format!(
                "the proposal was made against policy version {}, and version {} is in force; read the state and propose again",
                proposal.base_version,
                policy.version()
            );
            return self.refuse_control(inner, 409, RuleTag::ControlVersion, message, &subject).await;
        }
        let strictness = match policy.strictness(&proposal.change) {
            Ok(strictness) => strictness,
            Err(refusal) => return self.refuse_control(inner, 409, refusal.rule, refusal.message, &subject).await,
        };
        let tx = store::begin(&mut inner.conn)?;
        for (name, approval) in &names {
            if store::insert_change_approval(&tx, proposal, approval, at)? {
                let detail = json!({ "approver": name, "proposal": proposal, "digest": digest.to_string() });
                inner.audit = append(&tx, inner.audit, APPROVERS, "change.approved", &subject, detail)?;
            }
        }
        let kept = store::change_approvals(&tx, &digest)?;
        let tally = rules.tally(&kept, &digest);
        let quorum = rules.quorum;
        let by = match strictness {
            Strictness::Tightens => names.first().map(|(n, _)| n.clone()),
            _ => Some(tally.approved.iter().cloned().collect::<Vec<_>>().join(", ")),
        };
        let reply = match strictness {
            Strictness::Tightens => {
                let applied =
                    self.commit_change(tx, &mut inner.audit, &policy, &proposal.change, by.as_deref(), at, &subject)?;
                return self.applied(inner, applied, &subject).await;
            }
            Strictness::Loosens { .. } if !rules.reached(&tally) => {
                let approvals = u8::try_from(tally.approved.len()).unwrap_or(u8::MAX);
                ControlAnswer::Waiting { approvals, quorum }
            }
            Strictness::Loosens { timelock: true } if rules.timelock_secs > 0 => {
                if store::scheduled_state(&tx, &digest)?.is_some() {
                    let message = "this proposal was scheduled or vetoed before".to_owned();
                    drop(tx);
                    return self.refuse_control(inner, 409, RuleTag::ControlInvalid, message, &subject).await;
                }
                let applies_at = at.saturating_add(i64::try_from(rules.timelock_secs).unwrap_or(i64::MAX));
                store::schedule(&tx, &digest, proposal, applies_at, "waiting")?;
                let detail = json!({ "proposal": proposal, "applies_at": applies_at, "approvers": tally.approved });
                inner.audit = append(&tx, inner.audit, APPROVERS, "change.scheduled", &subject, detail)?;
                ControlAnswer::Scheduled { applies_at }
            }
            Strictness::Loosens { .. } => {
                let applied =
                    self.commit_change(tx, &mut inner.audit, &policy, &proposal.change, by.as_deref(), at, &subject)?;
                return self.applied(inner, applied, &subject).await;
            }
        };
        tx.commit()?;
        Ok(ControlReply::Done(reply))
    }

    /// Applies `change` in the caller's transaction: the controls row and
    /// the audit entry with the version it produced.
    #[allow(clippy::too_many_arguments)]
    fn apply_change(
        &self,
        conn: &mut Connection,
        head: &mut Head,
        policy: &Policy,
        change: &PolicyChange,
        by: Option<&str>,
        at: i64,
        subject: &str,
    ) -> Result<Result<Policy, Refusal>, EngineError> {
        let next = match policy.apply(change, at, by) {
            Ok(next) => next,
            Err(refusal) => return Ok(Err(refusal)),
        };
        store::save_controls(conn, next.controls(), at)?;
        let detail = json!({
            "change": change,
            "by": by,
            "policy_version": next.version(),
            "profile": next.profile(),
            "frozen": next.frozen(),
        });
        *head = append(conn, *head, APPROVERS, "policy.changed", subject, detail)?;
        tracing::info!(change = %change.describe(), version = next.version(), "policy changed");
        Ok(Ok(next))
    }

    /// Applies `change` and commits; a refusal rolls back (the caller answers it).
    #[allow(clippy::too_many_arguments)]
    fn commit_change(
        &self,
        mut tx: store::Tx<'_>,
        audit: &mut Head,
        policy: &Policy,
        change: &PolicyChange,
        by: Option<&str>,
        at: i64,
        subject: &str,
    ) -> Result<Result<u64, Refusal>, EngineError> {
        let mut head = *audit;
        match self.apply_change(&mut tx, &mut head, policy, change, by, at, subject)? {
            Ok(next) => {
                let version = next.version();
                tx.commit()?;
                *audit = head;
                self.set_policy(next);
                Ok(Ok(version))
            }
            Err(refusal) => Ok(Err(refusal)),
        }
    }

    async fn applied(
        &self,
        inner: &mut Inner,
        applied: Result<u64, Refusal>,
        subject: &str,
    ) -> Result<ControlReply, EngineError> {
        match applied {
            Ok(policy_version) => {
                if self.policy().frozen().is_none() {
                    // A quorum reviewed what the tripwires counted: they count afresh.
                    inner.alarms = coffer_policy::Alarms::default();
                }
                Ok(ControlReply::Done(ControlAnswer::Applied { policy_version }))
            }
            Err(refusal) => self.refuse_control(inner, 409, refusal.rule, refusal.message, subject).await,
        }
    }

    async fn veto(
        &self,
        inner: &mut Inner,
        request: &ControlRequest,
        by: &str,
        subject: &str,
        at: i64,
    ) -> Result<ControlReply, EngineError> {
        let digest = request.proposal.digest();
        let tx = store::begin(&mut inner.conn)?;
        // A veto before the quorum is reached blocks the proposal for good too.
        store::schedule(&tx, &digest, &request.proposal, at, "vetoed")?;
        let detail = json!({ "vetoed_by": by, "proposal": &request.proposal });
        inner.audit = append(&tx, inner.audit, APPROVERS, "change.vetoed", subject, detail)?;
        tx.commit()?;
        Ok(ControlReply::Done(ControlAnswer::Vetoed))
    }

    async fn refuse_control(
        &self,
        inner: &mut Inner,
        status: u16,
        rule: RuleTag,
        message: String,
        subject: &str,
    ) -> Result<ControlReply, EngineError> {
        self.log_rejection(inner, rule, &message, subject)?;
        Ok(ControlReply::Rejected { status, rule, message })
    }

    /// Applies the scheduled changes whose time lock ended and that were not
    /// vetoed, against the policy in force then (a change that no longer
    /// applies, a limit already there, is recorded void).
    pub(crate) async fn apply_due_changes(&self) -> Result<(), EngineError> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let at = now();
        for (digest, proposal, applies_at) in store::waiting_changes(&inner.conn)? {
            if applies_at > at {
                break;
            }
            let policy = self.policy();
            let subject = format!("change:{digest}");
            let mut tx = store::begin(&mut inner.conn)?;
            let mut head = inner.audit;
            let why = match self.apply_change(
                &mut tx,
                &mut head,
                &policy,
                &proposal.change,
                Some("quorum, after the time lock"),
                at,
                &subject,
            )? {
                Ok(next) => {
                    store::schedule(&tx, &digest, &proposal, applies_at, "applied")?;
                    tx.commit()?;
                    inner.audit = head;
                    self.set_policy(next);
                    continue;
                }
                Err(refusal) => refusal.message,
            };
            store::schedule(&tx, &digest, &proposal, applies_at, "void")?;
            inner.audit = append(&tx, inner.audit, SIGNER, "change.void", &subject, json!({ "reason": why }))?;
            tx.commit()?;
        }
        Ok(())
    }
}

fn state_of(policy: &Policy, scheduled: Vec<Scheduled>) -> ControlState {
    ControlState {
        policy_version: policy.version(),
        profile: policy.profile(),
        frozen: policy.frozen().cloned(),
        quorum: policy.approvals().map_or(0, |a| a.quorum),
        scheduled,
        allowlist: policy.allowlist(),
    }
}
