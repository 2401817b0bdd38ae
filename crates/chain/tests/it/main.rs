//! The follower against a real anvil: transfers, reorganisations, catch-up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, U256};
use coffer_chain::{AddressFilter, ChainError, ChainHealth, ChainSpec, ChainUpdate, Follower, Transfer, UpdateKind};
use coffer_devnet::{ANVIL_CHAIN_ID, Anvil, AnvilOptions, TestToken, deploy_test_usdt};
use coffer_domain::{AssetId, AssetSymbol, ChainId};

struct Watch(HashSet<Address>);

impl AddressFilter for Watch {
    fn watches(&self, address: &Address) -> bool {
        self.0.contains(address)
    }
}

fn asset(symbol: &str) -> AssetId {
    AssetId { chain_id: ChainId(ANVIL_CHAIN_ID), symbol: AssetSymbol::from_str(symbol).unwrap() }
}

struct Chain {
    anvil: Anvil,
    token: TestToken,
    payer: Address,
}

async fn chain() -> Chain {
    let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
    let token = deploy_test_usdt(anvil.rpc()).await.unwrap();
    let payer = anvil.rpc().accounts().await.unwrap()[1];
    token.mint(anvil.rpc(), payer, U256::from(1_000_000_000u64)).await.unwrap();
    Chain { anvil, token, payer }
}

fn spec(chain: &Chain, url: String, window: u64) -> ChainSpec {
    ChainSpec {
        chain_id: ChainId(ANVIL_CHAIN_ID),
        rpc_url: url,
        ws_url: None,
        tokens: HashMap::from([(chain.token.address, asset("USDT"))]),
        token_decimals: HashMap::from([(chain.token.address, 6)]),
        native: Some(asset("ETH")),
        reorg_window: window,
        log_range: 10,
        start_block: None,
        poll_interval: Duration::from_millis(50),
        rpc_timeout: Duration::from_secs(5),
        internal_transfers: coffer_chain::InternalTransfers::Off,
        budget: coffer_chain::RequestBudget::default(),
        providers: Vec::new(),
        provider_lag: 8,
    }
}

/// Runs the follower until its tip reaches the node's head; returns every update.
async fn drain(follower: &mut Follower, watch: &Watch, chain: &Chain) -> Vec<ChainUpdate> {
    let head = chain.anvil.rpc().block_number().await.unwrap();
    let mut updates = Vec::new();
    while follower.tip().is_none_or(|tip| tip.number < head) {
        let update = tokio::time::timeout(Duration::from_secs(10), follower.next(watch)).await.unwrap().unwrap();
        follower.commit(&update);
        updates.push(update);
    }
    updates
}

fn transfers(updates: &[ChainUpdate]) -> Vec<Transfer> {
    updates.iter().flat_map(|u| u.transfers.clone()).collect()
}

/// The value of every transfer the updates carry, in order.
fn values(updates: &[ChainUpdate]) -> Vec<u64> {
    transfers(updates).iter().map(|t| t.value.to::<u64>()).collect()
}

/// The address the tests' shop is paid at, and a watch on it.
const SHOP: Address = Address::repeat_byte(0xa1);

fn shop_watch() -> Watch {
    Watch(HashSet::from([SHOP]))
}

/// `payments` token payments to the shop of 1, 2, … units, a block each;
/// returns the block of the first.
async fn paid_backlog(chain: &Chain, payments: u64) -> u64 {
    let rpc = chain.anvil.rpc();
    let start = rpc.block_number().await.unwrap() + 1;
    for units in 1..=payments {
        chain.token.transfer(rpc, chain.payer, SHOP, U256::from(units)).await.unwrap();
    }
    start
}

/// A follower over `url` from block `start`, its first update (the start
/// block alone) read and committed: its next `next()` reads a log range,
/// and the one after it ahead.
async fn past_the_start(chain: &Chain, url: String, start: u64, watch: &Watch) -> Follower {
    let mut spec = spec(chain, url, 4);
    spec.start_block = Some(start);
    let mut follower = Follower::new(spec, Vec::new(), Arc::default());
    let first = follower.next(watch).await.unwrap();
    follower.commit(&first);
    follower
}

