//! Three gateway processes on one PostgreSQL, invoices made on each: the
//! one holding the chain's lease is frozen with SIGSTOP while payments
//! arrive. Another takes the lease once it lapses and settles them; the
//! frozen one, resumed with SIGCONT, steps down and writes nothing. The new
//! holder is then killed with SIGKILL while catching up on 300 blocks, and
//! one of the other two takes over. Every payment counts once. And a
//! holder whose database connection is cut (a partition: nothing passes,
//! nothing closes) stops its work before its lease could pass to another.

#![allow(clippy::unwrap_used)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use coffer_devnet::{Anvil, AnvilOptions, Rpc, TcpProxy, TestToken, deploy_test_usdt};
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

/// A chain with a USDT, a funded payer, and a shop's configuration on
/// PostgreSQL with 3 s leases.
struct Fleet {
    db: TestDatabase,
    anvil: Anvil,
    token: TestToken,
    payer: Address,
    dir: tempfile::TempDir,
    config: PathBuf,
    key: String,
    client: reqwest::Client,
}

impl Fleet {
    async fn new() -> Option<Self> {
        let db = TestDatabase::new(Kind::Postgres).await?;
        let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
        let token = deploy_test_usdt(anvil.rpc()).await.unwrap();
        let payer = anvil.rpc().accounts().await.unwrap()[1];
        token.mint(anvil.rpc(), payer, U256::from(1_000_000_000u64)).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let top = format!("database_url = \"{}\"\nlease_secs = 3", db.url());
        let chain = "confirmations = 1\nunwatched_check_secs = 1";
        let config = write_usdt_config(dir.path(), &top, chain, &anvil.http_url(), token.address);
        let key = shop_key(&config);
        Some(Self { db, anvil, token, payer, dir, config, key, client: reqwest::Client::new() })
    }

    fn rpc(&self) -> &Rpc {
        self.anvil.rpc()
    }

    fn gateway(&self, config: &Path) -> (Running, String) {
        let mut gateway = Running::spawn(coffer().args(["gateway", "--config"]).arg(config));
        let base = gateway.wait_for_listen();
        (gateway, base)
    }

    /// Waits until the gateway at `base` holds the chain's lease.
    async fn holding(&self, base: &str, what: &str) -> Value {
        until(what, Duration::from_secs(10), async || {
            let (lease, _, me) = lease_at(&self.client, base).await;
            (lease["holder"] == me.as_str() && lease["mine"] == true).then_some(lease)
        })
        .await
    }

    /// Waits until the gateway at `base` stands by.
    async fn standing_by(&self, base: &str, what: &str) {
        until(what, Duration::from_secs(10), async || {
            let (lease, state, me) = lease_at(&self.client, base).await;
            (lease["holder"] != me.as_str() && state == "standby").then_some(lease)
        })
        .await;
    }

