//! Deciding a payout: one transaction that checks the policy against the
//! spend ledger, reserves the spend, allocates the nonce and stores the
//! signed transaction, before anything leaves the process.

use crate::store::Connection;
use coffer_audit::Hash;
use coffer_domain::AssetId;
use coffer_policy::{Alarm, Alarms, PayoutRequest, Spend, Verdict, assess_payout};
use coffer_signer_api::{
    Authenticated, Digest, Outcome, OutcomeState, PayoutApproval, PayoutIntent, Profile, RequestId, RuleTag,
    SweepIntent, Transfer, payload_digest,
};
use serde_json::json;

use super::audit::{GATEWAY, append};
use super::plan::{KeyRef, Purpose, gas_or_refusal, transfer_plan};
use super::{Engine, EngineError, Inner, decision_time, now, now_ms};
use crate::chain::TxPlan;
use crate::config::SignerConfig;
use crate::store::{self, RequestRow, SpendRow, TxRow};

/// What the service answers: an outcome, or a refusal of the request itself.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The intent's outcome (new or as decided before; boxed: a confirmed
    /// sweep with its top-up is far larger than the other answers).
    Outcome(Box<Outcome>),
    /// A refusal of the request, not of the intent: auth, or a known id
    /// with another payload. Nothing was decided.
    Rejected { status: u16, rule: RuleTag, message: String },
    /// No request has this id.
    Unknown,
}

/// A payout decided and committed, not yet released ([`Engine::release`]).
#[derive(Debug)]
pub(crate) struct Paid {
    answer: Answer,
    /// The transaction it signed, to broadcast once the commit is on disk.
    signed: Option<TxRow>,
    /// The decision's time (authentication and the time the lock was held).
    decided: std::time::Duration,
    /// When it committed: its time on disk counts from here, hand-offs included.
    committed: std::time::Instant,
}

/// A signed spend, to record in the windows after the commit.
#[derive(Debug)]
pub(crate) struct WindowSpend {
    pub(crate) at: i64,
    pub(crate) spend: Spend,
    /// Signed under the restricted profile (counted against its own limits too).
    pub(crate) restricted: bool,
}

impl WindowSpend {
    pub(crate) fn new(at: i64, spend: Spend) -> Self {
        Self { at, spend, restricted: false }
    }

    /// Counts it in `windows`.
    pub(crate) fn count(&self, windows: &mut coffer_policy::Windows) {
        if self.restricted {
            windows.record_restricted(self.at, &self.spend);
        } else {
            windows.record(self.at, &self.spend);
        }
    }
}

/// A payout decided, to commit: what to record and, after the commit, what
/// to put in the windows and send.
pub(crate) struct PayoutDecision {
    pub(crate) state: OutcomeState,
    /// When to decide again (the cool-down's end).
    pub(crate) wake_at: Option<i64>,
    pub(crate) spend: Option<WindowSpend>,
    pub(crate) head: coffer_audit::Head,
    /// The transaction signed, to send once the decision is committed.
    pub(crate) signed: Option<TxRow>,
    /// The policy frozen by a tripwire this decision tripped, to install
    /// once the decision is committed.
    pub(crate) frozen: Option<coffer_policy::Policy>,
}

/// A payout's round of approvals, as the store holds it.
#[derive(Clone, Debug)]
pub(crate) struct Round {
    pub(crate) digest: Digest,
    pub(crate) expires_at: i64,
    /// Distinct approvers who approved this round, by name.
    pub(crate) names: Vec<String>,
    /// Whether they are a quorum, with no rejection.
    pub(crate) reached: bool,
}

/// The window entry for a spend-ledger row (rows of an asset no longer in
/// the policy are skipped: nothing can be sent in it).
pub(crate) fn window_spend(config: &SignerConfig, row: &SpendRow) -> Option<WindowSpend> {
    let symbol = row.asset.parse().ok()?;
    let asset = AssetId { chain_id: row.chain_id, symbol };
    let spend = match row.kind {
        "fee" => Spend::Fee { chain: row.chain_id, amount: row.amount },
        _ => Spend::Payout { asset, merchant: row.merchant.as_deref()?.parse().ok()?, amount: row.amount },
    };
    config.assets.iter().any(|a| a.id == asset).then_some(WindowSpend { at: row.at, spend, restricted: row.restricted })
}

pub(crate) fn outcome_of(row: &RequestRow) -> Option<Outcome> {
    Some(Outcome { id: row.id.parse().ok()?, state: row.outcome.clone(), policy_version: row.policy_version })
}

pub(crate) fn refused(rule: RuleTag, message: impl Into<String>) -> OutcomeState {
    OutcomeState::Refused { rule, message: message.into() }
}

