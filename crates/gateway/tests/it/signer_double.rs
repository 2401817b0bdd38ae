//! A recording stand-in for the signer process, for the gateway's payout
//! tests until the real signer lands (its engineer adds the end-to-end test
//! against it). It speaks the signer's protocol as `coffer-signer-api`
//! defines it: it verifies every request's signature with the gateway's
//! public key (and refuses a replayed nonce), decides once per request id
//! (a repeated id with the same payload answers what it decided, another
//! payload answers 409 `request.conflict`), and signs every answer with an
//! `IdentityKey` over its status, body and the request's nonce. It records
//! every request it verified, so a test can count submissions and decisions.
//!
//! It is a double of the signer process, whose own tests cover the real
//! thing: the gateway's tests use it to see what the gateway does with
//! each answer, never to prove the signer's rules.
//!
//! Its "policy": a payout of exactly 13 base units is refused
//! (`limit.per_payout`); one of exactly [`NEEDS_APPROVAL`] units waits for
//! [`QUORUM`] approvers (`pending_approval`, its round's digest computed as
//! `coffer-signer-api` says); any other is broadcast when decided and
//! confirmed (fee 21000) the first time it is asked about. Approvals
//! (`POST /v1/payouts/{id}/approvals`) are checked as the signer checks
//! them: the signature, a listed approver ([`approver`]), the waiting
//! round's digest; a rejection refuses (`approval.rejected`), the quorum
//! broadcasts. Its controls (`GET /v1/control`) are what the test sets
//! ([`SignerDouble::freeze`], …); `POST /v1/control` is recorded and
//! answered `applied` if it carries an approval, 401 `control.signature`
//! if not. A sweep is broadcast to the
//! hot wallet, moving what the test said the deposit holds
//! ([`SignerDouble::deposit_holds`]), and confirmed likewise. It can hold its answers
//! (a request arrives, is decided and recorded, and its answer waits), to
//! stop a gateway mid-submission: the signer has decided, the gateway has
//! not heard.

#![allow(clippy::unwrap_used, unreachable_pub, dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use coffer_domain::{Address, B256, PayoutId, U256};
use coffer_signer_api::{
    Approval, ControlAnswer, ControlState, Decision as Verdict, FreezeInfo, IdentityKey, Outcome, OutcomeState,
    PayoutApproval, PayoutIntent, Profile, PublicKey, RequestId, RequestParts, RequestVerifier, RuleTag, SignedHeaders,
    SweepIntent, TopUp, Transfer, Wallet, auth::headers, paths, payload_digest,
};
use ed25519_dalek::{Signer as _, SigningKey};
use tokio::sync::watch;

/// What the stand-in "sent" a token sweep's deposit for its gas, and what sending it cost.
pub const TOP_UP: u64 = 50_000;
/// See [`TOP_UP`].
pub const TOP_UP_FEE: u64 = 21_000;

/// A payout of this many base units waits for approvers.
pub const NEEDS_APPROVAL: u64 = 77;
/// Distinct approvers it waits for.
pub const QUORUM: u8 = 2;

/// Approver `n`'s key (0, 1 and 2 are listed; others are strangers).
pub fn approver(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[0xa0 + n; 32])
}

fn approver_name(key: &PublicKey) -> Option<String> {
    (0..3u8).find(|n| approver(*n).verifying_key().to_bytes() == key.to_bytes()).map(|n| format!("approver-{n}"))
}

/// An approval of `digest` signed with `key`, as `coffer approve` makes it.
pub fn sign(key: &SigningKey, decision: Verdict, digest: coffer_signer_api::Digest) -> Approval {
    let approver = PublicKey::from_bytes(&key.verifying_key().to_bytes()).unwrap();
    let signature = hex::encode(key.sign(decision.signed_text(&digest).as_bytes()).to_bytes());
    Approval { approver, decision, digest, signature }
}

/// What the stand-in decided about one request.
#[derive(Clone, Debug)]
struct Decision {
    digest: [u8; 32],
    state: OutcomeState,
}

#[derive(Default)]
struct Record {
    decided: HashMap<RequestId, Decision>,
    /// Every verified `POST`, in order: the request id it named.
    posts: Vec<RequestId>,
    nonces: HashSet<[u8; 16]>,
    /// What each deposit index holds, as a chain would say.
    deposits: HashMap<u32, U256>,
    /// Every sweep asked for: (chain, asset, index).
    sweeps: Vec<SweepIntent>,
    /// Payouts waiting for approvers: what their round signs.
    waiting: HashMap<RequestId, PayoutApproval>,
    /// Every approval received, as sent.
    approvals: Vec<Approval>,
    /// Every control request received, as sent.
    control_posts: Vec<serde_json::Value>,
    /// What `GET /v1/control` answers.
    control: Option<ControlState>,
    /// How many times it was read.
    control_reads: usize,
}

