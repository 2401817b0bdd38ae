//! Approvals and the signer's controls through the gateway (ADR 0013), over
//! real HTTP against a real gateway and database. The signer is
//! `signer_double.rs`: a double of the signer process, which checks
//! approvals' signatures as the signer does but is no proof of the signer's
//! rules (the signer's own tests cover the real process). What is tested
//! here is the gateway's part: it carries approvals and applies only what
//! the signer answers, follows a waiting payout until it goes out, and
//! logs and announces what it reads of the signer's freeze and policy.

#![allow(clippy::unwrap_used)]

use coffer_domain::PayoutId;
use coffer_signer_api::{Decision, Profile, RuleTag};
use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use serde_json::{Value, json};

use crate::helpers::{SignerKeys, TestApp, assert_error, fund, spawn_app_configured, until_json};
use crate::shop::Hooks;
use crate::signer_double::{NEEDS_APPROVAL, QUORUM, SignerDouble, approver, identity, sign};

on_both_backends!(
    approval_relayed_is_applied_only_as_the_signer_answers,
    approval_rejected_refuses_the_payout_and_releases_its_reserve,
    approval_sent_to_the_signer_directly_is_learned_by_asking,
    approval_routes_are_the_operators,
    freeze_on_the_signer_is_logged_and_announced_once_and_its_end_logged,
);

const DESTINATION: &str = "0x1111111111111111111111111111111111111111";

struct Setup {
    app: TestApp,
    signer: SignerDouble,
    operator: String,
    _keys: SignerKeys,
}

async fn setup(kind: Kind) -> Option<Setup> {
    let keys = SignerKeys::new();
    let signer = SignerDouble::start(keys.gateway).await;
    let (operator, digest) = coffer_gateway::admin::operator_token().unwrap();
    let top = format!("operator_token_sha256 = \"{digest}\"");
    let tables = format!(
        "[webhooks]\nallow_private_urls = true\nretry_base_ms = 20\n{}control_poll_ms = 20\n",
        keys.table(&signer.url, &identity().public())
    );
    let app = spawn_app_configured(kind, &top, &tables).await?;
    Some(Setup { app, signer, operator, _keys: keys })
}

impl Setup {
    async fn operator_get(&self, path: &str) -> reqwest::Response {
        self.app.client.get(self.app.url(path)).bearer_auth(&self.operator).send().await.unwrap()
    }

    async fn operator_post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.app.client.post(self.app.url(path)).bearer_auth(&self.operator).json(body).send().await.unwrap()
    }

    /// Relays `approver`'s decision on `digest` for payout `id`.
    async fn relay(
        &self,
        id: &str,
        who: u8,
        decision: Decision,
        digest: coffer_signer_api::Digest,
    ) -> reqwest::Response {
        let approval = serde_json::to_value(sign(&approver(who), decision, digest)).unwrap();
        self.operator_post(&format!("/v1/payouts/{id}/approvals"), &approval).await
    }

    /// A payout the double makes wait for approvers, once it waits.
    async fn waiting_payout(&self) -> (String, Value) {
        fund(&self.app, 10_000_000).await;
        let amount = format!("0.{NEEDS_APPROVAL:06}");
        let created = self
            .app
            .post_ok("/v1/payouts", json!({"amount": amount, "asset": "USDT", "destination": DESTINATION}))
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let waiting = until_status(&self.app, &id, "pending_approval").await;
        (id, waiting)
    }

    async fn actions(&self, subject: &str) -> Vec<String> {
        let entries = self.app.store.entries(0, 10_000).await.unwrap();
        entries.into_iter().filter(|e| e.record.subject == subject).map(|e| e.record.action).collect()
    }
}

async fn until_status(app: &TestApp, id: &str, status: &str) -> Value {
    until_json(app, &app.key, &format!("/v1/payouts/{id}"), |p| p["status"] == status).await
}

fn round_digest(signer: &SignerDouble, id: &str) -> coffer_signer_api::Digest {
    signer.waiting(id.parse::<PayoutId>().unwrap()).expect("it waits").digest()
}

