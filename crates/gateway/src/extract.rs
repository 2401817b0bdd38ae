//! Extractors that turn axum's rejections into the API's error contract.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// `axum::Json`, answering malformed bodies with the API's error codes.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    if let Some(timed_out) = body_timed_out(rejection) {
        return ApiError::new(ErrorCode::RequestTimeout, format!("{timed_out}; send it faster, or in one go"));
    }
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::new(ErrorCode::InvalidRequest, e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(ErrorCode::InvalidJson, e.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::new(ErrorCode::UnsupportedMediaType, "send the body as JSON with Content-Type: application/json")
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::BodyTooLarge, format!("the body is larger than {} bytes", crate::MAX_BODY_BYTES))
        }
        other => ApiError::new(ErrorCode::InvalidRequest, other.body_text()),
    }
}

/// `axum::Query`, answering malformed query strings with `invalid_request`.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::new(ErrorCode::InvalidRequest, e.body_text()))
            }
            Err(other) => Err(ApiError::new(ErrorCode::InvalidRequest, other.body_text())),
        }
    }
}

/// `axum::extract::Path`, answering 404 for a path parameter it cannot read
/// (not UTF-8 once percent-decoded, such as `%FF`): such a segment names
/// nothing, as a malformed id does; axum's own answer is a 400 in plain text.
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::not_found("resource")),
            Err(other) => Err(ApiError::internal(&other.body_text())),
        }
    }
}

/// The body deadline's error, if that is why the body could not be read
/// (it arrives wrapped in axum's errors).
fn body_timed_out(rejection: &JsonRejection) -> Option<&crate::serve::BodyTimedOut> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = cause {
        if let Some(timed_out) = error.downcast_ref::<crate::serve::BodyTimedOut>() {
            return Some(timed_out);
        }
        cause = error.source();
    }
    None
}