/// What a request is, before deciding anything: a replay, an id decided
/// before with another payload, or one decided before with this one.
enum Early {
    Replay,
    Conflict(&'static str),
    Known(Box<RequestRow>),
}

impl Engine {
    /// The nonce once, then the id: `None` when there is something to decide.
    async fn earlier(
        &self,
        conn: &mut Connection,
        auth: &Authenticated,
        id: &str,
        digest: [u8; 32],
    ) -> Result<Option<Early>, EngineError> {
        if !self.admit(conn, auth).await? {
            return Ok(Some(Early::Replay));
        }
        Ok(store::request(conn, id)?
            .map(|row| if row.digest == digest { Early::Known(Box::new(row)) } else { Early::Conflict(row.kind) }))
    }

    /// The answer to a replay or an id decided before.
    async fn answer_early(&self, inner: &mut Inner, early: Early, id: &str) -> Result<Answer, EngineError> {
        match early {
            Early::Replay => {
                self.reject(inner, 401, RuleTag::AuthReplay, "this request's nonce was used before".into(), id).await
            }
            Early::Conflict(kind) => {
                let message = format!("{id} was asked for before with another payload; a {kind} id is decided once");
                self.reject(inner, 409, RuleTag::RequestConflict, message, id).await
            }
            Early::Known(row) => Ok(outcome_of(&row).map_or(Answer::Unknown, |o| Answer::Outcome(Box::new(o)))),
        }
    }

    /// The first steps of every authenticated request, inside its
    /// transaction: the nonce once, and the gateway head it carried.
    async fn admit(&self, conn: &mut Connection, auth: &Authenticated) -> Result<bool, EngineError> {
        let window = i64::try_from(self.config.file.request_window_secs).unwrap_or(300);
        let at = now();
        if !store::accept_nonce(conn, &auth.nonce, at, at - 2 * window)? {
            return Ok(false);
        }
        store::record_gateway_head(conn, now_ms(), Hash(auth.audit_head))?;
        Ok(true)
    }

    /// What follows every committed decision, under the lock: its audit
    /// head, the frozen policy of a tripwire it tripped, its spend in the
    /// windows, its outcome in the metrics.
    pub(crate) fn committed(
        &self,
        inner: &mut Inner,
        head: coffer_audit::Head,
        frozen: Option<coffer_policy::Policy>,
        spend: Option<WindowSpend>,
        state: &OutcomeState,
    ) {
        inner.audit = head;
        if let Some(frozen) = frozen {
            self.set_policy(frozen);
        }
        if let Some(spend) = spend {
            spend.count(&mut inner.windows);
        }
        self.metrics.decided(state);
    }

    /// Logs and counts a refused request (its own transaction).
    pub(crate) async fn reject(
        &self,
        inner: &mut Inner,
        status: u16,
        rule: RuleTag,
        message: String,
        subject: &str,
    ) -> Result<Answer, EngineError> {
        self.log_rejection(inner, rule, &message, subject)?;
        Ok(Answer::Rejected { status, rule, message })
    }

    /// Counts and logs a refused request in its own transaction; a failed
    /// signature counts toward the authentication tripwire too.
    pub(crate) fn log_rejection(
        &self,
        inner: &mut Inner,
        rule: RuleTag,
        message: &str,
        subject: &str,
    ) -> Result<(), EngineError> {
        self.metrics.refused(rule);
        let policy = self.policy();
        let mut tx = store::begin(&mut inner.conn)?;
        let detail = json!({ "rule": rule.as_str(), "message": message, "policy_version": policy.version() });
        let mut head = append(&tx, inner.audit, GATEWAY, "request.rejected", subject, detail)?;
        let failed_auth = matches!(
            rule,
            RuleTag::AuthMalformed
                | RuleTag::AuthSignature
                | RuleTag::AuthStale
                | RuleTag::AuthReplay
                | RuleTag::ApprovalSignature
                | RuleTag::ControlSignature
        );
        let mut frozen = None;
        if failed_auth && let Some(trip) = inner.alarms.note(policy.anomaly(), Alarm::AuthFailure, now()) {
            (frozen, head) = self.freeze(&mut tx, head, &policy, &trip, subject, now())?;
        }
        tx.commit()?;
        inner.audit = head;
        if let Some(frozen) = frozen {
            self.set_policy(frozen);
        }
        Ok(())
    }

