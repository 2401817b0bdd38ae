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
//! Its "policy": a payout of exactly 13 base units is refused
//! (`limit.per_payout`); any other is broadcast when decided and confirmed
//! (fee 21000) the first time it is asked about. A sweep is broadcast to the
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
    IdentityKey, Outcome, OutcomeState, PayoutIntent, PublicKey, RequestId, RequestParts, RequestVerifier, RuleTag,
    SignedHeaders, SweepIntent, TopUp, Transfer, Wallet, auth::headers, paths, payload_digest,
};
use tokio::sync::watch;

/// What the stand-in "sent" a token sweep's deposit for its gas, and what sending it cost.
pub const TOP_UP: u64 = 50_000;
/// See [`TOP_UP`].
pub const TOP_UP_FEE: u64 = 21_000;

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
            record: Mutex::default(),
            hold: watch::channel(false).0,
            seen: watch::channel(0).0,
        });
        let app = axum::Router::new()
            .route(paths::PAYOUTS, post(payout))
            .route(paths::SWEEPS, post(sweep))
            .route(&format!("{}/{{id}}", paths::REQUESTS), get(status))
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
    shared.seen.send_modify(|n| *n += 1);
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
    let state = decide(&shared, id, payload_digest(&intent), || {
        if intent.amount == U256::from(13u8) {
            OutcomeState::Refused { rule: RuleTag::LimitPerPayout, message: "13 is too much".into() }
        } else {
            OutcomeState::Broadcast { transfer: transfer(intent.id, intent.destination, intent.amount) }
        }
    });
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

/// The transaction the stand-in "sent" for a payout: its hash names the payout.
pub fn transfer(id: PayoutId, to: Address, amount: U256) -> Transfer {
    let hash = B256::from_slice(&[id.as_uuid().as_bytes().as_slice(); 2].concat());
    Transfer { tx_hash: hash, from: Address::repeat_byte(0x40), to, wallet: None, nonce: 0, amount }
}