struct Shared {
    identity: IdentityKey,
    verifier: RequestVerifier,
    record: Mutex<Record>,
    /// `true` while answers are held.
    hold: watch::Sender<bool>,
    /// Bumped on every verified request, for waiting.
    seen: watch::Sender<usize>,
}

/// A running stand-in; stops when dropped.
pub struct SignerDouble {
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for SignerDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The identity key the stand-in signs with (and the gateway's config trusts).
pub fn identity() -> IdentityKey {
    IdentityKey::from_secret(&[7u8; 32])
}

impl SignerDouble {
    /// Starts on a free port, trusting requests signed by `gateway`.
    pub async fn start(gateway: PublicKey) -> Self {
        Self::start_signing_with(gateway, identity()).await
    }

    /// Starts signing its answers with `identity` (not the one the gateway trusts, say).
    pub async fn start_signing_with(gateway: PublicKey, identity: IdentityKey) -> Self {
        let shared = Arc::new(Shared {
            identity,
            verifier: RequestVerifier::new(gateway, 30),
            record: Mutex::new(Record { control: Some(calm(1, Profile::Normal)), ..Record::default() }),
            hold: watch::channel(false).0,
            seen: watch::channel(0).0,
        });
        let app = axum::Router::new()
            .route(paths::PAYOUTS, post(payout))
            .route(paths::SWEEPS, post(sweep))
            .route(&format!("{}/{{id}}", paths::REQUESTS), get(status))
            .route(&format!("{}/{{id}}/{}", paths::PAYOUTS, paths::APPROVALS), post(approve))
            .route(paths::CONTROL, get(control).post(change_control))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, shared, server }
    }

    /// Holds every answer until [`SignerDouble::release`] (requests are still recorded).
    pub fn hold(&self) {
        self.shared.hold.send_replace(true);
    }

    /// Answers what was held, and everything after.
    pub fn release(&self) {
        self.shared.hold.send_replace(false);
    }

    /// Waits until the stand-in has verified `count` requests in all.
    pub async fn until_seen(&self, count: usize) {
        let mut seen = self.shared.seen.subscribe();
        let _ = seen.wait_for(|n| *n >= count).await;
    }

    /// Every verified `POST`'s request id, in order.
    pub fn posts(&self) -> Vec<RequestId> {
        self.shared.record.lock().unwrap().posts.clone()
    }

    /// Says that deposit `index` holds `units` (what a sweep of it moves).
    pub fn deposit_holds(&self, index: u32, units: U256) {
        self.shared.record.lock().unwrap().deposits.insert(index, units);
    }

    /// Every sweep intent received, retries included.
    pub fn sweeps(&self) -> Vec<SweepIntent> {
        self.shared.record.lock().unwrap().sweeps.clone()
    }

    /// Freezes outgoing payments for `reason`, since now.
    pub fn freeze(&self, reason: RuleTag, message: &str) {
        let since = coffer_domain::Timestamp::now().as_millis() / 1000;
        let mut record = self.shared.record.lock().unwrap();
        if let Some(state) = record.control.as_mut() {
            state.frozen = Some(FreezeInfo { reason, message: message.into(), since, by: None });
        }
    }

    /// Lifts the freeze, as a quorum's unfreeze does (a new policy version).
    pub fn unfreeze(&self) {
        let mut record = self.shared.record.lock().unwrap();
        if let Some(state) = record.control.as_mut() {
            state.frozen = None;
            state.policy_version += 1;
        }
    }

    /// Sets the policy version and profile.
    pub fn set_policy(&self, version: u64, profile: Profile) {
        let mut record = self.shared.record.lock().unwrap();
        if let Some(state) = record.control.as_mut() {
            state.policy_version = version;
            state.profile = profile;
        }
    }

    /// Makes `GET /v1/control` answer 503 (`None`) or again (`Some`).
    pub fn control_unavailable(&self, unavailable: bool) {
        let mut record = self.shared.record.lock().unwrap();
        record.control = if unavailable { None } else { Some(calm(1, Profile::Normal)) };
    }

    /// How many times the controls were read.
    pub fn control_reads(&self) -> usize {
        self.shared.record.lock().unwrap().control_reads
    }

    /// Waits until the controls were read `count` times more than now.
    pub async fn until_control_read(&self, more: usize) {
        let target = self.control_reads() + more;
        for _ in 0..2000 {
            if self.control_reads() >= target {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the controls were never read");
    }

    /// The round a waiting payout's approvers sign.
    pub fn waiting(&self, id: PayoutId) -> Option<PayoutApproval> {
        self.shared.record.lock().unwrap().waiting.get(&RequestId::Payout(id)).cloned()
    }

    /// Sends an approval to the stand-in directly, as an approver may,
    /// without the gateway: what it answers.
    pub async fn approve_directly(&self, id: PayoutId, approval: &Approval) -> u16 {
        let url = format!("{}{}/{id}/{}", self.url, paths::PAYOUTS, paths::APPROVALS);
        reqwest::Client::new().post(url).json(approval).send().await.unwrap().status().as_u16()
    }

    /// Every approval received, as sent.
    pub fn approvals(&self) -> Vec<Approval> {
        self.shared.record.lock().unwrap().approvals.clone()
    }

    /// Every control request received.
    pub fn control_posts(&self) -> Vec<serde_json::Value> {
        self.shared.record.lock().unwrap().control_posts.clone()
    }

    /// How many requests it decided (one per id, whatever the retries).
    pub fn decisions(&self) -> usize {
        self.shared.record.lock().unwrap().decided.len()
    }
}

/// An answer signed over its status, body and the request's nonce.
fn signed(shared: &Shared, nonce: &[u8; 16], status: StatusCode, body: String) -> Response {
    let signature = shared.identity.sign_answer(status.as_u16(), body.as_bytes(), nonce);
    let mut response = (status, [("content-type", "application/json")], body).into_response();
    response.headers_mut().insert(headers::ANSWER_SIGNATURE, signature.parse().unwrap());
    response
}

fn error(shared: &Shared, nonce: &[u8; 16], status: StatusCode, rule: RuleTag, message: &str) -> Response {
    let body = serde_json::json!({"error": {"rule": rule.as_str(), "message": message}}).to_string();
    signed(shared, nonce, status, body)
}

/// Checks the request's signature and nonce; `Err` is the answer to give.
#[allow(clippy::result_large_err)]
fn verify(shared: &Shared, method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<[u8; 16], Response> {
    let nonce = verify_quietly(shared, method, path, headers, body)?;
    shared.seen.send_modify(|n| *n += 1);
    Ok(nonce)
}

/// As [`verify`], uncounted: the controls are read all the time, and
/// [`SignerDouble::until_seen`] counts requests about payouts and sweeps.
#[allow(clippy::result_large_err)]
fn verify_quietly(
    shared: &Shared,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<[u8; 16], Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let parsed = SignedHeaders::parse(header).map_err(|e| (StatusCode::UNAUTHORIZED, e.to_string()).into_response())?;
    let now = coffer_domain::Timestamp::now().as_millis() / 1000;
    let request = RequestParts { method, path, body };
    if let Err(failure) = shared.verifier.verify(&request, &parsed, now) {
        return Err(error(shared, &parsed.nonce, StatusCode::UNAUTHORIZED, failure.rule, &failure.message));
    }
    if !shared.record.lock().unwrap().nonces.insert(parsed.nonce) {
        return Err(error(shared, &parsed.nonce, StatusCode::UNAUTHORIZED, RuleTag::AuthReplay, "nonce seen"));
    }
    Ok(parsed.nonce)
}

async fn held(shared: &Shared) {
    let mut hold = shared.hold.subscribe();
    let _ = hold.wait_for(|hold| !*hold).await;
}

fn outcome(shared: &Shared, nonce: &[u8; 16], id: RequestId, state: OutcomeState) -> Response {
    let body = serde_json::to_string(&Outcome { id, state, policy_version: 1 }).unwrap();
    signed(shared, nonce, StatusCode::OK, body)
}

/// Decides `id` once (`decide` runs only the first time), or answers 409.
fn decide(
    shared: &Shared,
    id: RequestId,
    digest: [u8; 32],
    decide: impl FnOnce() -> OutcomeState,
) -> Option<OutcomeState> {
    let mut record = shared.record.lock().unwrap();
    record.posts.push(id);
    let decision = record.decided.entry(id).or_insert_with(|| Decision { digest, state: decide() });
    (decision.digest == digest).then(|| decision.state.clone())
}

async fn payout(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let nonce = match verify(&shared, "POST", paths::PAYOUTS, &headers, &body) {
        Ok(nonce) => nonce,
        Err(answer) => return answer,
    };
    let intent: PayoutIntent = serde_json::from_slice(&body).unwrap();
    let id = RequestId::Payout(intent.id);
    let expires_at = coffer_domain::Timestamp::now().as_millis() / 1000 + 3600;
    let round = PayoutApproval { payout: intent.clone(), expires_at };
    let state = decide(&shared, id, payload_digest(&intent), || {
        if intent.amount == U256::from(13u8) {
            OutcomeState::Refused { rule: RuleTag::LimitPerPayout, message: "13 is too much".into() }
        } else if intent.amount == U256::from(NEEDS_APPROVAL) {
            waiting_state(&round, Vec::new())
        } else {
            OutcomeState::Broadcast { transfer: transfer(intent.id, intent.destination, intent.amount) }
        }
    });
    if intent.amount == U256::from(NEEDS_APPROVAL) {
        shared.record.lock().unwrap().waiting.entry(id).or_insert(round);
    }
    // Decided and recorded; the answer may be held (and lost, if the
    // gateway gives up waiting): the hardest moment for it to stop.
    held(&shared).await;
    match state {
        Some(state) => outcome(&shared, &nonce, id, state),
        None => error(&shared, &nonce, StatusCode::CONFLICT, RuleTag::RequestConflict, "another payload"),
    }
}

async fn sweep(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let nonce = match verify(&shared, "POST", paths::SWEEPS, &headers, &body) {
        Ok(nonce) => nonce,
        Err(answer) => return answer,
    };
    let intent: SweepIntent = serde_json::from_slice(&body).unwrap();
    let id = RequestId::Sweep(intent.id);
    let moved = {
        let mut record = shared.record.lock().unwrap();
        record.sweeps.push(intent.clone());
        record.deposits.get(&intent.index.get()).copied().unwrap_or_default()
    };
    let hash = B256::from_slice(&[intent.id.as_uuid().as_bytes().as_slice(); 2].concat());
    let to = Address::repeat_byte(0x40);
    let transfer = Transfer {
        tx_hash: hash,
        from: Address::repeat_byte(0x41),
        to,
        wallet: Some(Wallet::Hot),
        nonce: 0,
        amount: moved,
    };
    let state = decide(&shared, id, payload_digest(&intent), || OutcomeState::Broadcast { transfer });
    held(&shared).await;
    match state {
        Some(state) => outcome(&shared, &nonce, id, state),
        None => error(&shared, &nonce, StatusCode::CONFLICT, RuleTag::RequestConflict, "another payload"),
    }
}

async fn status(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("{}/{id}", paths::REQUESTS);
    let nonce = match verify(&shared, "GET", &path, &headers, b"") {
        Ok(nonce) => nonce,
        Err(answer) => return answer,
    };
    held(&shared).await;
    let Ok(id) = id.parse::<RequestId>() else {
        return error(&shared, &nonce, StatusCode::NOT_FOUND, RuleTag::AuthMalformed, "no such request");
    };
    let state = {
        let mut record = shared.record.lock().unwrap();
        let token_sweep = matches!(id, RequestId::Sweep(sweep)
            if record.sweeps.iter().any(|s| s.id == sweep && s.asset.as_str() != "ETH"));
        let Some(decision) = record.decided.get_mut(&id) else {
            drop(record);
            return error(&shared, &nonce, StatusCode::NOT_FOUND, RuleTag::AuthMalformed, "no such request");
        };
        // Mined and confirmed by the time it is asked about; a token
        // sweep's deposit was sent its gas first.
        if let OutcomeState::Broadcast { transfer } = &decision.state {
            decision.state = OutcomeState::Confirmed {
                transfer: transfer.clone(),
                block_number: 7,
                network_fee: U256::from(21_000u64),
                top_up: token_sweep.then(|| TopUp {
                    tx_hash: B256::repeat_byte(0x42),
                    amount: U256::from(TOP_UP),
                    network_fee: U256::from(TOP_UP_FEE),
                }),
            };
        }
        decision.state.clone()
    };
    outcome(&shared, &nonce, id, state)
}

fn calm(policy_version: u64, profile: Profile) -> ControlState {
    ControlState { policy_version, profile, frozen: None, quorum: QUORUM, scheduled: Vec::new(), allowlist: Vec::new() }
}

fn waiting_state(round: &PayoutApproval, approved_by: Vec<String>) -> OutcomeState {
    OutcomeState::PendingApproval { digest: round.digest(), expires_at: round.expires_at, quorum: QUORUM, approved_by }
}

async fn approve(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("{}/{id}/{}", paths::PAYOUTS, paths::APPROVALS);
    // An approver may send it directly, unsigned: the approval's own
    // signature is what counts. Signed, it is checked as any request.
    let nonce = if headers.contains_key(headers::SIGNATURE) {
        match verify(&shared, "POST", &path, &headers, &body) {
            Ok(nonce) => nonce,
            Err(answer) => return answer,
        }
    } else {
        [0u8; 16]
    };
    let Ok(approval) = serde_json::from_slice::<Approval>(&body) else {
        return error(&shared, &nonce, StatusCode::BAD_REQUEST, RuleTag::RequestMalformed, "not an approval");
    };
    let Ok(id) = id.parse::<PayoutId>().map(RequestId::Payout) else {
        return error(&shared, &nonce, StatusCode::NOT_FOUND, RuleTag::RequestMalformed, "no such payout");
    };
    let mut record = shared.record.lock().unwrap();
    record.approvals.push(approval.clone());
    let Some(decision) = record.decided.get(&id).cloned() else {
        drop(record);
        return error(&shared, &nonce, StatusCode::NOT_FOUND, RuleTag::RequestMalformed, "no such payout");
    };
    let name = approver_name(&approval.approver);
    let Some(name) = name.filter(|_| approval.verifies()) else {
        drop(record);
        return error(&shared, &nonce, StatusCode::UNAUTHORIZED, RuleTag::ApprovalSignature, "not an approver's");
    };
    let OutcomeState::PendingApproval { mut approved_by, .. } = decision.state else {
        drop(record);
        return error(&shared, &nonce, StatusCode::CONFLICT, RuleTag::ApprovalNotWaiting, "it waits for nothing");
    };
    let round = record.waiting[&id].clone();
    if approval.digest != round.digest() {
        drop(record);
        return error(&shared, &nonce, StatusCode::CONFLICT, RuleTag::ApprovalMismatch, "another digest waits");
    }
    let state = match approval.decision {
        Verdict::Reject => {
            OutcomeState::Refused { rule: RuleTag::ApprovalRejected, message: format!("{name} rejected it") }
        }
        Verdict::Approve => {
            if !approved_by.contains(&name) {
                approved_by.push(name);
            }
            if approved_by.len() >= usize::from(QUORUM) {
                let p = &round.payout;
                OutcomeState::Broadcast { transfer: transfer(p.id, p.destination, p.amount) }
            } else {
                waiting_state(&round, approved_by)
            }
        }
    };
    if let Some(decided) = record.decided.get_mut(&id) {
        decided.state = state.clone();
    }
    drop(record);
    outcome(&shared, &nonce, id, state)
}

async fn control(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let nonce = match verify_quietly(&shared, "GET", paths::CONTROL, &headers, b"") {
        Ok(nonce) => nonce,
        Err(answer) => return answer,
    };
    let state = {
        let mut record = shared.record.lock().unwrap();
        record.control_reads += 1;
        record.control.clone()
    };
    match state {
        Some(state) => signed(&shared, &nonce, StatusCode::OK, serde_json::to_string(&state).unwrap()),
        None => error(&shared, &nonce, StatusCode::SERVICE_UNAVAILABLE, RuleTag::AuthMalformed, "not now"),
    }
}

async fn change_control(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let nonce = match verify_quietly(&shared, "POST", paths::CONTROL, &headers, &body) {
        Ok(nonce) => nonce,
        Err(answer) => return answer,
    };
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let signed_by_someone = request["approvals"].as_array().is_some_and(|a| !a.is_empty());
    let version = {
        let mut record = shared.record.lock().unwrap();
        record.control_posts.push(request);
        record.control.as_ref().map_or(0, |c| c.policy_version)
    };
    if !signed_by_someone {
        return error(&shared, &nonce, StatusCode::UNAUTHORIZED, RuleTag::ControlSignature, "no approver signed it");
    }
    let answer = ControlAnswer::Applied { policy_version: version + 1 };
    signed(&shared, &nonce, StatusCode::OK, serde_json::to_string(&answer).unwrap())
}

/// The transaction the stand-in "sent" for a payout: its hash names the payout.
pub fn transfer(id: PayoutId, to: Address, amount: U256) -> Transfer {
    let hash = B256::from_slice(&[id.as_uuid().as_bytes().as_slice(); 2].concat());
    Transfer { tx_hash: hash, from: Address::repeat_byte(0x40), to, wallet: None, nonce: 0, amount }
}
