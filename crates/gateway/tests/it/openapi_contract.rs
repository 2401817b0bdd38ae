#![allow(clippy::unwrap_used)]

//! The API description is a contract, tried as a fuzzer driven by
//! `/openapi.json` would. For every operation it lists, requests derived
//! from the description (its examples; then each field, parameter and
//! header given each value the candidates offer, one at a time; a wrong
//! content type, malformed JSON, a body too large; no key, a bad key, a key
//! without the scope) must get:
//!
//! - a status the operation lists, with a body its schema for that status
//!   admits (the error codes included);
//! - if the request matches the description: no refusal of its content
//!   (400, 413, 415, 422), unless the answer's code is one the operation
//!   lists as checked beyond the schema (`x-refused-beyond-schema`);
//! - if it does not: a refusal (4xx).
//!
//! JSON Schema is judged by the `jsonschema` crate, not by this file.
//! Deterministic (fixed candidates, fixed order) and one gateway for all.

mod candidates;
mod contract;
mod probe;
mod request;

use coffer_store::testing::Kind;
use serde_json::Value;

use crate::helpers::{SignerKeys, spawn_app_configured};
use contract::Contract;
use probe::Run;

/// No `[signer]`: a payout the description admits answers 503 `payouts_unavailable`,
/// and the description says so; the treasury is served beside the API, to the operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_contract_holds_on_the_default_configuration() {
    let (operator, digest) = coffer_gateway::admin::operator_token().unwrap();
    let top = format!("operator_token_sha256 = \"{digest}\"");
    let doc = holds_on(&top, "", Some(operator)).await;
    if doc.is_null() {
        return;
    }
    assert!(doc["paths"]["/v1/treasury"]["get"].is_object(), "the treasury is served here");
    let create = doc["paths"]["/v1/payouts"]["post"]["description"].as_str().unwrap();
    assert!(create.contains("payouts_unavailable"), "{create}");
}

/// What the configuration decides is written into the description, and still true:
/// `/healthz` and the treasury served elsewhere, private webhook URLs allowed, shorter
/// invoice lives, payouts through a `[signer]`. The signer's URL leads nowhere: a payout
/// is reserved (201) and stays pending, which is all the description promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_contract_holds_on_another_configuration() {
    let top = "operator_listen_addr = \"127.0.0.1:0\"\nmax_invoice_expiry_secs = 3600";
    let keys = SignerKeys::new();
    let identity = coffer_signer_api::RequestKey::generate().unwrap().public();
    let tables = format!("allow_private_urls = true\n{}", keys.table("http://127.0.0.1:9", &identity));
    let doc = holds_on(top, &tables, None).await;
    if doc.is_null() {
        return;
    }
    assert!(doc["paths"].get("/healthz").is_none(), "/healthz is served on the operator's address");
    assert!(doc["paths"].get("/v1/treasury").is_none(), "so is the treasury");
    let invoice = &doc["components"]["schemas"]["CreateInvoice"]["properties"];
    assert_eq!(invoice["expires_in_secs"]["maximum"], 3600);
    let url = doc["components"]["schemas"]["CreateWebhook"]["properties"]["url"]["description"].as_str().unwrap();
    assert!(url.contains("allows private addresses"), "{url}");
}

/// Runs every probe against a gateway configured with `top` and `webhooks`
/// settings (and the tables after them), the operator's token if it has one;
/// returns the description it served. The merchant has money of every asset on
/// chain 31337, so that payouts can be reserved where a signer is configured.
async fn holds_on(top: &str, webhooks: &str, operator: Option<String>) -> Value {
    // One backend is enough: the description does not depend on it. Redeliveries
    // are rate-limited per merchant, and this test sends hundreds.
    let tables = format!("[webhooks]\nredeliveries_per_minute = 60000\n{webhooks}");
    let Some(app) = spawn_app_configured(Kind::Sqlite, top, &tables).await else { return Value::Null };
    fund(&app).await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    // The format requires a description of every response; generators show it.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, answer) in op["responses"].as_object().unwrap() {
                assert!(answer["description"].is_string(), "{method} {path} {status} has no description");
            }
            assert!(op["operationId"].is_string(), "{method} {path} has no operationId");
        }
    }
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "operation ids repeat: {ids:?}");
    let mut run = Run::new(&app, Contract::new(doc.clone()), operator);
    for (path, method) in run.contract.operations() {
        run.exercise(&path, &method).await;
    }
    run.clean_up().await;
    let failures = run.failures();
    assert!(
        failures.is_empty(),
        "{} of {} answers break the API description, in {} ways:\n{}",
        run.failed(),
        run.sent(),
        failures.len(),
        failures.join("\n")
    );
    // It did try: successes as well as refusals of every kind.
    for status in ["200", "201", "204", "401", "403", "404", "413", "415", "422"] {
        assert!(run.seen(status), "no request got {status}: the probes are not reaching the API");
    }
    doc
}

/// A settled invoice of each asset on chain 31337, paid far more than any probe pays out.
async fn fund(app: &crate::helpers::TestApp) {
    use coffer_domain::{Amount, AssetId, ChainId, U256};
    for symbol in ["ETH", "USDT", "USDC"] {
        let asset = AssetId { chain_id: ChainId(31337), symbol: symbol.parse().unwrap() };
        let units = U256::from(10u8).pow(U256::from(40u8));
        coffer_store::testing::paid_invoice(&*app.store, app.merchant, Amount::from_units(asset, units), units, true)
            .await;
    }
}
