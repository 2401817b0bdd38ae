//! What the gateway writes into its audit log: one [`Record`] per
//! privileged act, built here so every action name is in one place.
//!
//! Actions are stable dotted names (verifiers and alerts match on them):
//! `merchant.created`, `merchant.branding_changed`, `api_key.created`, `api_key.revoked`,
//! `webhook.registered`, `webhook.deleted`, `chain.halt_resolved`,
//! `config.loaded`, `payout.requested`, `payout.<status>`,
//! `payout.approval_relayed`, `screening.list_imported`,
//! `screening.released`, `screening.rejected`, what the gateway learns of the signer's
//! controls: `signer.frozen`, `signer.unfrozen`, `signer.policy_changed`, and the
//! console's: `console.link_created`, `console.signed_in`, `console.signed_out`,
//! `console.webhook_redelivered`, `console.sessions_ended`.
//! The actor is [`OPERATOR`] for commands run on the host and requests
//! with the operator's token, the API key's id for a merchant's request,
//! [`GATEWAY`] for what the gateway does on its own, and `console:<12 hex>`
//! for a console session (the same name on its sign-in and on each act).
//!
//! **Invariant:** no record carries a secret: no API-key secret or digest,
//! no webhook signing secret, no configuration value that is `Redacted`.

mod configuration;

use coffer_audit::Record;
use coffer_domain::{ApiKeyId, ChainId, MerchantId, Payout, Timestamp, WebhookId};
use coffer_store::{ApiKeyRecord, Merchant, WebhookEndpoint};
use serde_json::json;

pub use configuration::{CONFIG_LOADED, configuration_loaded, log_configuration};

/// The actor of a command an operator ran on the host.
pub const OPERATOR: &str = "operator";
/// The actor of what the gateway process does on its own.
pub const GATEWAY: &str = "gateway";

fn record(at: Timestamp, actor: &str, action: &str, subject: String, detail: serde_json::Value) -> Record {
    Record { at_ms: at.as_millis(), actor: actor.to_owned(), action: action.to_owned(), subject, detail }
}

/// `merchant.created`, by the operator.
pub fn merchant_created(merchant: &Merchant) -> Record {
    let detail = json!({ "name": merchant.name });
    record(merchant.created_at, OPERATOR, "merchant.created", merchant.id.to_string(), detail)
}

/// `api_key.created`, by the operator: the key's id, merchant, scopes and
/// label, never its secret or digest.
pub fn api_key_created(key: &ApiKeyRecord) -> Record {
    api_key_created_by(key, OPERATOR)
}

/// `api_key.created`, by `actor` (a console session).
pub fn api_key_created_by(key: &ApiKeyRecord, actor: &str) -> Record {
    let detail = json!({
        "merchant_id": key.merchant_id.to_string(),
        "scopes": key.scopes.to_string(),
        "label": key.label,
    });
    record(key.created_at, actor, "api_key.created", key.id.to_string(), detail)
}

/// `api_key.revoked`, by the operator.
pub fn api_key_revoked(id: ApiKeyId, at: Timestamp) -> Record {
    api_key_revoked_by(id, at, OPERATOR)
}

/// `api_key.revoked`, by `actor` (a console session).
pub fn api_key_revoked_by(id: ApiKeyId, at: Timestamp, actor: &str) -> Record {
    record(at, actor, "api_key.revoked", id.to_string(), json!({}))
}

/// `webhook.registered`, by the merchant's key: where deliveries go and
/// which events, never the signing secret.
pub fn webhook_registered(by: &str, endpoint: &WebhookEndpoint) -> Record {
    let events: Vec<&str> = endpoint.events.iter().map(|e| e.as_str()).collect();
    let detail = json!({
        "merchant_id": endpoint.merchant_id.to_string(),
        "url": endpoint.url,
        "events": events,
    });
    record(endpoint.created_at, by, "webhook.registered", endpoint.id.to_string(), detail)
}

/// `webhook.deleted`, by the merchant's key.
pub fn webhook_deleted(by: &str, merchant_id: MerchantId, id: WebhookId, at: Timestamp) -> Record {
    let detail = json!({ "merchant_id": merchant_id.to_string() });
    record(at, by, "webhook.deleted", id.to_string(), detail)
}

/// `payout.requested`, by the merchant's key (or a console session): what was asked, of whose
/// balance, to where.
pub fn payout_requested(by: &str, payout: &Payout, at: Timestamp) -> Record {
    record(at, by, "payout.requested", payout.id.to_string(), payout_detail(payout))
}

