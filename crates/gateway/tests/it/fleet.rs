//! Several gateways on one PostgreSQL: invoices created on one are matched
//! by the watcher of another without its reads being thrown away, so the
//! shared cursor keeps moving however fast invoices come.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use coffer_store::testing::{Kind, TestDatabase};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with};
use crate::rpc_proxy::{Limits, RpcProxy};
use crate::shop::{ChainOptions, shop_with_options};

/// Creates invoices on `app` until `stop`, one every `every`.
fn create_until(app: &TestApp, stop: Arc<AtomicBool>, every: Duration) -> tokio::task::JoinHandle<usize> {
    let (client, url, key) = (app.client.clone(), app.url("/v1/invoices"), app.key.clone());
    tokio::spawn(async move {
        let mut created = 0;
        while !stop.load(Ordering::SeqCst) {
            let answer =
                client.post(&url).bearer_auth(&key).json(&json!({"amount": "1", "asset": "USDT"})).send().await;
            if answer.is_ok_and(|a| a.status() == 201) {
                created += 1;
            }
            tokio::time::sleep(every).await;
        }
        created
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_under_invoice_load_keep_the_shared_cursor_moving() {
    let anvil = coffer_devnet::Anvil::spawn(coffer_devnet::AnvilOptions::default()).await.unwrap();
    // A provider 50 ms away: a chain step takes a few round trips, and
    // invoices keep arriving on both gateways meanwhile.
    let proxy =
        RpcProxy::start(anvil.http_url(), Limits { latency: Duration::from_millis(50), ..Limits::default() }).await;
    let options = ChainOptions { http_only: true, ..ChainOptions::default() };
    let Some(shop) = shop_with_options(Kind::Postgres, 2, anvil, proxy.url.clone(), &options).await else { return };
    let db: Arc<TestDatabase> = shop.app.db.clone();
    let config = crate::shop::shop_config_with(&db, &proxy.url, shop.token.address, 2, &options);
    let other = spawn_app_with(db, &config).await;

    let stop = Arc::new(AtomicBool::new(false));
    let load = [
        create_until(&shop.app, stop.clone(), Duration::from_millis(40)),
        create_until(&other, stop.clone(), Duration::from_millis(40)),
    ];
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Blocks come while invoices do; one invoice from each gateway is paid.
    let mine = shop.invoice("USDT", "1").await;
    let theirs: serde_json::Value = other.create_ok(json!({"amount": "1", "asset": "USDT"})).await;
    shop.mine(5).await;
    shop.pay(&mine, "USDT", 1_000_000).await;
    shop.pay(&theirs, "USDT", 1_000_000).await;
    shop.mine(5).await;
    let head = shop.anvil.rpc().block_number().await.unwrap();
    let mut cursor = 0;
    for _ in 0..1000 {
        cursor = shop.app.store.chain_cursor(coffer_domain::ChainId(31337)).await.unwrap().map_or(0, |c| c.number);
        if cursor >= head {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(cursor >= head, "the shared cursor stalled at {cursor} below the head {head} under invoice load");
    shop.until_status(mine["id"].as_str().unwrap(), "settled").await;
    let settled = other.get_as(&other.key, &format!("/v1/invoices/{}", theirs["id"].as_str().unwrap())).await;
    let settled: serde_json::Value = settled.json().await.unwrap();
    assert_eq!(settled["status"], "settled", "{settled}");
    stop.store(true, Ordering::SeqCst);
    let created: usize = futures_util::future::join_all(load).await.into_iter().map(Result::unwrap).sum();
    assert!(created > 20, "invoices kept coming while the chain moved: {created}");
    shop.assert_books().await;
}

/// `/healthz` of `app`: its instance name and the chain's lease as the database holds it.
async fn lease_seen_by(app: &TestApp) -> (String, serde_json::Value, String) {
    let health: serde_json::Value = app.client.get(app.url("/healthz")).send().await.unwrap().json().await.unwrap();
    let lease = health["leases"].as_array().unwrap().iter().find(|l| l["name"] == "chain:31337").cloned();
    let state = health["chains"][0]["state"].as_str().unwrap_or_default().to_owned();
    (health["instance"].as_str().unwrap().to_owned(), lease.unwrap_or_default(), state)
}

/// Polls `app`'s `/healthz` until `done` holds (15 s at most): the lease's
/// standby poll runs every third of `lease_secs` (10 s by default).
async fn until_lease(
    app: &TestApp,
    what: &str,
    done: impl Fn(&str, &serde_json::Value, &str) -> bool,
) -> serde_json::Value {
    let mut last = Default::default();
    for _ in 0..300 {
        let (instance, lease, state) = lease_seen_by(app).await;
        if done(&instance, &lease, &state) {
            return lease;
        }
        last = (instance, lease, state);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never happened: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gateway_holds_the_chain_lease_and_another_takes_over_when_it_stops() {
    let anvil = coffer_devnet::Anvil::spawn(coffer_devnet::AnvilOptions::default()).await.unwrap();
    let url = anvil.http_url();
    let options = ChainOptions::default();
    let Some(mut shop) = shop_with_options(Kind::Postgres, 1, anvil, url.clone(), &options).await else { return };
    let first = until_lease(&shop.app, "the first gateway taking the lease", |me, lease, _| {
        lease["holder"] == me && lease["mine"] == true
    })
    .await;
    let config = crate::shop::shop_config_with(&shop.app.db, &url, shop.token.address, 1, &options);
    let second = spawn_app_with(shop.app.db.clone(), &config).await;
    until_lease(&second, "the second gateway standing by", |me, lease, state| {
        lease["holder"] != me && lease["mine"] == false && state == "standby"
    })
    .await;

    // The holder follows the chain.
    let paid = shop.invoice("USDT", "1").await;
    shop.pay(&paid, "USDT", 1_000_000).await;
    shop.mine(1).await;
    shop.until_status(paid["id"].as_str().unwrap(), "settled").await;
    // The other heard of it through the database: a checkout page open on
    // it updates at once, not at its next recheck.
    let heard = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("coffer_chain_changes_heard_total{chain_id=\"31337\"} "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let metrics = second.client.get(second.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(heard(&metrics) > 0, "the standby heard nothing of the holder's steps: {metrics}");

    // It stops (a deploy): it gives the lease back, and the other takes it
    // at the next epoch without waiting for the lease to lapse.
    let leader = std::mem::replace(&mut shop.app, second);
    leader.stop().await;
    let next =
        until_lease(&shop.app, "the takeover", |me, lease, _| lease["holder"] == me && lease["mine"] == true).await;
    assert_eq!(next["epoch"].as_i64().unwrap(), first["epoch"].as_i64().unwrap() + 1, "{next}");
    let later = shop.invoice("USDT", "2").await;
    shop.pay(&later, "USDT", 2_000_000).await;
    shop.mine(1).await;
    shop.until_status(later["id"].as_str().unwrap(), "settled").await;
    shop.assert_books().await;
}