/// Reads on to the head after `so_far`; every one of `payments` payments
/// (of 1, 2, … units) must have come exactly once, in order.
async fn assert_each_payment_once(
    mut so_far: Vec<ChainUpdate>,
    follower: &mut Follower,
    watch: &Watch,
    chain: &Chain,
    payments: u64,
) {
    so_far.extend(drain(follower, watch, chain).await);
    assert_eq!(values(&so_far), (1..=payments).collect::<Vec<_>>(), "every payment once, in order");
}

async fn reports_only_watched_transfers_of_value(url_of: fn(&Anvil) -> String, ws_heads: bool) {
    let chain = chain().await;
    let rpc = chain.anvil.rpc();
    let (a, b, c) = (Address::repeat_byte(0xa1), Address::repeat_byte(0xb2), Address::repeat_byte(0xc3));
    let watch = Watch(HashSet::from([a, b]));
    let mut spec = spec(&chain, url_of(&chain.anvil), 8);
    if ws_heads {
        spec.ws_url = Some(chain.anvil.ws_url());
    }
    let health = Arc::new(ChainHealth::default());
    let mut follower = Follower::new(spec, Vec::new(), health.clone());
    let first = follower.next(&watch).await.unwrap();
    assert_eq!((first.parent, first.blocks.len()), (None, 1), "a fresh start takes the head as its cursor");
    follower.commit(&first);

    chain.token.transfer(rpc, chain.payer, a, U256::from(5_000_000u64)).await.unwrap();
    let eth = rpc.send_eth(chain.payer, b, U256::from(10u64).pow(U256::from(18u64))).await.unwrap();
    rpc.wait_for_receipt(eth).await.unwrap();
    chain.token.transfer(rpc, chain.payer, c, U256::from(7u64)).await.unwrap();
    chain.token.transfer(rpc, chain.payer, a, U256::ZERO).await.unwrap();
    let seen = transfers(&drain(&mut follower, &watch, &chain).await);
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!((seen[0].asset, seen[0].to, seen[0].value), (asset("USDT"), a, U256::from(5_000_000u64)));
    assert!(seen[0].log_index.is_some());
    assert_eq!((seen[1].asset, seen[1].to, seen[1].tx_hash, seen[1].log_index), (asset("ETH"), b, eth, None));
    assert_eq!(seen[1].from, chain.payer);
    assert!(seen[0].block.number < seen[1].block.number);
    assert!(seen[0].block_time.as_millis() > 1_000_000_000_000, "block time in ms: {:?}", seen[0].block_time);
    let subscribed = url_of(&chain.anvil).starts_with("ws") || ws_heads;
    assert_eq!(health.snapshot().subscribed, subscribed, "new heads by subscription where a WebSocket is given");
}

#[tokio::test]
async fn over_http_only_watched_transfers_of_value_are_reported() {
    reports_only_watched_transfers_of_value(Anvil::http_url, false).await;
}

#[tokio::test]
async fn over_websocket_only_watched_transfers_of_value_are_reported() {
    reports_only_watched_transfers_of_value(Anvil::ws_url, false).await;
}

#[tokio::test]
async fn over_http_with_a_websocket_subscription_only_watched_transfers_of_value_are_reported() {
    reports_only_watched_transfers_of_value(Anvil::http_url, true).await;
}