    /// `pay payout P`, decided: what [`Engine::release`] then makes durable
    /// and broadcasts. `authenticated` is what reading and authenticating
    /// the request took: the decision's time is that and the time the lock
    /// is held, not the wait for it nor the node's gas estimate before it.
    pub(crate) async fn pay(
        &self,
        auth: &Authenticated,
        intent: PayoutIntent,
        authenticated: std::time::Duration,
    ) -> Result<Paid, EngineError> {
        // The node's estimate, before the lock: the one chain fact a
        // decision cannot take from the view (it depends on the destination).
        let gas = self.payout_gas(&intent).await;
        let mut guard = self.inner.lock().await;
        let locked = std::time::Instant::now();
        let inner = &mut *guard;
        let id = intent.id.to_string();
        let digest = payload_digest(&intent);
        let mut tx = store::begin(&mut inner.conn)?;
        let early = self.earlier(&mut tx, auth, &id, digest).await?;
        if let Some(early) = early {
            // The nonce is kept for a known id; a replay keeps nothing.
            if matches!(early, Early::Replay) {
                drop(tx)
            } else {
                tx.commit()?
            }
            let answer = self.answer_early(inner, early, &id).await?;
            let (decided, committed) = (authenticated + locked.elapsed(), std::time::Instant::now());
            return Ok(Paid { answer, signed: None, decided, committed });
        }
        let now = decision_time(&inner.windows);
        let mut head = inner.audit;
        let detail = json!({ "intent": &intent, "gateway_head": hex::encode(auth.audit_head) });
        head = append(&tx, head, GATEWAY, "payout.requested", &id, detail)?;
        let PayoutDecision { state, wake_at, spend, head, signed, frozen } =
            self.decide_payout(&mut tx, &inner.windows, &mut inner.alarms, head, &intent, gas, None, now).await?;
        let row = RequestRow {
            id: id.clone(),
            kind: "payout",
            digest,
            intent: serde_json::to_string(&intent).unwrap_or_default(),
            chain_id: intent.chain_id,
            asset: intent.asset.to_string(),
            outcome: state.clone(),
            wake_at,
            policy_version: self.policy().version(),
        };
        store::insert_request(&tx, &row, now)?;
        tx.commit()?;
        self.committed(inner, head, frozen, spend, &state);
        let (decided, committed) = (authenticated + locked.elapsed(), std::time::Instant::now());
        self.metrics.decision_time(decided);
        let outcome = Outcome { id: RequestId::Payout(intent.id), state, policy_version: row.policy_version };
        Ok(Paid { answer: Answer::Outcome(Box::new(outcome)), signed, decided, committed })
    }

    /// After [`Engine::pay`], off the engine's thread (where the next
    /// decisions run): a signed decision on disk, then its own transaction
    /// broadcast (the tracker sends whatever else waits). The answer waits
    /// for the disk in the service, as every answer does.
    pub(crate) async fn release(&self, paid: Paid) -> Answer {
        if let Some(signed) = paid.signed {
            self.durable().await;
            self.metrics.durable_decision_time(paid.decided + paid.committed.elapsed());
            self.broadcast(&signed).await;
        }
        paid.answer
    }

