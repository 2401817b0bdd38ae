//! Several RPC providers per chain, in front of one real anvil through the
//! chaos proxy: a provider that invents a payment is outvoted by two honest
//! ones (and, with one honest one only, stalls the chain rather than be
//! believed); one that goes down or lags is passed over and payments
//! settle through the others. The store plays no part in this: SQLite only.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use coffer_store::testing::Kind;
use serde_json::Value;

use crate::rpc_proxy::{Limits, RpcProxy};
use crate::shop::{ChainOptions, Shop, shop_with_options};

/// A shop reading from `main` first, then from the others in order (the
/// first primary, the rest fallbacks).
async fn shop_with_providers(count: usize) -> (Shop, Vec<RpcProxy>) {
    let anvil = coffer_devnet::Anvil::spawn(coffer_devnet::AnvilOptions::default()).await.unwrap();
    let mut proxies = Vec::new();
    for _ in 0..count {
        proxies.push(RpcProxy::start(anvil.http_url(), Limits::default()).await);
    }
    let mut extra = String::from("provider_lag_blocks = 8\n");
    for (i, proxy) in proxies.iter().enumerate().skip(1) {
        let role = if i == 1 { "primary" } else { "fallback" };
        extra.push_str(&format!(
            "[[chains.providers]]\nname = \"p{i}\"\nrpc_url = \"{}\"\nrole = \"{role}\"\n",
            proxy.url
        ));
    }
    let options = ChainOptions { http_only: true, extra, ..ChainOptions::default() };
    let main = proxies[0].url.clone();
    let shop = shop_with_options(Kind::Sqlite, 2, anvil, main, &options).await.unwrap();
    (shop, proxies)
}

/// The provider `name` in the chain's `/healthz` entry.
fn provider<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["providers"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()
}

/// Polls `/healthz` until `done` holds of the chain's entry (30 s at most).
async fn until_health(shop: &Shop, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut health = Value::Null;
    for _ in 0..300 {
        health = shop.chain_health().await;
        if done(&health) {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never {what}: {health:#}");
}

/// Polls the invoice until it is settled, past the watcher's longest backoff.
async fn until_settled(shop: &Shop, invoice: &Value) {
    let id = invoice["id"].as_str().unwrap();
    for _ in 0..300 {
        if shop.get(id).await["status"] == "settled" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("invoice never settled: {:#} / {:#}", shop.get(id).await, shop.chain_health().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_provider_is_outvoted_and_its_invented_payment_never_credited() {
    let (shop, proxies) = shop_with_providers(3).await;
    let lied_to = shop.invoice("USDT", "5").await;
    let head = shop.anvil.rpc().block_number().await.unwrap();
    proxies[0].lie(shop.token.address, lied_to["address"].as_str().unwrap(), 5_000_000, head + 1);
    shop.mine(4).await;
    let health = until_health(&shop, "outvoted the liar", |h| {
        provider(h, "main")["demoted"].as_str().is_some_and(|why| why.contains("outvoted"))
            && h["cursor"].as_u64().is_some_and(|c| c >= head + 4)
    })
    .await;
    assert!(proxies[0].lies_told() > 0, "the liar was read from");
    assert!(provider(&health, "main")["disagreements"].as_u64().unwrap() >= 1, "{health:#}");
    assert_eq!(provider(&health, "p1")["reading"], true, "the next primary reads: {health:#}");
    // A real payment, read from p1 and confirmed by p2, settles.
    let paid = shop.invoice("USDT", "2").await;
    shop.pay(&paid, "USDT", 2_000_000).await;
    shop.mine(2).await;
    until_settled(&shop, &paid).await;
    let lied_to = shop.get(lied_to["id"].as_str().unwrap()).await;
    assert_eq!((&lied_to["status"], &lied_to["paid"]), (&Value::from("new"), &Value::from("0")), "{lied_to:#}");
    assert_eq!(shop.balance("USDT").await, "2000000", "only the payment made");
    shop.assert_books().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_honest_provider_a_lie_stalls_the_chain_and_credits_nothing() {
    let (shop, proxies) = shop_with_providers(2).await;
    let lied_to = shop.invoice("USDT", "5").await;
    let head = shop.anvil.rpc().block_number().await.unwrap();
    proxies[0].lie(shop.token.address, lied_to["address"].as_str().unwrap(), 5_000_000, head + 1);
    shop.mine(4).await;
    let health = until_health(&shop, "caught the lie", |h| {
        h["last_error"].as_str().is_some_and(|e| e.contains("disagree"))
            && provider(h, "main")["disagreements"].as_u64().is_some_and(|d| d >= 1)
    })
    .await;
    // Neither can be told the liar: the chain waits at the block before the lie.
    assert!(health["cursor"].as_u64().unwrap() <= head, "nothing read past the disputed block: {health:#}");
    assert_eq!(shop.balance("USDT").await, "0");
    // The lie stops: the chain moves on, and only the real payment counts.
    proxies[0].honest();
    let paid = shop.invoice("USDT", "2").await;
    shop.pay(&paid, "USDT", 2_000_000).await;
    shop.mine(2).await;
    until_settled(&shop, &paid).await;
    assert_eq!(shop.get(lied_to["id"].as_str().unwrap()).await["paid"], "0");
    assert_eq!(shop.balance("USDT").await, "2000000");
    shop.assert_books().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_or_dead_provider_is_passed_over_and_payments_settle_through_the_others() {
    let (shop, proxies) = shop_with_providers(3).await;
    // The main provider falls 20 blocks behind: it is passed over once a
    // look at the others' heads shows it.
    proxies[0].lag(20);
    shop.mine(25).await;
    let first = shop.invoice("USDT", "1").await;
    shop.pay(&first, "USDT", 1_000_000).await;
    shop.mine(2).await;
    until_settled(&shop, &first).await;
    let health = shop.chain_health().await;
    let why = provider(&health, "main")["demoted"].as_str().unwrap_or_default().to_owned();
    assert!(why.contains("lags"), "{health:#}");
    // Then p1 goes down: p2, the fallback, reads; main (caught up, still
    // passed over) confirms.
    proxies[0].lag(0);
    proxies[1].down();
    let second = shop.invoice("USDT", "3").await;
    shop.pay(&second, "USDT", 3_000_000).await;
    shop.mine(2).await;
    until_settled(&shop, &second).await;
    let health = shop.chain_health().await;
    assert_eq!(provider(&health, "p2")["reading"], true, "{health:#}");
    assert!(provider(&health, "p2")["calls"].as_u64().unwrap() > 0);
    assert_eq!(shop.balance("USDT").await, "4000000", "every payment once");
    shop.assert_books().await;
}
