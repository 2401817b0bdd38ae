//! The API's error contract: every failure is `{"error":{"code","message"}}`
//! with a stable, documented `code` that clients may switch on, and a
//! `message` for people that may change.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Stable machine-readable error codes. Renaming one breaks clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not valid JSON (400).
    InvalidJson,
    /// The JSON is well-formed but a field is missing, unknown or of the wrong type,
    /// or a header or query parameter is malformed (422).
    InvalidRequest,
    /// The amount is zero, negative, malformed or more precise than the asset allows (422).
    InvalidAmount,
    /// The asset is not accepted by this gateway, or not on the requested chain (422).
    UnknownAsset,
    /// The chain is not configured (422).
    UnknownChain,
    /// The body is larger than 64 KiB (413).
    BodyTooLarge,
    /// The body is not declared as `application/json` (415).
    UnsupportedMediaType,
    /// No API key, or one that is malformed, unknown or revoked (401).
    Unauthorized,
    /// The key is valid but lacks the scope this route needs (403).
    InsufficientScope,
    /// No such resource for this merchant (404). Another merchant's ids answer this too.
    NotFound,
    /// The route exists but not with this method (405).
    MethodNotAllowed,
    /// The `Idempotency-Key` was used before with a different request (409).
    IdempotencyConflict,
    /// The webhook URL is malformed, or on a loopback, private or link-local address (422).
    InvalidWebhookUrl,
    /// The invoice's state does not allow this (invalidating a settled invoice, say) (409).
    InvalidState,
    /// The pagination cursor is not one this API issued (422).
    InvalidCursor,
    /// The page size is not between 1 and 100 (422).
    InvalidLimit,
    /// Something broke inside the gateway; the request id in the log tells what (500).
    Internal,
    /// A dependency (the database) is unavailable; retry later (503).
    Unavailable,
    /// A delivery of this event to this endpoint is still pending (it is being retried);
    /// redeliver once it is delivered or failed (409).
    RedeliveryPending,
    /// Too many requests of this kind (redeliveries) for this merchant; retry after
    /// the `Retry-After` header's seconds (429).
    RateLimited,
    /// `metadata` has more than 50 keys (422).
    MetadataTooManyKeys,
    /// A `metadata` key is longer than 40 characters (422).
    MetadataKeyTooLong,
    /// A `metadata` string value is longer than 500 characters (422).
    MetadataValueTooLong,
    /// A `metadata` value is an object or an array: values are strings, numbers, booleans or null (422).
    MetadataNotFlat,
    /// `metadata` is larger than 8 KiB as compact JSON (422).
    MetadataTooLarge,
    /// Text (an order id, a metadata key or value) holds a control character (422).
    ControlCharacter,
    /// The request's body did not arrive in time; the connection is closed (408).
    RequestTimeout,
    /// The merchant's available balance of the asset (what settled, less
    /// what is reserved for payouts in flight) is less than the payout (422).
    InsufficientBalance,
    /// The destination is not a 0x-prefixed 20-byte address, fails its EIP-55
    /// checksum, or is the zero address (422).
    InvalidDestination,
    /// A refund above what its invoice has left to refund: its overpaid or
    /// late amount, or all an invalidated or expired invoice received, less
    /// earlier refunds (422).
    RefundExceedsInvoice,
    /// This gateway takes no payouts: no signer is configured, or the
    /// chain's native coin (in which fees are booked) is not (503).
    PayoutsUnavailable,
    /// The signer cannot be reached through this gateway: no `[signer]` is
    /// configured, it did not answer, its answer was not signed by its
    /// identity key, or its controls have not been read yet (503).
    SignerUnavailable,
    /// The signer refused an approval the gateway relayed; the message
    /// starts with its rule (`approval.signature`: not a listed approver's
    /// valid signature; `approval.mismatch`: not the digest of the round
    /// that waits; `approval.not_waiting`: the payout waits for no
    /// approval) (422).
    ApprovalRefused,
    /// The payout's destination is on a screening list (a sanction, a theft,
    /// phishing, a mixer); the message names the list, line and category (422).
    DestinationScreened,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidJson => StatusCode::BAD_REQUEST,
            InvalidRequest | InvalidAmount | UnknownAsset | UnknownChain | InvalidCursor | InvalidLimit
            | InvalidWebhookUrl => StatusCode::UNPROCESSABLE_ENTITY,
            MetadataTooManyKeys | MetadataKeyTooLong | MetadataValueTooLong | MetadataNotFlat | MetadataTooLarge
            | ControlCharacter => StatusCode::UNPROCESSABLE_ENTITY,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Unauthorized => StatusCode::UNAUTHORIZED,
            InsufficientScope => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            IdempotencyConflict | InvalidState => StatusCode::CONFLICT,
            InsufficientBalance | InvalidDestination | RefundExceedsInvoice => StatusCode::UNPROCESSABLE_ENTITY,
            PayoutsUnavailable | SignerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApprovalRefused | DestinationScreened => StatusCode::UNPROCESSABLE_ENTITY,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            RedeliveryPending => StatusCode::CONFLICT,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
}

/// The JSON shape of an error answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable machine-readable code.
    code: ErrorCode,
    /// Explanation for people; wording may change.
    message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// Its code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// 404, worded the same whether the id is malformed, unknown or another merchant's.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no such {what}"))
    }

    /// A failure the client cannot fix. The details go to the log (with the
    /// request id), not to the client.
    pub fn internal(err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(ErrorCode::Internal, "internal error; the gateway log has the details under this request's id")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The stable code as the API spells it (`insufficient_balance`).
        let code = serde_json::to_value(self.code).ok();
        let code = code.as_ref().and_then(|c| c.as_str()).unwrap_or("error");
        write!(f, "{} ({code})", self.message)
    }
}

impl From<coffer_store::StoreError> for ApiError {
    fn from(err: coffer_store::StoreError) -> Self {
        use coffer_store::StoreError;
        match err {
            StoreError::Unavailable(_) | StoreError::CommitFailed(_) | StoreError::Closed => {
                tracing::error!(error = %err, "database unavailable");
                Self::new(ErrorCode::Unavailable, "the database is unavailable; retry later")
            }
            other => Self::internal(&other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still come: the connection cannot carry another request.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
