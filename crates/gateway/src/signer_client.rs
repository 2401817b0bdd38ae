//! The gateway's side of the signer's API: every request signed with the
//! gateway's request key, every answer's signature checked against the
//! signer's identity key and the request's nonce before a byte of it is
//! believed. An unsigned or badly signed answer is an error like a lost
//! connection: the outbox asks again later, it never acts on it.

use std::time::Duration;

use coffer_signer_api::{AnswerVerifier, ControlState, Outcome, RequestKey, RequestParts, auth::headers, paths};
use serde::Deserialize;

/// What the signer answered, once its signature checked out.
#[derive(Debug)]
pub(crate) enum Reply {
    /// 200: where the request stands (boxed: a confirmed sweep with its
    /// top-up is far larger than the other replies).
    Outcome(Box<Outcome>),
    /// 404: the signer knows no request with this id.
    Unknown,
    /// 409: a request with this id and another payload is known: for a person.
    Conflict(String),
    /// 401: the signer refused the request's signature, timestamp or nonce.
    Unauthorized(String),
    /// 503, or anything else: try again later.
    Unavailable(u16, String),
}

/// Why no answer can be believed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// No connection, a timeout, a broken body.
    #[error("the signer did not answer: {0}")]
    Transport(String),
    /// The answer carries no signature header.
    #[error("the signer's answer ({0}) is not signed; it is ignored")]
    Unsigned(u16),
    /// The signature does not verify under the identity key and the nonce.
    #[error("the signer's answer ({0}) is not signed by its identity key; it is ignored")]
    BadSignature(u16),
    /// A signed 200 whose body is not an outcome.
    #[error("the signer's answer does not parse: {0}")]
    Malformed(String),
    /// Signing the request failed (no randomness for its nonce).
    #[error("cannot sign the request: {0}")]
    Signing(String),
    /// A signed answer other than the one asked for (not 200).
    #[error("the signer answered {0}: {1}")]
    Refused(u16, String),
}

/// The signer's error body: `{"error":{"rule","message"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    rule: Option<String>,
    message: Option<String>,
}

/// A client of one signer.
pub(crate) struct SignerClient {
    http: reqwest::Client,
    base: String,
    key: RequestKey,
    verifier: AnswerVerifier,
}

impl std::fmt::Debug for SignerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry credentials; the key's Debug redacts its secret.
        f.debug_struct("SignerClient").field("key", &self.key).finish_non_exhaustive()
    }
}

impl SignerClient {
    /// A client of the signer at `base` (`http(s)://host:port`).
    pub(crate) fn new(
        base: &str,
        key: RequestKey,
        verifier: AnswerVerifier,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("Coffer-Gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned(), key, verifier })
    }

    /// `POST path` with `body` (an intent's JSON).
    pub(crate) async fn submit(&self, path: &str, body: &str, audit_head: [u8; 32]) -> Result<Reply, ClientError> {
        self.send("POST", path, body.as_bytes(), audit_head).await
    }

    /// `GET /v1/requests/{id}`.
    pub(crate) async fn status(&self, id: &str, audit_head: [u8; 32]) -> Result<Reply, ClientError> {
        self.send("GET", &format!("{}/{id}", paths::REQUESTS), b"", audit_head).await
    }

    /// `POST /v1/payouts/{id}/approvals` with an approver's `Approval` as
    /// JSON: the signer needs no gateway signature there, but gets one, as
    /// every request does. The verified answer's status and body.
    pub(crate) async fn approve(&self, id: &str, body: &[u8], audit_head: [u8; 32]) -> Result<Verified, ClientError> {
        let path = format!("{}/{id}/{}", paths::PAYOUTS, paths::APPROVALS);
        self.exchange("POST", &path, body, audit_head).await
    }

    /// `GET /v1/control`: the signer's controls, as it signed them.
    pub(crate) async fn control(&self, audit_head: [u8; 32]) -> Result<ControlState, ClientError> {
        let answer = self.exchange("GET", paths::CONTROL, b"", audit_head).await?;
        if answer.status != 200 {
            return Err(ClientError::Refused(answer.status, sentence(&answer.body)));
        }
        serde_json::from_slice(&answer.body).map_err(|e| ClientError::Malformed(e.to_string()))
    }

    /// `POST /v1/control` with an approver-signed `ControlRequest`: the
    /// verified answer's status and body.
    pub(crate) async fn relay_control(&self, body: &[u8], audit_head: [u8; 32]) -> Result<Verified, ClientError> {
        self.exchange("POST", paths::CONTROL, body, audit_head).await
    }

    async fn send(&self, method: &str, path: &str, body: &[u8], audit_head: [u8; 32]) -> Result<Reply, ClientError> {
        let Verified { status, body } = self.exchange(method, path, body, audit_head).await?;
        Ok(match status {
            200 => Reply::Outcome(Box::new(
                serde_json::from_slice(&body).map_err(|e| ClientError::Malformed(e.to_string()))?,
            )),
            404 => Reply::Unknown,
            409 => Reply::Conflict(sentence(&body)),
            401 => Reply::Unauthorized(sentence(&body)),
            other => Reply::Unavailable(other, sentence(&body)),
        })
    }

    /// Sends a signed request; the answer only once its signature checks out.
    async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        audit_head: [u8; 32],
    ) -> Result<Verified, ClientError> {
        let now = coffer_domain::Timestamp::now().as_millis() / 1000;
        let signed = self
            .key
            .sign(&RequestParts { method, path, body }, now, audit_head)
            .map_err(|e| ClientError::Signing(e.to_string()))?;
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "POST" => {
                self.http.post(&url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_vec())
            }
            _ => self.http.get(&url),
        };
        for (name, value) in signed.to_pairs() {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| ClientError::Transport(describe(e)))?;
        let status = response.status().as_u16();
        let signature = response
            .headers()
            .get(headers::ANSWER_SIGNATURE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(ClientError::Unsigned(status))?;
        let body = response.bytes().await.map_err(|e| ClientError::Transport(describe(e)))?;
        self.verifier
            .verify(status, &body, &signed.nonce, &signature)
            .map_err(|_| ClientError::BadSignature(status))?;
        Ok(Verified { status, body: body.to_vec() })
    }
}

/// An answer whose signature checked out: the signer's own words.
#[derive(Debug)]
pub(crate) struct Verified {
    /// Its HTTP status.
    pub(crate) status: u16,
    /// Its body, as signed.
    pub(crate) body: Vec<u8>,
}

impl Verified {
    /// The rule tag of an error body (`approval.signature`, …), if it has one.
    pub(crate) fn rule(&self) -> Option<String> {
        serde_json::from_slice::<ErrorBody>(&self.body).ok().and_then(|b| b.error.rule)
    }

    /// The rule and message of an error body, as a sentence.
    pub(crate) fn sentence(&self) -> String {
        sentence(&self.body)
    }
}

/// The rule and message of an error body, or as much of the body as reads.
fn sentence(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => {
            format!("{}: {}", error.rule.as_deref().unwrap_or("-"), error.message.as_deref().unwrap_or("(no message)"))
        }
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

/// A reqwest error as a sentence, with its cause, without the URL (it may
/// carry credentials).
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = if err.is_timeout() { "timed out".to_owned() } else { err.to_string() };
    let mut cause = std::error::Error::source(&err);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text.chars().take(500).collect()
}