/// `payout.<status>`, by the gateway: what the signer answered changed the payout.
pub fn payout_changed(payout: &Payout, at: Timestamp) -> Record {
    let action = format!("payout.{}", payout.status);
    record(at, GATEWAY, &action, payout.id.to_string(), payout_detail(payout))
}

fn payout_detail(payout: &Payout) -> serde_json::Value {
    json!({
        "merchant_id": payout.merchant_id.to_string(),
        "asset": payout.amount.asset().to_string(),
        "units": payout.amount.units().to_string(),
        "destination": payout.destination.to_string(),
        "status": payout.status.to_string(),
        "refund_of": payout.refund_of.map(|id| id.to_string()),
        "tx_hash": payout.tx_hash.map(|h| h.to_string()),
        "rule": payout.refusal.as_ref().map(|r| r.rule.clone()),
    })
}

/// What an entry of a relayed approval names.
#[derive(Clone, Copy, Debug)]
pub struct RelayedApproval<'a> {
    /// The approver's public key (`ed25519:…`).
    pub approver: &'a str,
    /// `approve` or `reject`.
    pub decision: &'a str,
    /// The digest signed.
    pub digest: &'a str,
    /// What the signer answered: the payout's state, or the rule it refused by.
    pub answer: &'a str,
}

/// `payout.approval_relayed`, by the operator's token: an approver's
/// decision the gateway carried to the signer, and what the signer answered
/// (the state it left the payout in, or the rule it refused the approval by).
/// The approver's public key is public; the signature is not kept.
pub fn approval_relayed(payout: coffer_domain::PayoutId, relayed: RelayedApproval<'_>, at: Timestamp) -> Record {
    let detail = json!({
        "approver": relayed.approver,
        "decision": relayed.decision,
        "digest": relayed.digest,
        "answer": relayed.answer,
    });
    record(at, OPERATOR, "payout.approval_relayed", payout.to_string(), detail)
}

/// `screening.released` or `screening.rejected`, by the operator: the held
/// payment (its invoice, transfer, amount and sender), the hit that held
/// it, and the operator's reason.
pub fn hold_decided(
    payment: &coffer_domain::Payment,
    to: coffer_domain::HoldState,
    note: &str,
    at: Timestamp,
    actor: &str,
) -> Record {
    let reason = payment.hold.as_ref().map(|h| &h.reason);
    let detail = json!({
        "invoice_id": payment.invoice_id.to_string(),
        "tx_hash": payment.tx_hash.to_string(),
        "asset": payment.amount.asset().to_string(),
        "amount_units": payment.amount.units().to_string(),
        "from": payment.from.to_checksum(None),
        "booked": payment.booked_at.is_some(),
        "category": reason.map(|r| r.category.as_str()),
        "source": reason.map(|r| r.source()),
        "label": reason.and_then(|r| r.label.as_deref()),
        "reason": note,
    });
    let action = if to == coffer_domain::HoldState::Released { "screening.released" } else { "screening.rejected" };
    record(at, actor, action, payment.id.to_string(), detail)
}

/// `screening.list_imported`, by the operator: a list's name, format,
/// entry count and content hash (never its content: the store has it).
pub fn screening_list_imported(list: &coffer_store::StoredList, non_evm: u64) -> Record {
    let detail = json!({
        "format": list.format,
        "entries": list.entries,
        "non_evm": non_evm,
        "sha256": list.sha256,
        "bytes": list.content.len(),
    });
    record(list.imported_at, OPERATOR, "screening.list_imported", list.name.clone(), detail)
}

/// The subject of the signer's controls' entries.
const SIGNER: &str = "signer";

/// `signer.frozen`, by the gateway: it read that the signer froze outgoing
/// payments, why (the rule tag and sentence) and since when.
pub fn signer_frozen(freeze: &coffer_signer_api::FreezeInfo, policy_version: u64, at: Timestamp) -> Record {
    let detail = json!({
        "reason": freeze.reason.as_str(),
        "message": freeze.message,
        "since": freeze.since,
        "by": freeze.by,
        "policy_version": policy_version,
    });
    record(at, GATEWAY, "signer.frozen", SIGNER.to_owned(), detail)
}

/// `signer.unfrozen`, by the gateway: it read that the freeze was lifted.
pub fn signer_unfrozen(policy_version: u64, at: Timestamp) -> Record {
    record(at, GATEWAY, "signer.unfrozen", SIGNER.to_owned(), json!({ "policy_version": policy_version }))
}