    /// The policy's verdict on a payout and, when it says sign, the signed
    /// transaction stored: the state to record, when to look again, the
    /// spend to put in the windows, the new audit head and, when a tripwire
    /// tripped, the frozen policy to install after the commit.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn decide_payout(
        &self,
        conn: &mut Connection,
        windows: &coffer_policy::Windows,
        alarms: &mut Alarms,
        head: coffer_audit::Head,
        intent: &PayoutIntent,
        gas: Result<u64, EngineError>,
        round: Option<&Round>,
        now: i64,
    ) -> Result<PayoutDecision, EngineError> {
        let id = intent.id.to_string();
        let policy = self.policy();
        let asset = AssetId { chain_id: intent.chain_id, symbol: intent.asset };
        let store::Destination { first_requested_at: first, paid } =
            store::destination(conn, intent.chain_id, intent.destination)?;
        let request = PayoutRequest {
            merchant: intent.merchant,
            asset,
            amount: intent.amount,
            destination: intent.destination,
            destination_first_requested: first,
            destination_paid: paid,
            approved: round.is_some_and(|r| r.reached && r.expires_at > now),
        };
        let verdict =
            assess_payout(&policy, windows, alarms, &self.screening, &self.treasury(intent.chain_id), &request, now);
        let version = policy.version();
        let rules = *policy.anomaly();
        let mut trip = None;
        let (state, wake_at, spend, signed) = match verdict {
            Verdict::Freeze(tripped) => {
                let message = format!(
                    "This payout tripped the signer's {} tripwire ({}); outgoing payments are frozen until a quorum of approvers lifts the freeze.",
                    tripped.reason, tripped.message
                );
                let state = refused(tripped.reason, message);
                trip = Some(tripped);
                (state, None, None, None)
            }
            Verdict::Refuse(refusal) => {
                trip = alarms.note(&rules, Alarm::Refusal, now);
                (refused(refusal.rule, refusal.message), None, None, None)
            }
            Verdict::Cooldown { until } => {
                store::insert_destination(conn, intent.chain_id, intent.destination, now)?;
                (OutcomeState::PendingCooldown { until }, Some(until), None, None)
            }
            Verdict::Approval { quorum } => {
                store::insert_destination(conn, intent.chain_id, intent.destination, now)?;
                let ttl = policy.approvals().map_or(3600, |a| i64::try_from(a.ttl_secs).unwrap_or(3600));
                let (digest, expires_at, approved_by) = match round {
                    Some(open) if open.expires_at > now => (open.digest, open.expires_at, open.names.clone()),
                    _ => {
                        let expires_at = now.saturating_add(ttl);
                        (PayoutApproval { payout: intent.clone(), expires_at }.digest(), expires_at, Vec::new())
                    }
                };
                (
                    OutcomeState::PendingApproval { digest, expires_at, quorum, approved_by },
                    Some(expires_at),
                    None,
                    None,
                )
            }
            Verdict::Sign => match self.sign_payout(conn, intent, gas, now).await? {
                Err(refusal) => (refusal, None, None, None),
                Ok((transfer, row)) => {
                    // Inserts the destination if it is new, and marks it paid.
                    store::mark_paid(conn, intent.chain_id, intent.destination, now)?;
                    let spend = SpendRow {
                        at: now,
                        kind: "payout",
                        chain_id: intent.chain_id,
                        asset: intent.asset.to_string(),
                        merchant: Some(intent.merchant.to_string()),
                        destination: Some(intent.destination),
                        amount: intent.amount,
                        request_id: Some(id.clone()),
                        restricted: policy.profile() == Profile::Restricted,
                    };
                    store::insert_spend(conn, &spend)?;
                    let window = WindowSpend {
                        at: now,
                        spend: Spend::Payout { asset, merchant: intent.merchant, amount: intent.amount },
                        restricted: spend.restricted,
                    };
                    (OutcomeState::Broadcast { transfer }, None, Some(window), Some(row))
                }
            },
        };
        // A first request to a destination never paid counts toward the burst
        // tripwire; the one that would cross it was refused above.
        if !paid && first.is_none() && trip.is_none() {
            trip = alarms.note(&rules, Alarm::NewDestination, now);
        }
        let action = match &state {
            OutcomeState::Refused { .. } => "payout.refused",
            OutcomeState::PendingCooldown { .. } => "payout.pending_cooldown",
            OutcomeState::PendingApproval { .. } => "payout.pending_approval",
            _ => "payout.signed",
        };
        let mut head = append(conn, head, GATEWAY, action, &id, json!({ "state": &state, "policy_version": version }))?;
        let mut frozen = None;
        if let Some(trip) = trip {
            (frozen, head) = self.freeze(conn, head, &policy, &trip, &id, now)?;
        }
        Ok(PayoutDecision { state, wake_at, spend, head, signed, frozen })
    }