async fn approval_relayed_is_applied_only_as_the_signer_answers(kind: Kind) {
    let Some(s) = setup(kind).await else { return };
    let (id, waiting) = s.waiting_payout().await;
    let digest = round_digest(&s.signer, &id);
    let round = s.signer.waiting(id.parse().unwrap()).unwrap();
    assert_eq!(waiting["approval"]["digest"], digest.to_string(), "{waiting}");
    assert_eq!(waiting["approval"]["quorum"], QUORUM);
    assert_eq!(waiting["approval"]["expires_at_unix"], round.expires_at);
    assert_eq!(waiting["approval"]["approved_by"], json!([]));
    let line: Value = s.app.get_as(&s.app.key, "/v1/balances").await.json().await.unwrap();
    assert_eq!(line["data"][0]["reserved_units"], NEEDS_APPROVAL.to_string(), "still reserved while it waits");

    // What an approver reads: every field the digest names.
    let shown: Value = s.operator_get(&format!("/v1/operator/payouts/{id}")).await.json().await.unwrap();
    assert_eq!(
        (&shown["merchant"], &shown["chain_id"], &shown["asset"], &shown["amount_units"], &shown["destination"]),
        (&json!(s.app.merchant.to_string()), &json!(31337), &json!("USDT"), &json!("77"), &json!(DESTINATION))
    );
    assert_eq!(shown["amount"], "0.000077");
    assert_eq!(shown["approval"]["digest"], digest.to_string());

    // A stranger's key: the gateway carries it, the signer refuses it, nothing changes.
    let refused = s.relay(&id, 7, Decision::Approve, digest).await;
    let message = assert_error(refused, 422, "approval_refused").await;
    assert!(message.contains("approval.signature"), "{message}");
    // Another digest than the round's: refused likewise.
    let other = coffer_signer_api::Digest([9; 32]);
    let message = assert_error(s.relay(&id, 1, Decision::Approve, other).await, 422, "approval_refused").await;
    assert!(message.contains("approval.mismatch"), "{message}");
    let still: Value = s.app.get_as(&s.app.key, &format!("/v1/payouts/{id}")).await.json().await.unwrap();
    assert_eq!((&still["status"], &still["approval"]["approved_by"]), (&json!("pending_approval"), &json!([])));

    // One approver, twice: the signer counts one, and so does the payout.
    for _ in 0..2 {
        let answer = s.relay(&id, 0, Decision::Approve, digest).await;
        assert_eq!(answer.status(), 200);
        let payout: Value = answer.json().await.unwrap();
        assert_eq!(
            (&payout["status"], &payout["approval"]["approved_by"]),
            (&json!("pending_approval"), &json!(["approver-0"]))
        );
    }
    let merchant_view: Value = s.app.get_as(&s.app.key, &format!("/v1/payouts/{id}")).await.json().await.unwrap();
    assert_eq!(merchant_view["approval"]["approved_by"], json!(["approver-0"]));

    // The quorum: the signer sends it, and the payout says so.
    let answer = s.relay(&id, 1, Decision::Approve, digest).await;
    assert_eq!(answer.status(), 200);
    let sent: Value = answer.json().await.unwrap();
    assert_eq!(sent["status"], "broadcast", "{sent}");
    assert_eq!(sent["approval"]["approved_by"], json!(["approver-0"]), "the last round the signer reported");
    until_status(&s.app, &id, "confirmed").await;
    assert_eq!(s.signer.approvals().len(), 5, "every approval reached the signer");

    let actions = s.actions(&id).await;
    assert_eq!(actions.iter().filter(|a| *a == "payout.approval_relayed").count(), 5, "{actions:?}");
    // Waiting, one approver more (the repeated one changed nothing), sent, confirmed.
    for (expected, times) in [("payout.pending_approval", 2), ("payout.broadcast", 1), ("payout.confirmed", 1)] {
        assert_eq!(actions.iter().filter(|a| *a == expected).count(), times, "{expected}: {actions:?}");
    }
    let entries = s.app.store.entries(0, 10_000).await.unwrap();
    let relayed: Vec<_> = entries.iter().filter(|e| e.record.action == "payout.approval_relayed").collect();
    assert_eq!(relayed[0].record.detail["answer"], "approval.signature");
    assert_eq!(relayed[4].record.detail["answer"], "broadcast");
    assert_eq!(relayed[4].record.actor, "operator");
    assert!(
        !relayed.iter().any(|e| e
            .record
            .detail
            .to_string()
            .contains(&sign(&approver(1), Decision::Approve, digest).signature)),
        "no signature kept"
    );
}

