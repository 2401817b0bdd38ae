//! The signer's HTTP API: three semantic operations, each request signed
//! by the gateway and each answer signed by the signer's identity key.
//!
//! Authentication happens before anything is parsed for meaning; a failure
//! is counted, logged on the audit log, and answered 401 with its rule tag.
//! Nothing here signs bytes a caller chose.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use coffer_signer_api::auth::headers;
use coffer_signer_api::{
    Approval, Authenticated, ControlRequest, IdentityKey, PayoutIntent, RequestParts, RequestVerifier, RuleTag,
    SignedHeaders, SweepIntent, paths,
};
use serde_json::json;

use tokio::runtime::Handle;

use crate::engine::{Answer, ControlReply, Engine, EngineError, now};
use crate::engine_thread::on_engine;

/// Bodies larger than this are refused unread: an intent is a few hundred bytes.
const BODY_LIMIT: usize = 16 * 1024;

struct Service {
    engine: Arc<Engine>,
    /// The engine's own runtime ([`crate::engine_thread`]), where decisions run.
    decider: Handle,
    verifier: RequestVerifier,
    identity: IdentityKey,
}

/// The signer's router; decisions run on `decider`.
pub(crate) fn router(engine: Arc<Engine>, decider: Handle) -> Router {
    let window = i64::try_from(engine.config.file.request_window_secs).unwrap_or(30);
    let verifier = RequestVerifier::new(engine.config.gateway_key, window);
    let identity = engine.keys.identity();
    let service = Arc::new(Service { engine, decider, verifier, identity });
    Router::new()
        .route(paths::PAYOUTS, post(pay))
        .route(paths::SWEEPS, post(sweep))
        .route(&format!("{}/{{id}}", paths::REQUESTS), get(status))
        .route(&format!("{}/{{id}}/{}", paths::PAYOUTS, paths::APPROVALS), post(approve))
        .route(paths::CONTROL, get(control_state).post(control))
        // The metrics count decisions as they commit, so they wait too.
        .route("/metrics", get(metrics))
        // Only the answers that speak of the store wait for it.
        .route_layer(middleware::from_fn_with_state(service.clone(), durable_answers))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(service)
}

/// Every answer waits until the store's commits are on disk (group commit,
/// [`crate::store::Durability`]): nobody may hear of a decision that a
/// power cut could still take back. The payout's whole-request time is
/// measured here, so it includes that wait.
async fn durable_answers(State(service): State<Arc<Service>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let payout = request.method() == Method::POST && request.uri().path() == paths::PAYOUTS;
    let response = next.run(request).await;
    service.engine.durable().await;
    if payout {
        service.engine.metrics.request_time(started.elapsed());
    }
    response
}

impl Service {
    /// Runs a decision on the engine's runtime. Once started it finishes,
    /// even if the caller goes away: a decision is never cut in half.
    async fn decide<F>(&self, work: F) -> Result<Answer, EngineError>
    where
        F: std::future::Future<Output = Result<Answer, EngineError>> + Send + 'static,
    {
        on_engine(&self.decider, work).await.unwrap_or(Err(EngineError::Stopped))
    }

    /// Checks signature and timestamp; the nonce is checked by the engine,
    /// inside the decision's transaction.
    async fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Authenticated, Response> {
        let signed = SignedHeaders::parse(|name| headers.get(name).and_then(|v| v.to_str().ok()));
        let nonce = signed.as_ref().map(|s| s.nonce).unwrap_or_default();
        let parts = RequestParts { method: method.as_str(), path: uri.path(), body };
        let verified = signed.and_then(|signed| self.verifier.verify(&parts, &signed, now()));
        match verified {
            Ok(auth) => Ok(auth),
            Err(failure) => {
                let mut inner = self.engine.inner.lock().await;
                let logged =
                    self.engine.reject(&mut inner, 401, failure.rule, failure.message.clone(), uri.path()).await;
                drop(inner);
                if let Err(e) = logged {
                    tracing::error!(error = %e, "logging a refused request");
                }
                Err(self
                    .answer(&nonce, Ok(Answer::Rejected { status: 401, rule: failure.rule, message: failure.message })))
            }
        }
    }