#[tokio::test]
async fn a_reorganisation_un_sees_a_payment_and_a_re_mined_one_is_seen_once() {
    let chain = chain().await;
    let rpc = chain.anvil.rpc();
    let (shop, watch) = (SHOP, shop_watch());
    let mut follower = Follower::new(spec(&chain, chain.anvil.ws_url(), 8), Vec::new(), Arc::default());
    drain(&mut follower, &watch, &chain).await;

    let before = rpc.snapshot().await.unwrap();
    let paid_in = rpc.block_number().await.unwrap() + 1;
    let receipt = chain.token.transfer(rpc, chain.payer, shop, U256::from(42u64)).await.unwrap();
    let tx_hash = receipt["transactionHash"].as_str().unwrap().parse().unwrap();
    let raw = rpc.raw_transaction(tx_hash).await.unwrap();
    let seen = drain(&mut follower, &watch, &chain).await;
    assert_eq!(transfers(&seen).len(), 1);
    assert_eq!(seen[0].kind(), UpdateKind::Committed);

    // The payment's block is replaced by two empty blocks.
    rpc.revert(&before).await.unwrap();
    rpc.mine(2).await.unwrap();
    let reorged = drain(&mut follower, &watch, &chain).await;
    assert_eq!(reorged.len(), 1, "{reorged:#?}");
    assert_eq!(reorged[0].kind(), UpdateKind::Reorged);
    assert_eq!(reorged[0].reverted_above, Some(paid_in - 1));
    assert!(reorged[0].transfers.is_empty(), "the payment is gone");

    // The same transaction, mined again in another block: seen once, in its new block.
    rpc.mine(1).await.unwrap();
    drain(&mut follower, &watch, &chain).await;
    assert_eq!(rpc.send_raw(&raw).await.unwrap(), tx_hash, "the same signed transaction");
    rpc.wait_for_receipt(tx_hash).await.unwrap();
    let remined = transfers(&drain(&mut follower, &watch, &chain).await);
    assert_eq!(remined.len(), 1);
    assert_eq!((remined[0].tx_hash, remined[0].block.number), (tx_hash, paid_in + 3));

    // The node goes back (a replica behind, or a fork not yet longer): no
    // block at our tip is no proof of a reorganisation, so the follower waits.
    let snapshot = rpc.snapshot().await.unwrap();
    let fork = rpc.block_number().await.unwrap();
    rpc.mine(2).await.unwrap();
    drain(&mut follower, &watch, &chain).await;
    rpc.revert(&snapshot).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), follower.next(&watch)).await;
    assert!(waited.is_err(), "no update while the node is behind: {waited:?}");
    // A shorter fork: another block at a height we processed.
    rpc.mine(1).await.unwrap();
    let update = tokio::time::timeout(Duration::from_secs(10), follower.next(&watch)).await.unwrap().unwrap();
    assert_eq!(
        (update.kind(), update.reverted_above, update.tip().number),
        (UpdateKind::Reorged, Some(fork), fork + 1)
    );
}

#[tokio::test]
async fn a_backlog_is_read_in_log_ranges_then_the_window_in_one_segment() {
    let chain = chain().await;
    let watch = shop_watch();
    let start = paid_backlog(&chain, 30).await;
    let mut spec = spec(&chain, chain.anvil.http_url(), 4);
    spec.start_block = Some(start);
    spec.native = None; // tokens only: blocks are read without their transactions
    let mut follower = Follower::new(spec, Vec::new(), Arc::default());
    let updates = drain(&mut follower, &watch, &chain).await;
    assert_eq!(values(&updates), (1..=30).collect::<Vec<_>>(), "every payment once, in order");
    let jumps: Vec<u64> = updates.windows(2).map(|w| w[1].tip().number - w[0].tip().number).collect();
    assert!(jumps.contains(&10), "ranges of log_range blocks far from the head: {jumps:?}");
    assert!(*jumps.last().unwrap() <= 4, "the last window of blocks, parent by parent, in one update: {jumps:?}");
    assert!(updates.last().unwrap().blocks.len() == *jumps.last().unwrap() as usize, "each of them remembered");
}

#[tokio::test]
async fn a_range_not_persisted_is_read_again_not_skipped_for_the_one_read_ahead() {
    // While its caller persists a range, the follower reads the next one.
    // If the caller could not persist it (and so does not commit), the next
    // call must return the same range again, never the one read ahead.
    let chain = chain().await;
    let watch = shop_watch();
    let start = paid_backlog(&chain, 25).await;
    let mut follower = past_the_start(&chain, chain.anvil.http_url(), start, &watch).await;
    let range = follower.next(&watch).await.unwrap();
    let again = follower.next(&watch).await.unwrap();
    assert_eq!(again.blocks, range.blocks, "the same range, not the next");
    assert_eq!(again.transfers, range.transfers);
    follower.commit(&again);
    let next = follower.next(&watch).await.unwrap();
    assert_eq!(next.parent, Some(range.tip().block_ref()), "then on from where it was persisted");
    follower.commit(&next);
    assert_each_payment_once(vec![range, next], &mut follower, &watch, &chain, 25).await;
}

