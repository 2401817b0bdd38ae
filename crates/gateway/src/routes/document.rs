//! The document `/openapi.json` serves: the routes' description (their
//! `utoipa` annotations), with what this gateway's configuration decides
//! written in: which assets an invoice takes, on which chains, with how
//! many decimals (and which a payout takes); how long an invoice may live;
//! whether webhooks may go to private addresses; whether `/healthz` and
//! `/v1/treasury` are served here; whether payouts are (a `[signer]`). A description of
//! a self-hosted gateway is true only of one gateway: this one.
//!
//! The additions are made on the JSON (`oneOf` beside `properties` is
//! plain JSON Schema, which utoipa's object builder cannot say).

use coffer_domain::{Asset, AssetBook};
use serde_json::{Value, json};

use super::schemas::{amount_pattern, any_case};
use crate::state::AppState;

/// The served document, as JSON.
pub(crate) fn document(openapi: &utoipa::openapi::OpenApi, state: &AppState, operator_apart: bool) -> Value {
    let mut doc = serde_json::to_value(openapi).unwrap_or_else(|err| {
        tracing::error!(error = %err, "the API description does not serialise");
        json!({})
    });
    if let Some(invoice) = doc.pointer_mut("/components/schemas/CreateInvoice") {
        describe_assets(invoice, &state.assets);
        if let Some(expiry) = invoice["properties"]["expires_in_secs"].as_object_mut() {
            expiry.insert("maximum".into(), state.expiry.max_secs.into());
            expiry.insert("default".into(), state.expiry.default_secs.into());
            expiry.remove("example");
            expiry.insert("examples".into(), json!([state.expiry.default_secs]));
        }
    }
    if let Some(url) = doc.pointer_mut("/components/schemas/CreateWebhook/properties/url/description")
        && let Some(text) = url.as_str()
    {
        let policy = if state.url_policy.allow_private {
            " This gateway's operator allows private addresses (`webhooks.allow_private_urls`)."
        } else {
            " This gateway refuses private addresses."
        };
        *url = format!("{text}{policy}").into();
    }
    if let Some(payout) = doc.pointer_mut("/components/schemas/CreatePayout") {
        describe_assets(payout, &state.assets);
        describe_fees(payout, &state.assets);
    }
    if state.outbox.is_none()
        && let Some(create) = doc.pointer_mut("/paths/~1v1~1payouts/post").and_then(Value::as_object_mut)
    {
        let text = create.get("description").or_else(|| create.get("summary")).and_then(Value::as_str);
        let text = format!(
            "{} This gateway has no `[signer]` configured: a request this description admits answers 503 \
             `payouts_unavailable`.",
            text.unwrap_or_default()
        );
        create.insert("description".into(), text.trim_start().into());
    }
    if let Some(paths) = doc["paths"].as_object_mut() {
        if operator_apart {
            // Served on the operator's address instead; here they answer 404, as unknown routes.
            paths.remove("/healthz");
            for path in super::OPERATOR_PATHS {
                paths.remove(path);
            }
        } else if state.treasury.operator_digest.is_none() {
            // No operator token: the operator's routes answer 404 to everyone, as unknown routes.
            for path in super::OPERATOR_PATHS {
                paths.remove(path);
            }
        }
    }
    if state.control.is_none() {
        for (path, method) in
            [("/v1/payouts/{id}/approvals", "post"), ("/v1/signer", "get"), ("/v1/operator/signer/control", "post")]
        {
            let pointer = format!("/paths/{}/{method}", path.replace('~', "~0").replace('/', "~1"));
            if let Some(op) = doc.pointer_mut(&pointer).and_then(Value::as_object_mut) {
                let text = op.get("description").or_else(|| op.get("summary")).and_then(Value::as_str);
                let text = format!(
                    "{} This gateway has no `[signer]` configured: it answers 503 `signer_unavailable`.",
                    text.unwrap_or_default()
                );
                op.insert("description".into(), text.trim_start().into());
            }
        }
    }
    relayed_refusals(&mut doc);
    doc
}