    /// A JSON body signed with the identity key over its status and `nonce`.
    fn signed(&self, nonce: &[u8; 16], status: StatusCode, body: Vec<u8>) -> Response {
        let signature = self.identity.sign_answer(status.as_u16(), &body, nonce);
        let mut response = (status, [("content-type", "application/json")], body).into_response();
        if let Ok(value) = HeaderValue::from_str(&signature) {
            response.headers_mut().insert(headers::ANSWER_SIGNATURE, value);
        }
        response
    }

    /// A signed JSON answer.
    fn answer(&self, nonce: &[u8; 16], answer: Result<Answer, EngineError>) -> Response {
        let (status, body) = match answer {
            Ok(Answer::Outcome(outcome)) => (StatusCode::OK, serde_json::to_vec(&outcome).unwrap_or_default()),
            Ok(Answer::Rejected { status, rule, message }) => {
                (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), error_body(rule.as_str(), &message))
            }
            Ok(Answer::Unknown) => (StatusCode::NOT_FOUND, error_body("request.unknown", "no request has this id")),
            Err(EngineError::Chain { chain, source }) => {
                tracing::warn!(chain = chain.0, code = source.code(), error = %source, "the signer's node failed during a decision");
                let message = format!("the signer cannot reach its node for chain {}; ask again", chain.0);
                (StatusCode::SERVICE_UNAVAILABLE, error_body("chain.unavailable", &message))
            }
            Err(EngineError::Stopped) => {
                (StatusCode::SERVICE_UNAVAILABLE, error_body("signer.stopping", "the signer is stopping; ask again"))
            }
            Err(e) => {
                tracing::error!(error = %e, "a decision failed; nothing of it was kept");
                (StatusCode::INTERNAL_SERVER_ERROR, error_body("signer.internal", "the signer failed; ask again"))
            }
        };
        self.signed(nonce, status, body)
    }
}

fn error_body(rule: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "error": { "rule": rule, "message": message } })).unwrap_or_default()
}

fn bad_body(service: &Service, nonce: &[u8; 16], e: &serde_json::Error) -> Response {
    let message = format!("the body is not an intent: {e}");
    service.answer(nonce, Ok(Answer::Rejected { status: 400, rule: RuleTag::RequestMalformed, message }))
}

async fn pay(
    State(service): State<Arc<Service>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let auth = match service.authenticate(&method, &uri, &headers, &body).await {
        Ok(auth) => auth,
        Err(response) => return response,
    };
    match serde_json::from_slice::<PayoutIntent>(&body) {
        Ok(intent) => {
            let (engine, nonce, authenticated) = (service.engine.clone(), auth.nonce, started.elapsed());
            let decided = on_engine(&service.decider, async move { engine.pay(&auth, intent, authenticated).await });
            let answer = match decided.await.unwrap_or(Err(EngineError::Stopped)) {
                Ok(paid) => {
                    // Released here, so the next decisions do not queue behind
                    // its fsync; spawned, so a caller that goes away cannot
                    // cut it short.
                    let engine = service.engine.clone();
                    tokio::spawn(async move { engine.release(paid).await }).await.map_err(|_| EngineError::Stopped)
                }
                Err(e) => Err(e),
            };
            service.answer(&nonce, answer)
        }
        Err(e) => bad_body(&service, &auth.nonce, &e),
    }
}