#[tokio::test]
async fn a_read_ahead_that_failed_is_read_again_not_reported() {
    // The node refuses the logs query of the range read ahead (a provider
    // limiting its rate, say) and answers again by the time it is needed:
    // the follower reads it afresh instead of failing on the old answer.
    let chain = chain().await;
    let watch = shop_watch();
    let start = paid_backlog(&chain, 25).await;
    let ranged = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let url = rpc_proxy(
        to_node(chain.anvil.http_url()),
        move |request, reply| {
            let is_range = request["method"] == "eth_getLogs" && request["params"][0].get("fromBlock").is_some();
            if is_range && ranged.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                return serde_json::json!({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32005, "message": "rate limited"}});
            }
            reply
        },
    )
    .await;
    let mut follower = past_the_start(&chain, url, start, &watch).await;
    let range = follower.next(&watch).await.unwrap(); // and the next one read ahead, refused
    follower.commit(&range);
    let next = follower.next(&watch).await.expect("read afresh, not the refusal read ahead");
    assert_eq!(next.parent, Some(range.tip().block_ref()));
    follower.commit(&next);
    assert_each_payment_once(vec![range, next], &mut follower, &watch, &chain, 25).await;
}

#[tokio::test]
async fn segments_of_many_batches_read_at_once_miss_nothing_at_their_seams() {
    // Headers come in batches of 100, several at a time: payments sit on
    // the blocks either side of each batch's edges, in a range and in the
    // window, as tokens and as ETH (whose blocks are read whole).
    let chain = chain().await;
    let rpc = chain.anvil.rpc();
    let (shop, watch) = (SHOP, shop_watch());
    let start = rpc.block_number().await.unwrap() + 1;
    let mut expected = Vec::new();
    for (i, offset) in [0u64, 99, 100, 199, 200, 201, 299, 300, 420, 499].into_iter().enumerate() {
        let next = rpc.block_number().await.unwrap() + 1;
        rpc.mine(start + offset - next).await.unwrap();
        let units = U256::from(i as u64 + 1);
        if i % 2 == 0 {
            chain.token.transfer(rpc, chain.payer, shop, units).await.unwrap();
        } else {
            let tx = rpc.send_eth(chain.payer, shop, units).await.unwrap();
            rpc.wait_for_receipt(tx).await.unwrap();
        }
        expected.push((start + offset, i as u64 + 1));
    }
    rpc.mine(20).await.unwrap();
    let mut spec = spec(&chain, chain.anvil.http_url(), 250);
    spec.start_block = Some(start);
    spec.log_range = 1000;
    let mut follower = Follower::new(spec, Vec::new(), Arc::default());
    let updates = drain(&mut follower, &watch, &chain).await;
    let seen: Vec<(u64, u64)> = transfers(&updates).iter().map(|t| (t.block.number, t.value.to::<u64>())).collect();
    assert_eq!(seen, expected, "every payment once, in its block");
    let spans: Vec<u64> = updates.windows(2).map(|w| w[1].tip().number - w[0].tip().number).collect();
    assert!(
        spans.iter().filter(|&&span| span > 200).count() >= 2,
        "a range and a window of several batches: {spans:?}"
    );
    let window = updates.last().unwrap();
    assert!(window.blocks.windows(2).all(|b| b[1].parent_hash == b[0].hash), "the window chained across its batches");
}

/// A JSON-RPC endpoint in front of real anvils, standing in for a load
/// balancer (none can run here): `route` picks the node for each request,
/// `rewrite` may change its answer as a replica would.
async fn rpc_proxy<R, W>(route: R, rewrite: W) -> String
where
    R: Fn(&serde_json::Value) -> String + Clone + Send + Sync + 'static,
    W: Fn(&serde_json::Value, serde_json::Value) -> serde_json::Value + Clone + Send + Sync + 'static,
{
    let client = reqwest::Client::new();
    let forward = move |body: axum::body::Bytes| {
        let (client, route, rewrite) = (client.clone(), route.clone(), rewrite.clone());
        async move {
            let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let reply = client.post(route(&request)).header("content-type", "application/json").body(body).send().await;
            let reply: serde_json::Value = reply.unwrap().json().await.unwrap();
            axum::Json(rewrite(&request, reply))
        }
    };
    let app = axum::Router::new().route("/", axum::routing::post(forward));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Every request to `url`: one node behind the proxy.
fn to_node(url: String) -> impl Fn(&serde_json::Value) -> String + Clone + Send + Sync + 'static {
    move |_| url.clone()
}

