//! The error answers each operation documents.
//!
//! A route names the error codes it can answer, once, with
//! [`error_responses!`]: the codes decide the statuses
//! ([`ErrorCode::status`]), and each status is described with the shared
//! `ErrorBody` narrowed to that route's codes. So a generated client, a
//! fuzzer or a person reading `/openapi.json` knows every status an
//! operation can answer and which codes come with it; every operation also
//! answers 500 `internal` (the panic catcher in front of every route).
//!
//! The groups below are what the layers and extractors in front of a
//! handler can answer; a route adds the codes its own handler returns:
//!
//! ```ignore
//! error_responses!(
//!     /// What `POST /v1/payouts` answers besides 201.
//!     CreatePayoutErrors = [AUTHENTICATED, JSON_BODY, &[InvalidAmount, UnknownAsset, InsufficientBalance]]
//! );
//! #[utoipa::path(post, path = "/v1/payouts", responses((status = 201, …), CreatePayoutErrors))]
//! ```
//!
//! A code that can refuse a request matching the description (a check JSON
//! Schema cannot express, such as "the host resolves to a public address")
//! goes in `beyond_schema = [...]` as well: its response says so in its
//! text and lists it under `x-refused-beyond-schema`, so a fuzzer can tell
//! such a refusal from a description that is wrong.

use std::collections::BTreeMap;

use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder};

use crate::error::ErrorCode::{self, *};

/// Every route behind an API key: a missing or bad key (401), a key without
/// the route's scope (403), and the database down while the key is looked up (503).
pub(crate) const AUTHENTICATED: &[ErrorCode] = &[Unauthorized, InsufficientScope, Unavailable];

/// Every route that reads a JSON body: not JSON (400), not declared as JSON
/// (415), larger than [`crate::MAX_BODY_BYTES`] (413), too slow to arrive
/// (408), or a missing, unknown or mistyped field (422 `invalid_request`).
pub(crate) const JSON_BODY: &[ErrorCode] =
    &[InvalidJson, UnsupportedMediaType, BodyTooLarge, RequestTimeout, InvalidRequest];

/// Every list ([`super::page`]): an unknown or malformed query parameter, or
/// `limit` or `cursor` out of range.
pub(crate) const PAGE: &[ErrorCode] = &[InvalidRequest, InvalidLimit, InvalidCursor];

/// The extension naming the codes that can refuse a request the description admits.
pub(crate) const BEYOND_SCHEMA: &str = "x-refused-beyond-schema";

/// Declares a type whose `utoipa::IntoResponses` documents these error
/// codes, to name in a route's `responses(...)`. Inside the brackets the
/// groups of this module and `ErrorCode`'s variants are in scope.
macro_rules! error_responses {
    ($(#[$doc:meta])* $name:ident = [$($codes:expr),* $(,)?] $(, beyond_schema = [$($beyond:ident),+ $(,)?])? $(,)?) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
                #[allow(unused_imports)]
                use $crate::error::ErrorCode::*;
                #[allow(unused_imports)]
                use $crate::routes::errors::*;
                $crate::routes::errors::responses(&[$($codes),*], &[$($($beyond),+)?])
            }
        }
    };
}
pub(crate) use error_responses;

/// The documented answers for these codes (and 500 `internal`), one per status.
pub(crate) fn responses(sets: &[&[ErrorCode]], beyond_schema: &[ErrorCode]) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for &code in sets.iter().flat_map(|set| set.iter()).chain([&Internal]) {
        let codes = by_status.entry(code.status().as_u16()).or_default();
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    debug_assert!(
        beyond_schema.iter().all(|code| by_status.values().any(|codes| codes.contains(code))),
        "a code refused beyond the schema must be one of the route's codes"
    );
    by_status
        .into_iter()
        .map(|(status, codes)| {
            let beyond: Vec<ErrorCode> = codes.iter().copied().filter(|c| beyond_schema.contains(c)).collect();
            (status.to_string(), RefOr::T(response(status, &codes, &beyond)))
        })
        .collect()
}

/// A code as it appears on the wire (`invalid_amount`).
pub(crate) fn code_name(code: ErrorCode) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{code:?}"),
    }
}

fn quoted(codes: &[ErrorCode]) -> String {
    codes.iter().map(|&code| format!("`{}`", code_name(code))).collect::<Vec<_>>().join(", ")
}

/// What a status means in this API, whichever route answers it.
fn meaning(status: u16) -> String {
    match status {
        400 => "The body is not valid JSON.".into(),
        401 => "No API key, or a malformed, unknown or revoked one.".into(),
        403 => "The API key lacks a scope this operation needs.".into(),
        404 => "No such resource for this merchant: malformed ids and other merchants' ids answer this too.".into(),
        408 => "The body did not arrive in time; the connection is closed.".into(),
        409 => "The request conflicts with the current state.".into(),
        413 => format!("The body is larger than {} bytes.", crate::MAX_BODY_BYTES),
        415 => "The body is not declared as JSON: send `Content-Type: application/json`.".into(),
        422 => "A field, parameter or header breaks a rule of this operation.".into(),
        429 => "Too many requests of this kind; retry after `Retry-After` seconds.".into(),
        500 => "A failure inside the gateway; its log has the details under this answer's `X-Request-Id`.".into(),
        503 => "A dependency (the database, the address pool, the signer) is unavailable or not configured; \
            retry later."
            .into(),
        _ => "An error.".into(),
    }
}

fn response(status: u16, codes: &[ErrorCode], beyond: &[ErrorCode]) -> Response {
    let mut description = format!("{} Codes: {}.", meaning(status), quoted(codes));
    if !beyond.is_empty() {
        description.push_str(&format!(
            " Also refuses requests that match this description ({}): some rules cannot be said in JSON Schema; \
             the fields' descriptions tell them.",
            quoted(beyond)
        ));
    }
    let names: Vec<serde_json::Value> = codes.iter().map(|&code| code_name(code).into()).collect();
    // The shared ErrorBody, with `code` narrowed to what this operation can answer with this status.
    let narrowed = ObjectBuilder::new().schema_type(Type::Object).property(
        "error",
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("code", ObjectBuilder::new().schema_type(SchemaType::AnyValue).enum_values(Some(names))),
    );
    let schema = Schema::AllOf(AllOfBuilder::new().item(Ref::from_schema_name("ErrorBody")).item(narrowed).build());
    let mut builder = ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(schema)).build());
    let string = || ObjectBuilder::new().schema_type(Type::String);
    builder = match status {
        401 => builder.header(
            "WWW-Authenticate",
            HeaderBuilder::new().schema(Some(string())).description(Some("`Bearer`")).build(),
        ),
        408 => builder.header(
            "Connection",
            HeaderBuilder::new()
                .schema(Some(string()))
                .description(Some("`close`: the rest of the body may still come"))
                .build(),
        ),
        429 => builder.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1))))
                .description(Some("Seconds to wait"))
                .build(),
        ),
        _ => builder,
    };
    if !beyond.is_empty() {
        let names: Vec<String> = beyond.iter().map(|&code| code_name(code)).collect();
        builder = builder.extensions(Some(ExtensionsBuilder::new().add(BEYOND_SCHEMA, names).build()));
    }
    builder.build()
}
