//! The gateway's audit log as the gateway writes it: merchants' acts under
//! their key's id, operators' under `operator`, the configuration at
//! start when it changed, never a secret.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use coffer_audit::{Entry, canonical_json, verify};
use coffer_config::Config;
use coffer_store::Store;
use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use serde_json::{Value, json};

use crate::helpers::{config_text, spawn_app_configured, spawn_app_with};

on_both_backends!(
    webhook_acts_are_logged_under_the_callers_key_without_the_secret,
    the_configuration_is_logged_at_start_only_when_it_changed,
);

async fn all_entries(store: &dyn Store) -> Vec<Entry> {
    store.entries(0, 1000).await.unwrap()
}

/// `coffer_sk_<hex>_<secret>` → `key_<hex>`.
fn key_id(token: &str) -> String {
    format!("key_{}", token.strip_prefix("coffer_sk_").unwrap().split('_').next().unwrap())
}

async fn webhook_acts_are_logged_under_the_callers_key_without_the_secret(kind: Kind) {
    let tables = "[webhooks]\nallow_private_urls = true";
    let Some(app) = spawn_app_configured(kind, "", tables).await else { return };
    let created =
        app.post_ok("/v1/webhooks", json!({"url": "http://127.0.0.1:9/hooks", "events": ["invoice.settled"]}));
    let created = created.await;
    let (id, secret) = (created["id"].as_str().unwrap(), created["secret"].as_str().unwrap());
    let deleted = app.client.delete(app.url(&format!("/v1/webhooks/{id}"))).bearer_auth(&app.key).send().await;
    assert_eq!(deleted.unwrap().status(), 204);

    let entries = all_entries(&*app.store).await;
    assert_eq!(verify(&entries), Ok(app.store.head().await.unwrap()));
    let acts: Vec<(&str, &str)> = entries.iter().map(|e| (e.record.action.as_str(), e.record.actor.as_str())).collect();
    let by_key = key_id(&app.key);
    assert_eq!(
        acts,
        [
            ("config.loaded", "gateway"),
            ("merchant.created", "operator"),
            ("api_key.created", "operator"),
            ("webhook.registered", by_key.as_str()),
            ("webhook.deleted", by_key.as_str()),
        ]
    );
    let registered = &entries[3].record;
    assert_eq!(registered.subject, id);
    assert_eq!(registered.detail["url"], "http://127.0.0.1:9/hooks");
    assert_eq!(registered.detail["events"], json!(["invoice.settled"]));
    assert_eq!(entries[2].record.subject, by_key);
    let api_secret = app.key.rsplit('_').next().unwrap();
    for entry in &entries {
        let text = format!("{} {}", entry.record.subject, canonical_json(&entry.record.detail));
        assert!(!text.contains(secret) && !text.contains(api_secret), "a secret in entry {}: {text}", entry.seq);
    }
}

async fn the_configuration_is_logged_at_start_only_when_it_changed(kind: Kind) {
    let Some(app) = spawn_app_configured(kind, "", "").await else { return };
    let db = Arc::clone(&app.db);
    let first = config_text(&db);
    app.stop().await;
    let configs = |entries: &[Entry]| -> Vec<Value> {
        entries.iter().filter(|e| e.record.action == "config.loaded").map(|e| e.record.detail.clone()).collect()
    };

    // The same configuration again: nothing new.
    let again = spawn_app_with(db.clone(), &Config::from_toml(&first).unwrap()).await;
    let logged = configs(&all_entries(&*again.store).await);
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0]["settings"]["chains"][0]["confirmations"], 2);
    again.stop().await;

    // A changed setting: logged, with a new digest.
    let changed = first.replacen("confirmations = 2", "confirmations = 1", 1);
    let third = spawn_app_with(db.clone(), &Config::from_toml(&changed).unwrap()).await;
    let entries = all_entries(&*third.store).await;
    let logged = configs(&entries);
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert_ne!(logged[0]["sha256"], logged[1]["sha256"]);
    assert_eq!(logged[1]["settings"]["chains"][0]["confirmations"], 1);
    assert_eq!(verify(&entries), Ok(third.store.head().await.unwrap()));
    third.stop().await;
}