    /// `status of request id`.
    pub(crate) async fn status(&self, auth: &Authenticated, id: &str) -> Result<Answer, EngineError> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let mut tx = store::begin(&mut inner.conn)?;
        if !self.admit(&mut tx, auth).await? {
            drop(tx);
            return self
                .reject(inner, 401, RuleTag::AuthReplay, "this request's nonce was used before".into(), id)
                .await;
        }
        let row = store::request(&tx, id)?;
        tx.commit()?;
        Ok(row.as_ref().and_then(outcome_of).map_or(Answer::Unknown, |o| Answer::Outcome(Box::new(o))))
    }

    /// `sweep deposit i`.
    pub(crate) async fn sweep(
        &self,
        auth: &Authenticated,
        intent: SweepIntent,
        authenticated: std::time::Duration,
    ) -> Result<Answer, EngineError> {
        let mut guard = self.inner.lock().await;
        let locked = std::time::Instant::now();
        let inner = &mut *guard;
        let id = intent.id.to_string();
        let digest = payload_digest(&intent);
        let mut tx = store::begin(&mut inner.conn)?;
        let early = self.earlier(&mut tx, auth, &id, digest).await?;
        if let Some(early) = early {
            // The nonce is kept for a known id; a replay keeps nothing.
            if matches!(early, Early::Replay) {
                drop(tx)
            } else {
                tx.commit()?
            }
            return self.answer_early(inner, early, &id).await;
        }
        let now = decision_time(&inner.windows);
        let mut head = inner.audit;
        let detail = json!({ "intent": &intent, "gateway_head": hex::encode(auth.audit_head) });
        head = append(&tx, head, GATEWAY, "sweep.requested", &id, detail)?;
        let (state, spend) = self.decide_sweep(&mut tx, &inner.windows, &intent, now).await?;
        let version = self.policy().version();
        let action = match &state {
            OutcomeState::Refused { .. } => "sweep.refused",
            OutcomeState::Pending => "sweep.topped_up",
            _ => "sweep.signed",
        };
        head = append(&tx, head, GATEWAY, action, &id, json!({ "state": &state, "policy_version": version }))?;
        let mut frozen = None;
        if let OutcomeState::Refused { rule: RuleTag::AnomalyChainMismatch, message } = &state {
            let trip = coffer_policy::Trip { reason: RuleTag::AnomalyChainMismatch, message: message.clone() };
            (frozen, head) = self.freeze(&mut tx, head, &self.policy(), &trip, &id, now)?;
        }
        let row = RequestRow {
            id: id.clone(),
            kind: "sweep",
            digest,
            intent: serde_json::to_string(&intent).unwrap_or_default(),
            chain_id: intent.chain_id,
            asset: intent.asset.to_string(),
            outcome: state.clone(),
            wake_at: None,
            policy_version: version,
        };
        store::insert_request(&tx, &row, now)?;
        tx.commit()?;
        self.committed(inner, head, frozen, spend, &state);
        self.metrics.decision_time(authenticated + locked.elapsed());
        drop(guard);
        self.send_pending(intent.chain_id).await;
        Ok(Answer::Outcome(Box::new(Outcome { id: RequestId::Sweep(intent.id), state, policy_version: version })))
    }

    /// The gas limit of a payout's transfer from the hot wallet (no node
    /// call for the native coin; an asset the signer lacks is refused later).
    pub(crate) async fn payout_gas(&self, intent: &PayoutIntent) -> Result<u64, EngineError> {
        let asset_id = AssetId { chain_id: intent.chain_id, symbol: intent.asset };
        let Some(asset) = self.asset(asset_id) else { return Ok(0) };
        self.transfer_gas(asset, self.hot(), intent.destination, intent.amount).await
    }

    /// Checks against the hot wallet's funds, builds and stores the payout's
    /// transaction. The funds are checked before a nonce is taken, so a
    /// refusal leaves no gap in the hot wallet's nonces.
    async fn sign_payout(
        &self,
        conn: &mut Connection,
        intent: &PayoutIntent,
        gas: Result<u64, EngineError>,
        now: i64,
    ) -> Result<Result<(Transfer, TxRow), OutcomeState>, EngineError> {
        let chain = intent.chain_id;
        let asset_id = AssetId { chain_id: chain, symbol: intent.asset };
        let (Some(asset), Some(native)) =
            (self.asset(asset_id).cloned(), self.asset(asset_id).and_then(|a| self.native_of(a)).cloned())
        else {
            return Ok(Err(refused(RuleTag::AssetUnknown, format!("{asset_id} is not in the signer's token table"))));
        };
        let funds = self.hot_funds(conn, chain).await?;
        let (funds, short) = self.recheck(conn, chain, funds, |f| f.lacks_token(&asset, intent.amount)).await?;
        if let Some(refusal) = short {
            return Ok(Err(refusal));
        }
        let gas = match gas_or_refusal(&asset, gas)? {
            Ok(gas) => gas,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let draft_at =
            |f: &super::funds::HotFunds| transfer_plan(&asset, 0, intent.destination, intent.amount, gas, f.view.fees);
        let (funds, short) = self
            .recheck(conn, chain, funds, |f| {
                f.lacks_native(&native, &draft_at(f)).or_else(|| f.lacks_token(&asset, intent.amount))
            })
            .await?;
        if let Some(refusal) = short {
            return Ok(Err(refusal));
        }
        let draft = draft_at(&funds);
        let hot = self.hot();
        let nonce = self.allocate_nonce(conn, chain, hot).await?;
        let plan = TxPlan { nonce, ..draft };
        let id = intent.id.to_string();
        let row = self
            .sign_and_store(
                conn,
                KeyRef::Hot,
                plan,
                Purpose::Payout,
                Some(&id),
                intent.destination,
                &asset,
                intent.amount,
                0,
                now,
            )
            .await?;
        let transfer = Transfer {
            tx_hash: row.hash,
            from: hot,
            to: intent.destination,
            wallet: None,
            nonce,
            amount: intent.amount,
        };
        Ok(Ok((transfer, row)))
    }
}
