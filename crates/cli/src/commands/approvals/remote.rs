//! The signer and the gateway over HTTP, their refusals as sentences.

use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;

/// Who answers, for sentences.
#[derive(Clone, Copy)]
pub(crate) enum Who {
    Signer,
    Gateway,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Signer => "the signer",
            Who::Gateway => "the gateway",
        }
    }
}

/// One server's base URL, with the operator token the gateway asks for.
pub(crate) struct Remote {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
    pub(crate) who: Who,
}

impl Remote {
    pub(crate) fn new(base: &str, who: Who, token: Option<String>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        let base = base.trim_end_matches('/').to_owned();
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "{base:?} is not an http:// or https:// URL"
        );
        Ok(Self { client, base, token, who })
    }

    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.client.get(self.url(path)), path).await
    }

    pub(crate) async fn post(&self, path: &str, body: &impl Serialize) -> anyhow::Result<Value> {
        self.send(self.client.post(self.url(path)).json(body), path).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder, path: &str) -> anyhow::Result<Value> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let who = self.who.name();
        let answer = request.send().await.with_context(|| format!("cannot reach {who} at {}{path}", self.base))?;
        let status = answer.status();
        let body = answer.bytes().await.with_context(|| format!("reading {who}'s answer to {path}"))?;
        if !status.is_success() {
            return Err(refusal(who, status.as_u16(), &body));
        }
        serde_json::from_slice(&body)
            .with_context(|| format!("{who}'s answer to {path} (HTTP {status}) is not JSON: {}", snippet(&body)))
    }
}

/// A 4xx or 5xx as a sentence: the signer's `{"error":{"rule","message"}}`,
/// the gateway's `{"error":{"code","message"}}` (and a relayed rule), else
/// the start of the body.
pub(super) fn refusal(who: &str, status: u16, body: &[u8]) -> anyhow::Error {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let field = |name: &str| error.and_then(|e| e[name].as_str());
    let tags: Vec<&str> = [field("code"), field("rule")].into_iter().flatten().collect();
    match field("message") {
        Some(message) if !tags.is_empty() => {
            anyhow::anyhow!("{who} refused it (HTTP {status}, {}): {message}", tags.join(", "))
        }
        Some(message) => anyhow::anyhow!("{who} refused it (HTTP {status}): {message}"),
        None => anyhow::anyhow!("{who} answered HTTP {status}: {}", snippet(body)),
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let short: String = text.chars().take(300).collect();
    if short.len() < text.len() { format!("{short}…") } else { short }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_rule_and_the_sentence() {
        let signer = br#"{"error":{"rule":"control.version","message":"the policy is at version 4, not 3"}}"#;
        assert_eq!(
            refusal("the signer", 409, signer).to_string(),
            "the signer refused it (HTTP 409, control.version): the policy is at version 4, not 3"
        );
        let relayed = br#"{"error":{"code":"signer.refused","rule":"approval.mismatch","message":"another round"}}"#;
        assert_eq!(
            refusal("the gateway", 422, relayed).to_string(),
            "the gateway refused it (HTTP 422, signer.refused, approval.mismatch): another round"
        );
        assert_eq!(
            refusal("the gateway", 502, b"Bad Gateway").to_string(),
            "the gateway answered HTTP 502: Bad Gateway"
        );
    }
}