    /// An invoice made at `base`, paid `units` on chain; its id.
    async fn pay(&self, base: &str, units: u64) -> String {
        let created: Value = self
            .client
            .post(format!("{base}/v1/invoices"))
            .bearer_auth(&self.key)
            .json(&json!({"amount": (units / 1_000_000).to_string(), "asset": "USDT"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let to: Address = created["address"].as_str().unwrap().parse().unwrap();
        let tx = self.token.send_transfer(self.rpc(), self.payer, to, U256::from(units)).await.unwrap();
        self.rpc().wait_for_receipt(tx).await.unwrap();
        created["id"].as_str().unwrap().to_owned()
    }

    /// `path` at `base`, as the shop.
    async fn get(&self, base: &str, path: &str) -> Value {
        let answer = self.client.get(format!("{base}{path}")).bearer_auth(&self.key).send().await.unwrap();
        answer.json().await.unwrap()
    }

    async fn settled(&self, base: &str, id: &str, within: Duration) -> Value {
        until(&format!("invoice {id} settling"), within, async || {
            let seen = self.get(base, &format!("/v1/invoices/{id}")).await;
            (seen["status"] == "settled").then_some(seen)
        })
        .await
    }

    /// Each invoice paid once, `total` in all, and the books balance.
    async fn assert_once(&self, base: &str, ids: &[&String], total: &str) {
        for id in ids {
            let seen = self.settled(base, id, Duration::from_secs(1)).await;
            assert_eq!(seen["payments"].as_array().unwrap().len(), 1, "{seen:#}");
        }
        let balances = self.get(base, "/v1/balances").await;
        assert_eq!(balances["data"][0]["available_units"], total, "every payment once: {balances}");
        let ledger = run_ok(coffer().args(["ledger", "check", "--config"]).arg(&self.config));
        assert!(ledger.contains("ledger ok"), "{ledger}");
    }
}

#[tokio::test]
async fn a_frozen_leader_is_replaced_and_writes_nothing_when_it_wakes_and_a_killed_one_is_replaced() {
    let Some(fleet) = Fleet::new().await else { return };
    let (first, first_base) = fleet.gateway(&fleet.config);
    let held = fleet.holding(&first_base, "the first gateway taking the lease").await;
    let (mut second, second_base) = fleet.gateway(&fleet.config);
    fleet.standing_by(&second_base, "the second gateway standing by").await;
    let (mut third, third_base) = fleet.gateway(&fleet.config);

    let before = fleet.pay(&first_base, 1_000_000).await;
    fleet.rpc().mine(1).await.unwrap();
    fleet.settled(&first_base, &before, Duration::from_secs(10)).await;

    // Frozen mid-work, as by a stalled VM: its lease lapses; payments keep coming.
    signal(&first, "-STOP");
    let frozen_at = Instant::now();
    let during = fleet.pay(&second_base, 2_000_000).await;
    fleet.rpc().mine(1).await.unwrap();
    let taken = fleet.holding(&second_base, "the takeover").await;
    let takeover = frozen_at.elapsed();
    assert_eq!(taken["epoch"].as_i64().unwrap(), held["epoch"].as_i64().unwrap() + 1, "{taken}");
    fleet.settled(&second_base, &during, Duration::from_secs(10)).await;
    eprintln!("takeover {} ms after SIGSTOP (lease_secs = 3)", takeover.as_millis());

    // Woken, the old leader finds the lease moved on and stands by.
    signal(&first, "-CONT");
    fleet.standing_by(&first_base, "the old leader standing by").await;
    let after = fleet.pay(&first_base, 3_000_000).await;
    fleet.rpc().mine(1).await.unwrap();
    fleet.settled(&first_base, &after, Duration::from_secs(10)).await;

    // Killed outright while catching up on a backlog of blocks: one of the
    // other two takes over and nothing it had read is lost or booked twice.
    let killed = fleet.pay(&third_base, 4_000_000).await;
    fleet.rpc().mine(300).await.unwrap();
    signal(&second, "-KILL");
    let killed_at = Instant::now();
    assert!(!second.child.wait().unwrap().success());
    let retaken = until("the takeover after SIGKILL", Duration::from_secs(10), async || {
        let (lease, _, _) = lease_at(&fleet.client, &third_base).await;
        (lease["epoch"].as_i64() == Some(taken["epoch"].as_i64().unwrap() + 1)).then_some(lease)
    })
    .await;
    eprintln!("takeover {} ms after SIGKILL (lease_secs = 3)", killed_at.elapsed().as_millis());
    fleet.settled(&third_base, &killed, Duration::from_secs(15)).await;

    fleet.assert_once(&first_base, &[&before, &during, &after, &killed], "10000000").await;
    let shown = run_ok(coffer().args(["fleet", "--config"]).arg(&fleet.config));
    let holder = retaken["holder"].as_str().unwrap();
    assert!(shown.contains(&format!("chain:31337  holder {holder}")), "{shown}");
    assert!(shown.contains(&format!("epoch {}", retaken["epoch"])), "{shown}");
    let mut first = first;
    assert!(first.terminate().success());
    assert!(third.terminate().success());
}

/// Lines of a gateway's stderr as they come, each with when it came.
fn log_lines(gateway: &mut Running) -> Arc<Mutex<Vec<(Instant, String)>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stderr = gateway.child.stderr.take().unwrap();
    let kept = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            kept.lock().unwrap().push((Instant::now(), line));
        }
    });
    lines
}