/// `POST /v1/operator/signer/control` passes the signer's refusals on as
/// the signer gave them: at those statuses the body is the gateway's error
/// or the signer's (`{"error":{"rule","message"}}`).
fn relayed_refusals(doc: &mut Value) {
    let Some(responses) =
        doc.pointer_mut("/paths/~1v1~1operator~1signer~1control/post/responses").and_then(Value::as_object_mut)
    else {
        return;
    };
    let signer_error = json!({
        "type": "object",
        "title": "The signer's refusal",
        "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["rule", "message"], "properties": {
            "rule": {"type": "string", "description": "The signer's stable rule tag (`control.signature`, `control.version`, `control.expired`, `control.invalid`, …)"},
            "message": {"type": "string"}
        }}}
    });
    for status in super::operator::RELAYED_STATUSES.iter().filter(|s| **s != 200) {
        let entry = responses.entry(status.to_string()).or_insert_with(|| json!({"description": "", "content": {}}));
        let own = entry.pointer("/content/application~1json/schema").cloned();
        let (schema, text) = match own {
            Some(own) => {
                let text = entry["description"].as_str().unwrap_or_default();
                (json!({"oneOf": [own, signer_error]}), format!("{text} Or the signer's refusal, passed on unchanged."))
            }
            None => (signer_error.clone(), "The signer's refusal, passed on unchanged.".to_owned()),
        };
        entry["description"] = text.into();
        entry["content"] = json!({"application/json": {"schema": schema}});
    }
}

/// Which `asset`, `chain_id` and `amount` go together: one `oneOf` branch
/// per configured asset. Without `chain_id`, a symbol must be on one chain
/// only; with it, the chain must be one the symbol is on; the amount has at
/// most the asset's decimals.
fn describe_assets(invoice: &mut Value, assets: &AssetBook) {
    let branches: Vec<Value> = assets.iter().map(|asset| branch(asset, assets)).collect();
    let accepted: Vec<String> = assets
        .iter()
        .map(|a| format!("{} on chain {} ({} decimals)", a.id.symbol, a.id.chain_id, a.decimals))
        .collect();
    let mut chains: Vec<u64> = assets.iter().map(|a| a.id.chain_id.0).collect();
    chains.sort_unstable();
    chains.dedup();
    let mut chain_values: Vec<Value> = chains.into_iter().map(Value::from).collect();
    chain_values.push(Value::Null);
    // No asset configured: no invoice can be made, and the schema says so.
    invoice["oneOf"] = if branches.is_empty() { json!([false]) } else { Value::Array(branches) };
    if let Some(text) = invoice["description"].as_str() {
        let text = format!(
            "{text} This gateway accepts {}.",
            if accepted.is_empty() { "no asset".into() } else { accepted.join(", ") }
        );
        invoice["description"] = text.into();
    }
    let properties = &mut invoice["properties"];
    properties["chain_id"]["enum"] = Value::Array(chain_values);
    // The examples make an invoice this gateway takes.
    if let Some(first) = assets.iter().next() {
        let amount = if first.decimals >= 2 { "12.50" } else { "12" };
        let examples = [
            ("asset", json!(first.id.symbol.to_string())),
            ("chain_id", json!(first.id.chain_id.0)),
            ("amount", json!(amount)),
        ];
        for (name, example) in examples {
            if let Some(property) = properties[name].as_object_mut() {
                property.remove("example");
                property.insert("examples".into(), json!([example]));
            }
        }
    }
}

/// Payouts on a chain whose native coin is not configured cannot book their
/// network fee: such requests answer 503 `payouts_unavailable`, and the
/// description says which assets these are.
fn describe_fees(payout: &mut Value, assets: &AssetBook) {
    let unpaid: Vec<String> = assets
        .iter()
        .filter(|a| crate::sweeper::native(assets, a.id).is_none())
        .map(|a| format!("{} on chain {}", a.id.symbol, a.id.chain_id))
        .collect();
    if !unpaid.is_empty()
        && let Some(text) = payout["description"].as_str()
    {
        let text = format!(
            "{text} Not paid out here, for want of the chain's native coin in the configuration (network fees are \
             booked in it): {} (503 `payouts_unavailable`).",
            unpaid.join(", ")
        );
        payout["description"] = text.into();
    }
}

fn branch(asset: &Asset, assets: &AssetBook) -> Value {
    let symbol = asset.id.symbol;
    let chain = asset.id.chain_id.0;
    let on_several = assets.iter().filter(|a| a.id.symbol == symbol).count() > 1;
    let chain_id = if on_several { json!({"const": chain}) } else { json!({"enum": [chain, null]}) };
    let mut branch = json!({
        "title": format!("{symbol} on chain {chain}"),
        "properties": {
            "asset": {"pattern": format!("^{}$", any_case(symbol.as_str()))},
            "chain_id": chain_id,
            "amount": {"pattern": amount_pattern(asset.decimals)},
        },
    });
    if on_several {
        branch["required"] = json!(["chain_id"]);
    }
    branch
}