async fn approval_rejected_refuses_the_payout_and_releases_its_reserve(kind: Kind) {
    let Some(s) = setup(kind).await else { return };
    let hooks = Hooks::start().await;
    let created = s
        .app
        .post_ok("/v1/webhooks", json!({"url": hooks.url, "events": ["payout.pending_approval", "payout.refused"]}))
        .await;
    *hooks.secret.lock().unwrap() = created["secret"].as_str().unwrap().to_owned();
    let (id, _) = s.waiting_payout().await;
    let digest = round_digest(&s.signer, &id);
    let answer = s.relay(&id, 2, Decision::Reject, digest).await;
    assert_eq!(answer.status(), 200);
    let refused: Value = answer.json().await.unwrap();
    assert_eq!(refused["status"], "refused");
    let view = until_status(&s.app, &id, "refused").await;
    assert_eq!(view["refusal"]["rule"], "approval.rejected");
    assert_eq!(view["approval"], Value::Null, "no longer waiting");
    let line: Value = s.app.get_as(&s.app.key, "/v1/balances").await.json().await.unwrap();
    assert_eq!(line["data"][0]["reserved_units"], "0", "released");
    // Waiting, then refused: one webhook each, with the round while it waited.
    let mut kinds: Vec<(String, Value)> = Vec::new();
    for _ in 0..500 {
        kinds = hooks.received.lock().unwrap().iter().map(|r| (r.event_type.clone(), r.body.clone())).collect();
        if kinds.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let names: Vec<&str> = kinds.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["payout.pending_approval", "payout.refused"]);
    assert_eq!(kinds[0].1["data"]["payout"]["approval"]["digest"], digest.to_string());
    assert!(hooks.received.lock().unwrap().iter().all(|r| r.signature_valid));
    // Decided: the signer does not wait any more, and says so.
    let message = assert_error(s.relay(&id, 0, Decision::Approve, digest).await, 422, "approval_refused").await;
    assert!(message.contains("approval.not_waiting"), "{message}");
}

async fn approval_sent_to_the_signer_directly_is_learned_by_asking(kind: Kind) {
    let Some(s) = setup(kind).await else { return };
    let (id, _) = s.waiting_payout().await;
    let payout: PayoutId = id.parse().unwrap();
    let digest = round_digest(&s.signer, &id);
    for who in [0, 1] {
        assert_eq!(s.signer.approve_directly(payout, &sign(&approver(who), Decision::Approve, digest)).await, 200);
    }
    // The gateway relayed nothing; it keeps asking about the waiting payout.
    let confirmed = until_status(&s.app, &id, "confirmed").await;
    assert_eq!(confirmed["approval"], Value::Null);
    let actions = s.actions(&id).await;
    assert!(!actions.iter().any(|a| a == "payout.approval_relayed"), "{actions:?}");
}

async fn approval_routes_are_the_operators(kind: Kind) {
    let Some(s) = setup(kind).await else { return };
    let (id, _) = s.waiting_payout().await;
    let digest = round_digest(&s.signer, &id);
    let approval = serde_json::to_value(sign(&approver(0), Decision::Approve, digest)).unwrap();
    // A merchant's key is no operator token.
    let path = format!("/v1/payouts/{id}/approvals");
    let as_merchant = s.app.client.post(s.app.url(&path)).bearer_auth(&s.app.key).json(&approval).send().await.unwrap();
    assert_error(as_merchant, 401, "unauthorized").await;
    assert!(s.signer.approvals().is_empty(), "nothing relayed");
    // Malformed approvals never leave the gateway.
    let mut bad = approval.clone();
    bad["signature"] = json!("00");
    assert_error(s.operator_post(&path, &bad).await, 422, "invalid_request").await;
    bad = approval.clone();
    bad["extra"] = json!(1);
    assert_error(s.operator_post(&path, &bad).await, 422, "invalid_request").await;
    let unknown = format!("/v1/payouts/{}/approvals", PayoutId::new());
    assert_error(s.operator_post(&unknown, &approval).await, 404, "not_found").await;
    assert_error(s.operator_get(&format!("/v1/operator/payouts/{}", PayoutId::new())).await, 404, "not_found").await;
    assert!(s.signer.approvals().is_empty(), "nothing relayed");
}

