//! What is checked against the node before anything is read from it: a
//! token configured with other decimals than its contract has would price
//! every invoice wrongly, so its chain halts with a sentence saying which.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use coffer_domain::{ChainId, HaltCode};
use coffer_store::on_both_backends;
use coffer_store::testing::Kind;

use crate::shop::{ChainOptions, unfollowed_shop};

on_both_backends!(a_token_whose_decimals_differ_from_its_contract_halts_its_chain_with_a_sentence);

async fn a_token_whose_decimals_differ_from_its_contract_halts_its_chain_with_a_sentence(kind: Kind) {
    let anvil = coffer_devnet::Anvil::spawn(coffer_devnet::AnvilOptions::default()).await.unwrap();
    let url = anvil.http_url();
    let options = ChainOptions { usdt_decimals: Some(18), ..ChainOptions::default() };
    let Some(shop) = unfollowed_shop(kind, 2, anvil, url, &options).await else { return };
    let mut health = serde_json::Value::Null;
    for _ in 0..500 {
        health = shop.chain_health().await;
        if health["state"] == "halted" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        (&health["state"], &health["halt"]),
        (&serde_json::json!("halted"), &serde_json::json!("config")),
        "{health}"
    );
    let reason = health["last_error"].as_str().unwrap();
    assert!(reason.contains("USDT on chain 31337 is configured with 18 decimals"), "{reason}");
    assert!(reason.contains("says 6; set that asset's decimals to 6"), "{reason}");
    assert!(health["cursor"].is_null(), "nothing was read from a chain whose configuration is wrong");
    let halt = shop.app.store.open_halt(ChainId(31337)).await.unwrap().expect("recorded for operators");
    assert_eq!(halt.code, HaltCode::Config);
}
