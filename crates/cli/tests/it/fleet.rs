//! Three gateway processes on one PostgreSQL, invoices made on each: the
//! one holding the chain's lease is frozen with SIGSTOP while payments
//! arrive. Another takes the lease once it lapses and settles them; the
//! frozen one, resumed with SIGCONT, steps down and writes nothing. The new
//! holder is then killed with SIGKILL while catching up on 300 blocks, and
//! one of the other two takes over. Every payment counts once.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use coffer_devnet::{Anvil, AnvilOptions, deploy_test_usdt};
use coffer_store::testing::{Kind, TestDatabase};
use serde_json::{Value, json};

use crate::support::{Running, coffer, run_ok, shop_key, write_usdt_config};

/// The chain's lease as `base`'s `/healthz` shows it, and its chain state.
async fn lease_at(client: &reqwest::Client, base: &str) -> (Value, String, String) {
    let health: Value = client.get(format!("{base}/healthz")).send().await.unwrap().json().await.unwrap();
    let lease = health["leases"].as_array().unwrap().iter().find(|l| l["name"] == "chain:31337").cloned();
    let state = health["chains"][0]["state"].as_str().unwrap_or_default().to_owned();
    (lease.unwrap_or_default(), state, health["instance"].as_str().unwrap().to_owned())
}

async fn until(what: &str, within: Duration, mut done: impl AsyncFnMut() -> Option<Value>) -> Value {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = done().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signal(gateway: &Running, name: &str) {
    let status = std::process::Command::new("kill").args([name, &gateway.child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_frozen_leader_is_replaced_and_writes_nothing_when_it_wakes_and_a_killed_one_is_replaced() {
    let Some(db) = TestDatabase::new(Kind::Postgres).await else { return };
    let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
    let rpc = anvil.rpc();
    let token = deploy_test_usdt(rpc).await.unwrap();
    let payer = rpc.accounts().await.unwrap()[1];
    token.mint(rpc, payer, U256::from(1_000_000_000u64)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let top = format!("database_url = \"{}\"\nlease_secs = 3", db.url());
    let chain = "confirmations = 1\nunwatched_check_secs = 1";
    let config = write_usdt_config(dir.path(), &top, chain, &anvil.http_url(), token.address);
    let key = shop_key(&config);
    let client = reqwest::Client::new();

    let mut first = Running::spawn(coffer().args(["gateway", "--config"]).arg(&config));
    let first_base = first.wait_for_listen();
    let held = until("the first gateway taking the lease", Duration::from_secs(10), async || {
        let (lease, _, me) = lease_at(&client, &first_base).await;
        (lease["holder"] == me.as_str() && lease["mine"] == true).then_some(lease)
    })
    .await;
    let mut second = Running::spawn(coffer().args(["gateway", "--config"]).arg(&config));
    let second_base = second.wait_for_listen();
    until("the second gateway standing by", Duration::from_secs(10), async || {
        let (lease, state, me) = lease_at(&client, &second_base).await;
        (lease["holder"] != me.as_str() && state == "standby").then_some(lease)
    })
    .await;

    let mut third = Running::spawn(coffer().args(["gateway", "--config"]).arg(&config));
    let third_base = third.wait_for_listen();

    let pay = async |base: &str, units: u64| -> String {
        let created: Value = client
            .post(format!("{base}/v1/invoices"))
            .bearer_auth(&key)
            .json(&json!({"amount": (units / 1_000_000).to_string(), "asset": "USDT"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let to: Address = created["address"].as_str().unwrap().parse().unwrap();
        let tx = token.send_transfer(rpc, payer, to, U256::from(units)).await.unwrap();
        rpc.wait_for_receipt(tx).await.unwrap();
        created["id"].as_str().unwrap().to_owned()
    };
    let settled = async |base: &str, id: &str, within: Duration| -> Value {
        until(&format!("invoice {id} settling"), within, async || {
            let seen: Value = client
                .get(format!("{base}/v1/invoices/{id}"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (seen["status"] == "settled").then_some(seen)
        })
        .await
    };
    let before = pay(&first_base, 1_000_000).await;
    rpc.mine(1).await.unwrap();
    settled(&first_base, &before, Duration::from_secs(10)).await;

    // Frozen mid-work, as by a stalled VM: its lease lapses; payments keep coming.
    signal(&first, "-STOP");
    let frozen_at = Instant::now();
    let during = pay(&second_base, 2_000_000).await;
    rpc.mine(1).await.unwrap();
    let taken = until("the takeover", Duration::from_secs(10), async || {
        let (lease, _, me) = lease_at(&client, &second_base).await;
        (lease["holder"] == me.as_str() && lease["mine"] == true).then_some(lease)
    })
    .await;
    let takeover = frozen_at.elapsed();
    assert_eq!(taken["epoch"].as_i64().unwrap(), held["epoch"].as_i64().unwrap() + 1, "{taken}");
    settled(&second_base, &during, Duration::from_secs(10)).await;
    eprintln!("takeover {} ms after SIGSTOP (lease_secs = 3)", takeover.as_millis());

    // Woken, the old leader finds the lease moved on and stands by.
    signal(&first, "-CONT");
    until("the old leader standing by", Duration::from_secs(10), async || {
        let (lease, state, me) = lease_at(&client, &first_base).await;
        (lease["holder"] != me.as_str() && state == "standby").then_some(lease)
    })
    .await;
    let after = pay(&first_base, 3_000_000).await;
    rpc.mine(1).await.unwrap();
    settled(&first_base, &after, Duration::from_secs(10)).await;

    // Killed outright while catching up on a backlog of blocks: one of the
    // other two takes over and nothing it had read is lost or booked twice.
    let killed = pay(&third_base, 4_000_000).await;
    rpc.mine(300).await.unwrap();
    signal(&second, "-KILL");
    let killed_at = Instant::now();
    assert!(!second.child.wait().unwrap().success());
    let retaken = until("the takeover after SIGKILL", Duration::from_secs(10), async || {
        let (lease, _, _) = lease_at(&client, &third_base).await;
        (lease["epoch"].as_i64() == Some(taken["epoch"].as_i64().unwrap() + 1)).then_some(lease)
    })
    .await;
    eprintln!("takeover {} ms after SIGKILL (lease_secs = 3)", killed_at.elapsed().as_millis());
    settled(&third_base, &killed, Duration::from_secs(15)).await;

    for id in [&before, &during, &after, &killed] {
        let seen = settled(&first_base, id, Duration::from_secs(1)).await;
        assert_eq!(seen["payments"].as_array().unwrap().len(), 1, "{seen:#}");
    }
    let balances: Value =
        client.get(format!("{third_base}/v1/balances")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
    assert_eq!(balances["data"][0]["available_units"], "10000000", "every payment once: {balances}");
    let fleet = run_ok(coffer().args(["fleet", "--config"]).arg(&config));
    let holder = retaken["holder"].as_str().unwrap();
    assert!(fleet.contains(&format!("chain:31337  holder {holder}")), "{fleet}");
    assert!(fleet.contains(&format!("epoch {}", retaken["epoch"])), "{fleet}");
    let ledger = run_ok(coffer().args(["ledger", "check", "--config"]).arg(&config));
    assert!(ledger.contains("ledger ok"), "{ledger}");
    assert!(first.terminate().success());
    assert!(third.terminate().success());
}