/// Waits until `GET /v1/signer` shows `done`.
async fn until_signer(s: &Setup, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..2000 {
        let response = s.operator_get("/v1/signer").await;
        if response.status() == 200 {
            last = response.json().await.unwrap();
            if done(&last) {
                return last;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("GET /v1/signer never got there: {last:#}");
}

async fn metric(s: &Setup, name: &str) -> Option<String> {
    let text = s.app.client.get(s.app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .map(|l| l[name.len() + 1..].to_owned())
}

async fn freeze_on_the_signer_is_logged_and_announced_once_and_its_end_logged(kind: Kind) {
    let Some(s) = setup(kind).await else { return };
    let hooks = Hooks::start().await;
    let created = s.app.post_ok("/v1/webhooks", json!({"url": hooks.url, "events": ["operator.freeze"]})).await;
    *hooks.secret.lock().unwrap() = created["secret"].as_str().unwrap().to_owned();
    let calm = until_signer(&s, |v| v["controls"]["policy_version"] == 1).await;
    assert_eq!((&calm["controls"]["frozen"], &calm["controls"]["profile"]), (&Value::Null, &json!("normal")));
    assert_eq!(metric(&s, "coffer_signer_frozen").await.as_deref(), Some("0"));

    s.signer.freeze(RuleTag::AnomalyOutflow, "USDT outflow 9× its baseline");
    let frozen = until_signer(&s, |v| !v["controls"]["frozen"].is_null()).await;
    assert_eq!(frozen["controls"]["frozen"]["reason"], "anomaly.outflow");
    // Read many times more while frozen: still one entry, one webhook.
    s.signer.until_control_read(10).await;
    for _ in 0..500 {
        if !hooks.received.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Time for a second delivery, were there one.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let received = hooks.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "one operator.freeze: {received:?}");
    assert_eq!(received[0].event_type, "operator.freeze");
    assert!(received[0].signature_valid);
    let freeze = &received[0].body["data"]["freeze"];
    assert_eq!(
        (&freeze["reason"], &freeze["message"]),
        (&json!("anomaly.outflow"), &json!("USDT outflow 9× its baseline"))
    );
    assert_eq!(freeze["since_unix"], frozen["controls"]["frozen"]["since_unix"]);
    assert_eq!(s.actions("signer").await, ["signer.policy_changed", "signer.frozen"]);
    let entries = s.app.store.entries(0, 10_000).await.unwrap();
    let entry = entries.iter().find(|e| e.record.action == "signer.frozen").unwrap();
    assert_eq!(entry.record.detail["reason"], "anomaly.outflow");
    assert_eq!(metric(&s, "coffer_signer_frozen").await.as_deref(), Some("1"));

    s.signer.unfreeze();
    let lifted = until_signer(&s, |v| v["controls"]["frozen"].is_null()).await;
    assert_eq!(lifted["controls"]["policy_version"], 2);
    s.signer.until_control_read(5).await;
    assert_eq!(
        s.actions("signer").await,
        ["signer.policy_changed", "signer.frozen", "signer.unfrozen", "signer.policy_changed"]
    );
    assert_eq!(metric(&s, "coffer_signer_frozen").await.as_deref(), Some("0"));
    assert_eq!(metric(&s, "coffer_signer_policy_version").await.as_deref(), Some("2"));
    s.signer.set_policy(3, Profile::Restricted);
    until_signer(&s, |v| v["controls"]["profile"] == "restricted").await;
    s.signer.until_control_read(3).await;
    let entries = s.app.store.entries(0, 10_000).await.unwrap();
    let last = entries.iter().rev().find(|e| e.record.action == "signer.policy_changed").unwrap();
    assert_eq!(
        (&last.record.detail["policy_version"], &last.record.detail["profile"]),
        (&json!(3), &json!("restricted"))
    );
    assert_eq!(hooks.received.lock().unwrap().len(), 1, "an unfreeze or a profile is no freeze");

    // A control request is carried as is, and the signer's answer comes back unchanged.
    let unsigned =
        json!({"proposal": {"change": {"change": "unfreeze"}, "base_version": 3, "expires_at": 1}, "approvals": []});
    let answer = s.operator_post("/v1/operator/signer/control", &unsigned).await;
    assert_eq!(answer.status(), 401);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["rule"], "control.signature", "the signer's own body: {body}");
    let mut signed = unsigned.clone();
    signed["approvals"] = json!([{"approver": "x"}]);
    let answer = s.operator_post("/v1/operator/signer/control", &signed).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({"result": "applied", "policy_version": 4}));
    assert_eq!(s.signer.control_posts(), vec![unsigned, signed], "carried as sent");
    // The merchant's key reaches none of it.
    assert_error(s.app.get_as(&s.app.key, "/v1/signer").await, 401, "unauthorized").await;
}