async fn sweep(
    State(service): State<Arc<Service>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let auth = match service.authenticate(&method, &uri, &headers, &body).await {
        Ok(auth) => auth,
        Err(response) => return response,
    };
    match serde_json::from_slice::<SweepIntent>(&body) {
        Ok(intent) => {
            let (engine, nonce, authenticated) = (service.engine.clone(), auth.nonce, started.elapsed());
            service
                .answer(&nonce, service.decide(async move { engine.sweep(&auth, intent, authenticated).await }).await)
        }
        Err(e) => bad_body(&service, &auth.nonce, &e),
    }
}

async fn status(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = match service.authenticate(&method, &uri, &headers, &body).await {
        Ok(auth) => auth,
        Err(response) => return response,
    };
    let (engine, nonce) = (service.engine.clone(), auth.nonce);
    service.answer(&nonce, service.decide(async move { engine.status(&auth, &id).await }).await)
}

/// Unauthenticated liveness: the identity key (public) and each chain's head.
async fn healthz(State(service): State<Arc<Service>>) -> Response {
    let mut chains = Vec::new();
    for chain in &service.engine.config.chains {
        let head = match service.engine.rpc(chain.id) {
            Ok(rpc) => rpc.block_number().await.ok(),
            Err(_) => None,
        };
        chains.push(json!({ "chain_id": chain.id.0, "head": head }));
    }
    let healthy = chains.iter().all(|c| !c["head"].is_null());
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({ "identity": service.identity.public().to_string(), "chains": chains });
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    let text = service.engine.metrics.encode();
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}

/// The nonce a caller sent for the answer's signature: the gateway's, when
/// it relays; zeros from a caller that sent none (approvers' tools).
fn caller_nonce(headers: &HeaderMap) -> [u8; 16] {
    headers
        .get(headers::NONCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| hex::decode(v).ok())
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .unwrap_or_default()
}

/// An approver's decision on a waiting payout: no gateway signature needed,
/// the approver's is what counts (and the engine checks it).
async fn approve(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let nonce = caller_nonce(&headers);
    match serde_json::from_slice::<Approval>(&body) {
        Ok(approval) => {
            let engine = service.engine.clone();
            service.answer(&nonce, service.decide(async move { engine.approve(&id, approval).await }).await)
        }
        Err(e) => {
            let message = format!("the body is not an approval: {e}");
            service.answer(&nonce, Ok(Answer::Rejected { status: 400, rule: RuleTag::RequestMalformed, message }))
        }
    }
}

/// The controls in force, for anyone: nothing in them is secret.
async fn control_state(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let nonce = caller_nonce(&headers);
    let engine = service.engine.clone();
    let state = on_engine(&service.decider, async move { engine.control_state().await }).await;
    match state {
        Some(Ok(state)) => service.signed(&nonce, StatusCode::OK, serde_json::to_vec(&state).unwrap_or_default()),
        Some(Err(e)) => service.answer(&nonce, Err(e)),
        None => service.answer(&nonce, Err(EngineError::Stopped)),
    }
}

/// An approver-signed change of the policy.
async fn control(State(service): State<Arc<Service>>, headers: HeaderMap, body: Bytes) -> Response {
    let nonce = caller_nonce(&headers);
    let request = match serde_json::from_slice::<ControlRequest>(&body) {
        Ok(request) => request,
        Err(e) => {
            let message = format!("the body is not a control request: {e}");
            return service
                .answer(&nonce, Ok(Answer::Rejected { status: 400, rule: RuleTag::RequestMalformed, message }));
        }
    };
    let engine = service.engine.clone();
    match on_engine(&service.decider, async move { engine.control(request).await }).await {
        Some(Ok(ControlReply::Done(answer))) => {
            service.signed(&nonce, StatusCode::OK, serde_json::to_vec(&answer).unwrap_or_default())
        }
        Some(Ok(ControlReply::Rejected { status, rule, message })) => {
            service.answer(&nonce, Ok(Answer::Rejected { status, rule, message }))
        }
        Some(Err(e)) => service.answer(&nonce, Err(e)),
        None => service.answer(&nonce, Err(EngineError::Stopped)),
    }
}