// Two workers: the proxy's tasks go on while the test blocks on a child's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_its_database_stops_before_its_lease_can_pass_and_nothing_counts_twice() {
    let Some(fleet) = Fleet::new().await else { return };
    // The leader reaches PostgreSQL through a proxy; the others directly.
    let url = fleet.db.url();
    let port: u16 = url.split("@127.0.0.1:").nth(1).and_then(|rest| rest.split('/').next()).unwrap().parse().unwrap();
    let proxy = TcpProxy::start(port).await.unwrap();
    let text = std::fs::read_to_string(&fleet.config).unwrap();
    let leader_config = fleet.dir.path().join("leader.toml");
    std::fs::write(&leader_config, text.replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{}", proxy.port)))
        .unwrap();
    let (mut first, first_base) = fleet.gateway(&leader_config);
    let first_log = log_lines(&mut first);
    let held = fleet.holding(&first_base, "the leader taking the lease").await;
    let (_second, second_base) = fleet.gateway(&fleet.config);
    let (_third, third_base) = fleet.gateway(&fleet.config);
    fleet.standing_by(&second_base, "the second gateway standing by").await;
    let before = fleet.pay(&first_base, 1_000_000).await;
    fleet.rpc().mine(1).await.unwrap();
    fleet.settled(&first_base, &before, Duration::from_secs(10)).await;

    // Partitioned from the database mid-work; payments keep coming.
    proxy.partition();
    let cut_at = Instant::now();
    let during = fleet.pay(&second_base, 2_000_000).await;
    fleet.rpc().mine(1).await.unwrap();
    let taken = until("the takeover", Duration::from_secs(10), async || {
        for base in [&second_base, &third_base] {
            let (lease, _, me) = lease_at(&fleet.client, base).await;
            if lease["holder"] == me.as_str() && lease["mine"] == true {
                return Some(lease);
            }
        }
        None
    })
    .await;
    let taken_at = Instant::now();
    assert_eq!(taken["epoch"].as_i64().unwrap(), held["epoch"].as_i64().unwrap() + 1, "{taken}");
    let log = first_log.lock().unwrap().clone();
    let stepped_down = log
        .iter()
        .find(|(_, line)| line.contains("stepped down: the job has stopped"))
        .map(|(at, _)| *at)
        .unwrap_or_else(|| panic!("the cut-off leader's job had not stopped when another took over: {log:#?}"));
    eprintln!(
        "cut-off leader's job stopped {} ms after the cut; takeover seen {} ms after (lease_secs = 3)",
        (stepped_down - cut_at).as_millis(),
        (taken_at - cut_at).as_millis()
    );
    assert!(stepped_down < taken_at, "the cut-off leader stopped only after another held its lease");
    assert!(stepped_down - cut_at < Duration::from_secs(3), "it stopped later than its lease could last");
    fleet.settled(&second_base, &during, Duration::from_secs(10)).await;

    // Reconnected, it finds the lease moved on and stands by.
    proxy.up();
    fleet.standing_by(&first_base, "the cut-off leader standing by").await;
    let after = fleet.pay(&first_base, 3_000_000).await;
    fleet.rpc().mine(1).await.unwrap();
    fleet.settled(&first_base, &after, Duration::from_secs(10)).await;
    fleet.assert_once(&first_base, &[&before, &during, &after], "6000000").await;
    assert!(first.terminate().success());
}
