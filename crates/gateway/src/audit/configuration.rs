//! `config.loaded`: the effective configuration, logged at start when it
//! differs from the one logged last.
//!
//! The record holds the configuration's public settings and their
//! SHA-256 (over their canonical JSON), never a `Redacted` value: the
//! xpub is left out, and each URL (database, RPC, WebSocket) is cut to
//! its origin (scheme, host, port), so credentials in its user part, path
//! or query (where providers put API keys) stay out while a node swapped
//! for another still shows. An SQLite database is named by its path.
//!
//! Two gateways sharing PostgreSQL that start together with a new
//! configuration may both log it: one entry too many, never one missing.

use coffer_audit::{Entry, Record, canonical_json};
use coffer_config::{Config, DatabaseTarget};
use coffer_domain::Timestamp;
use coffer_store::{Store, StoreError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::GATEWAY;

/// The action of the configuration's record.
pub const CONFIG_LOADED: &str = "config.loaded";

/// How many `Redacted` settings [`public_settings`] handles per config
/// with one chain (database URL, xpub, RPC URL, WebSocket URL): a test
/// compares it with what `Debug` redacts, so a new secret setting cannot
/// slip into the log unhandled.
#[cfg(test)]
const HANDLED_SECRETS: usize = 4;

/// The record of `config` as loaded at `at`.
pub fn configuration_loaded(config: &Config, at: Timestamp) -> Record {
    let detail = match public_settings(config) {
        Ok(settings) => {
            let digest = hex::encode(Sha256::digest(canonical_json(&settings).as_bytes()));
            json!({ "sha256": digest, "settings": settings })
        }
        // Only a data_dir that is not UTF-8 gets here; say so rather than
        // refuse to start over the log.
        Err(err) => json!({ "sha256": null, "error": format!("the configuration does not serialise: {err}") }),
    };
    Record {
        at_ms: at.as_millis(),
        actor: GATEWAY.into(),
        action: CONFIG_LOADED.into(),
        subject: String::new(),
        detail,
    }
}

/// Appends `record` unless the last configuration logged had the same digest.
pub async fn log_configuration(store: &dyn Store, record: &Record) -> Result<Option<Entry>, StoreError> {
    let last = store.last_entry_of(CONFIG_LOADED).await?;
    if last.is_some_and(|entry| entry.record.detail.get("sha256") == record.detail.get("sha256")) {
        return Ok(None);
    }
    store.append(record).await.map(Some)
}

/// The configuration as JSON, without its secrets (see the module docs).
fn public_settings(config: &Config) -> Result<Value, serde_json::Error> {
    let mut value = serde_json::to_value(config)?;
    let database = match config.database() {
        DatabaseTarget::Sqlite(path) => format!("sqlite:{}", path.display()),
        DatabaseTarget::Postgres(url) => origin(url.expose()),
    };
    if let Some(top) = value.as_object_mut() {
        top.remove("xpub");
        top.insert("database_url".into(), Value::String(database));
    }
    let chains = value.get_mut("chains").and_then(Value::as_array_mut).into_iter().flatten();
    for chain in chains.filter_map(Value::as_object_mut) {
        for key in ["rpc_url", "ws_url"] {
            if let Some(Value::String(url)) = chain.get(key) {
                let cut = origin(url);
                chain.insert(key.into(), Value::String(cut));
            }
        }
    }
    Ok(value)
}

/// `scheme://host[:port]` of a URL, nothing that can carry a credential.
fn origin(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(url) => {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}", url.scheme(), url.host_str().unwrap_or_default())
        }
        Err(_) => "<not a URL>".into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SECRETS: [&str; 4] =
        ["hunter2", "infura-key-123", "ws-key-456", "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbm"];

    fn config(rpc: &str) -> Config {
        Config::from_toml(&format!(
            r#"
            database_url = "postgres://coffer:hunter2@db.internal:5432/coffer?sslmode=require"
            xpub = "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5"
            [[chains]]
            chain_id = 1
            name = "mainnet"
            rpc_url = "{rpc}"
            ws_url = "wss://mainnet.example.io/ws/ws-key-456"
            confirmations = 12
            [[assets]]
            symbol = "ETH"
            chain_id = 1
            decimals = 18
            "#
        ))
        .unwrap()
    }

    #[test]
    fn the_record_holds_no_secret_and_every_secret_setting_is_handled() {
        let config = config("https://user:infura-key-123@mainnet.example.io/v3/infura-key-123?key=infura-key-123");
        let debug = format!("{config:?}");
        assert_eq!(debug.matches("<redacted>").count(), HANDLED_SECRETS, "a Redacted setting public_settings misses");
        let record = configuration_loaded(&config, Timestamp::from_millis(1));
        let text = canonical_json(&record.detail);
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let settings = &record.detail["settings"];
        assert_eq!(settings["database_url"], "postgres://db.internal:5432");
        assert_eq!(settings["chains"][0]["rpc_url"], "https://mainnet.example.io");
        assert_eq!(settings["chains"][0]["ws_url"], "wss://mainnet.example.io");
        assert_eq!(record.detail["sha256"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn another_node_changes_the_digest_another_key_does_not() {
        let digest = |rpc: &str| configuration_loaded(&config(rpc), Timestamp::now()).detail["sha256"].clone();
        let base = digest("https://mainnet.example.io/v3/key-one");
        assert_eq!(digest("https://mainnet.example.io/v3/key-two"), base);
        assert_ne!(digest("https://evil.example.net/v3/key-one"), base);
    }
}