/// `eth_getLogs` from `logs`, everything else from `main`: replicas on different forks.
async fn split_rpc(main: String, logs: String) -> String {
    rpc_proxy(
        move |request| if request["method"] == "eth_getLogs" { logs.clone() } else { main.clone() },
        |_, reply| reply,
    )
    .await
}

#[tokio::test]
async fn a_range_answered_by_a_replica_behind_never_hides_a_payment() {
    // Range queries are answered by a replica whose head is `behind`: it
    // returns logs up to there, silently, as geth-like nodes do.
    let chain = chain().await;
    let watch = shop_watch();
    let start = paid_backlog(&chain, 12).await;
    chain.anvil.rpc().mine(10).await.unwrap();
    let behind = start + 5;
    let url = rpc_proxy(to_node(chain.anvil.http_url()), move |request, mut reply| {
        let ranged = request["method"] == "eth_getLogs" && request["params"][0].get("fromBlock").is_some();
        if let Some(logs) = reply.get_mut("result").and_then(|r| r.as_array_mut()).filter(|_| ranged) {
            logs.retain(|log| {
                u64::from_str_radix(log["blockNumber"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
                    <= behind
            });
        }
        reply
    })
    .await;
    let mut spec = spec(&chain, url, 4);
    spec.start_block = Some(start);
    spec.native = None;
    spec.log_range = 20;
    let mut follower = Follower::new(spec, Vec::new(), Arc::default());
    let updates = drain(&mut follower, &watch, &chain).await;
    assert_eq!(values(&updates), (1..=12).collect::<Vec<_>>(), "every payment once, in order");
}

#[tokio::test]
async fn logs_from_another_fork_never_hide_a_payment() {
    // Two nodes, the same token at the same address and height, then a
    // different block 3 on each: ours pays the shop, theirs pays someone else.
    let (ours, theirs) = (chain().await, chain().await);
    assert_eq!(ours.token.address, theirs.token.address);
    let (shop, watch) = (SHOP, shop_watch());
    let mut spec = spec(&ours, split_rpc(ours.anvil.http_url(), theirs.anvil.http_url()).await, 8);
    spec.native = None;
    spec.start_block = Some(ours.anvil.rpc().block_number().await.unwrap() + 1);
    let mut follower = Follower::new(spec, Vec::new(), Arc::default());
    let start = follower.next(&watch).await.unwrap();
    follower.commit(&start);
    ours.token.transfer(ours.anvil.rpc(), ours.payer, shop, U256::from(7u64)).await.unwrap();
    theirs
        .token
        .transfer(theirs.anvil.rpc(), theirs.payer, Address::repeat_byte(0xb2), U256::from(9u64))
        .await
        .unwrap();
    let paid_in = ours.anvil.rpc().block_number().await.unwrap();
    assert_eq!(theirs.anvil.rpc().block_number().await.unwrap(), paid_in, "the same height on both");

    // The blocks come from our node, the logs from theirs: the follower must
    // not move past our block 3 as if the logs had answered for it.
    match tokio::time::timeout(Duration::from_secs(10), follower.next(&watch)).await.unwrap() {
        Err(ChainError::Moved(reason)) => assert!(reason.contains(&format!("block {paid_in}")), "{reason}"),
        Ok(update) => {
            assert_eq!(transfers(&[update]).len(), 1, "a block moved past must bring its payment")
        }
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_node_of_another_chain_is_refused() {
    let chain = chain().await;
    let mut spec = spec(&chain, chain.anvil.http_url(), 8);
    spec.chain_id = ChainId(1);
    let mut follower = Follower::new(spec, Vec::new(), Arc::new(ChainHealth::default()));
    let err = follower.next(&Watch(HashSet::new())).await.unwrap_err();
    assert!(matches!(err, ChainError::WrongChain { actual: ANVIL_CHAIN_ID, .. }), "{err}");
    assert!(!err.is_passing());
}

#[tokio::test]
async fn an_unreachable_node_is_a_passing_error() {
    let chain = chain().await;
    let mut spec = spec(&chain, "http://127.0.0.1:9".into(), 8);
    spec.rpc_timeout = Duration::from_millis(500);
    let mut follower = Follower::new(spec, Vec::new(), Arc::default());
    let err = follower.next(&Watch(HashSet::new())).await.unwrap_err();
    assert!(matches!(err, ChainError::Unreachable(_)), "{err}");
    assert!(err.is_passing());
}
