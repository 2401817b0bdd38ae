//! A provider that caps `eth_getLogs` (by blocks, or by results) must not
//! stop the chain: every query spans at most `log_range` blocks, near the
//! head too, and a refusal for size is followed by smaller ranges. One
//! that answers 429 is asked again only after the wait it named.

#![allow(clippy::unwrap_used)]

use coffer_store::on_both_backends;
use coffer_store::testing::Kind;

use crate::rpc_proxy::{Limits, RpcProxy};
use crate::shop::{ChainOptions, Shop, shop_with_options};

on_both_backends!(
    near_the_head_no_log_query_spans_more_than_log_range,
    a_provider_that_caps_results_is_read_in_smaller_ranges_and_every_payment_is_seen,
    a_provider_that_answers_429_is_asked_again_only_after_its_retry_after,
);

/// A shop whose node sits behind a provider with `limits`, polled over HTTP.
async fn shop_behind(kind: Kind, limits: Limits, extra: &str) -> Option<(Shop, RpcProxy)> {
    let anvil = coffer_devnet::Anvil::spawn(coffer_devnet::AnvilOptions::default()).await.unwrap();
    let proxy = RpcProxy::start(anvil.http_url(), limits).await;
    let options = ChainOptions { http_only: true, extra: extra.into(), ..ChainOptions::default() };
    let shop = shop_with_options(kind, 2, anvil, proxy.url.clone(), &options).await?;
    Some((shop, proxy))
}

async fn near_the_head_no_log_query_spans_more_than_log_range(kind: Kind) {
    let limits = Limits { max_log_blocks: Some(8), ..Limits::default() };
    let Some((shop, proxy)) = shop_behind(kind, limits, "log_range = 8").await else { return };
    let invoice = shop.invoice("USDT", "2").await;
    // The gateway falls 21 blocks behind: within the reorg window, so it
    // reads them block by block, not as a deep range.
    proxy.down();
    shop.mine(10).await;
    shop.pay(&invoice, "USDT", 2_000_000).await;
    shop.mine(10).await;
    proxy.up();
    shop.until_status(invoice["id"].as_str().unwrap(), "settled").await;
    assert!(proxy.widest() <= 8, "a log query spanned {} blocks", proxy.widest());
    assert!(proxy.refused().is_empty(), "nothing had to be refused: {:?}", proxy.refused());
    shop.assert_books().await;
}

async fn a_provider_that_caps_results_is_read_in_smaller_ranges_and_every_payment_is_seen(kind: Kind) {
    let limits = Limits { max_log_results: Some(2), ..Limits::default() };
    let Some((shop, proxy)) = shop_behind(kind, limits, "").await else { return };
    let mut invoices = Vec::new();
    for _ in 0..6 {
        invoices.push(shop.invoice("USDT", "1").await);
    }
    // Six payments in six blocks, read in one go once the provider is back.
    proxy.down();
    for invoice in &invoices {
        shop.pay(invoice, "USDT", 1_000_000).await;
    }
    shop.mine(2).await;
    proxy.up();
    for invoice in &invoices {
        shop.until_status(invoice["id"].as_str().unwrap(), "settled").await;
    }
    assert!(!proxy.refused().is_empty(), "the provider refused the first range for its size");
    assert_eq!(shop.balance("USDT").await, "6000000", "every payment once");
    shop.assert_books().await;
}

async fn a_provider_that_answers_429_is_asked_again_only_after_its_retry_after(kind: Kind) {
    let limits = Limits { throttle_every: Some(5), ..Limits::default() };
    let Some((shop, proxy)) = shop_behind(kind, limits, "").await else { return };
    let invoices = [shop.invoice("USDT", "1").await, shop.invoice("USDT", "2").await];
    for (invoice, units) in invoices.iter().zip([1_000_000, 2_000_000]) {
        shop.pay(invoice, "USDT", units).await;
    }
    shop.mine(2).await;
    for invoice in &invoices {
        shop.until_status(invoice["id"].as_str().unwrap(), "settled").await;
    }
    let (sent, gaps) = proxy.throttled();
    assert!(sent >= 2 && !gaps.is_empty(), "the provider throttled {sent} requests, {} came back", gaps.len());
    // Timed at the proxy: each came back no sooner than `Retry-After: 1` said.
    assert!(gaps.iter().all(|gap| *gap >= std::time::Duration::from_millis(990)), "{gaps:?}");
    shop.assert_books().await;
}