/// `signer.policy_changed`, by the gateway: the signer's policy version or
/// profile is not what it read before (or it reads them the first time).
pub fn signer_policy_changed(
    from: Option<(u64, coffer_signer_api::Profile)>,
    policy_version: u64,
    profile: coffer_signer_api::Profile,
    at: Timestamp,
) -> Record {
    let detail = json!({
        "policy_version": policy_version,
        "profile": profile.as_str(),
        "previous_version": from.map(|f| f.0),
        "previous_profile": from.map(|f| f.1.as_str()),
    });
    record(at, GATEWAY, "signer.policy_changed", SIGNER.to_owned(), detail)
}

/// What an operator decided about a chain's halt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HaltDecision {
    /// The cause was fixed: the watcher tries again.
    Clear,
    /// Look for the displaced payments' transfers up to this block.
    WaitUntil(u64),
    /// Write the displaced payments off.
    WriteOff,
}

/// `chain.halt_resolved`, by the operator. For a decision on displaced
/// payments the store adds the ids it applied to (`payments`).
pub fn halt_resolved(chain_id: ChainId, decision: HaltDecision, note: &str, at: Timestamp) -> Record {
    let (name, until) = match decision {
        HaltDecision::Clear => ("clear", None),
        HaltDecision::WaitUntil(block) => ("wait", Some(block)),
        HaltDecision::WriteOff => ("write_off", None),
    };
    let mut detail = json!({ "chain_id": chain_id.0, "decision": name, "note": note });
    if let (Some(block), Some(fields)) = (until, detail.as_object_mut()) {
        fields.insert("until_block".into(), json!(block));
    }
    record(at, OPERATOR, "chain.halt_resolved", format!("chain:{}", chain_id.0), detail)
}

/// The subject of a console record: the merchant, or the operator.
fn console_subject(role: coffer_store::ConsoleRole) -> String {
    role.merchant().map_or_else(|| OPERATOR.to_owned(), |m| m.to_string())
}

/// `console.link_created`, by the operator: for whom, until when (never the link).
pub fn console_link_created(link: &coffer_store::ConsoleLink) -> Record {
    let detail = json!({ "expires_at": link.expires_at.to_rfc3339() });
    record(link.created_at, OPERATOR, "console.link_created", console_subject(link.role), detail)
}

/// `console.signed_in`: the session's actor name (used by every later
/// console record of it), how it was opened, and until when.
pub fn console_signed_in(session: &coffer_store::ConsoleSession, actor: &str) -> Record {
    let detail = json!({ "opened_by": session.opened_by, "expires_at": session.expires_at.to_rfc3339() });
    record(session.created_at, actor, "console.signed_in", console_subject(session.role), detail)
}

/// `console.signed_out`.
pub fn console_signed_out(role: coffer_store::ConsoleRole, actor: &str, at: Timestamp) -> Record {
    record(at, actor, "console.signed_out", console_subject(role), json!({}))
}

/// `console.webhook_redelivered`: which delivery of which invoice was
/// sent again, and the new delivery's id.
pub fn console_redelivered(
    merchant_id: MerchantId,
    actor: &str,
    invoice: coffer_domain::InvoiceId,
    delivery: coffer_domain::DeliveryId,
    created: coffer_domain::DeliveryId,
    at: Timestamp,
) -> Record {
    let detail = json!({
        "merchant_id": merchant_id.to_string(),
        "invoice_id": invoice.to_string(),
        "new_delivery_id": created.to_string(),
    });
    record(at, actor, "console.webhook_redelivered", delivery.to_string(), detail)
}

/// `merchant.branding_changed`, by the operator: the colour, and the
/// logo's type, size and SHA-256 (not its bytes).
pub fn branding_changed(merchant: MerchantId, branding: &coffer_domain::Branding, at: Timestamp) -> Record {
    use sha2::Digest as _;
    let logo = branding.logo.as_ref().map(|logo| {
        json!({
            "type": logo.kind().mime(),
            "bytes": logo.bytes().len(),
            "sha256": hex::encode(sha2::Sha256::digest(logo.bytes())),
        })
    });
    let detail = json!({ "color": branding.color.map(|c| c.to_string()), "logo": logo });
    record(at, OPERATOR, "merchant.branding_changed", merchant.to_string(), detail)
}

/// `console.sessions_ended`, by the operator on the host: whose sessions
/// (a merchant, the operator, or everyone's), and how many were live is
/// known only after the act, so it is not in the record.
pub fn console_sessions_ended(role: Option<coffer_store::ConsoleRole>, at: Timestamp) -> Record {
    let subject = role.map_or_else(|| "all".to_owned(), console_subject);
    record(at, OPERATOR, "console.sessions_ended", subject, json!({}))
}
