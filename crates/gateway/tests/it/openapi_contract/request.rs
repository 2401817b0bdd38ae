#![allow(clippy::unwrap_used, unreachable_pub)]

//! A probe's request, and sending it as is (paths, queries and headers the
//! way a client would spell them, or deliberately not).

use std::collections::HashMap;

use serde_json::Value;

use crate::helpers::TestApp;

/// A request body.
#[derive(Clone)]
pub enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>, Option<&'static str>),
}

/// One request to one operation.
#[derive(Clone)]
pub struct Request {
    pub path: HashMap<String, String>,
    /// A path segment sent as is, not percent-encoded (`%FF`).
    pub raw_path: Option<(String, String)>,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// `None`: no `Authorization` header.
    pub authorization: Option<String>,
}

/// Sends `request` to the operation at `path`; its status, content type and body.
pub async fn send(app: &TestApp, path: &str, method: &str, request: &Request) -> (u16, String, String) {
    let mut url = path.to_owned();
    if let Some((name, raw)) = &request.raw_path {
        url = url.replace(&format!("{{{name}}}"), raw);
    }
    for (name, value) in &request.path {
        url = url.replace(&format!("{{{name}}}"), &encode(value));
    }
    let query: Vec<String> = request.query.iter().map(|(n, v)| format!("{}={}", encode(n), encode(v))).collect();
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut builder = app.client.request(method, app.url(&url));
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(authorization) = &request.authorization {
        builder = builder.header("authorization", authorization);
    }
    builder = match &request.body {
        Body::None => builder,
        Body::Json(value) => {
            builder.header("content-type", "application/json").body(serde_json::to_vec(value).unwrap())
        }
        Body::Raw(bytes, Some(content_type)) => builder.header("content-type", *content_type).body(bytes.clone()),
        Body::Raw(bytes, None) => builder.body(bytes.clone()),
    };
    let response = builder.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, content_type, response.text().await.unwrap_or_default())
}

/// A candidate as parameter text; objects and arrays cannot be one.
pub fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(_) | Value::Object(_) => None,
        other => Some(other.to_string()),
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
