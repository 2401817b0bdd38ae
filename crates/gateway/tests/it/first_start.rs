//! A fresh database whose node cannot be reached at first: invoices are
//! created meanwhile, and a payment made before the node answers is still
//! seen, because the first cursor is put before the first invoice.

#![allow(clippy::unwrap_used)]

use coffer_store::on_both_backends;
use coffer_store::testing::Kind;

use crate::shop::{ChainOptions, unfollowed_shop};
use coffer_devnet::TcpProxy;

on_both_backends!(a_payment_made_while_the_node_was_unreachable_at_first_start_is_credited);

async fn a_payment_made_while_the_node_was_unreachable_at_first_start_is_credited(kind: Kind) {
    let anvil = coffer_devnet::Anvil::spawn(coffer_devnet::AnvilOptions::default()).await.unwrap();
    let proxy = TcpProxy::start(anvil.port()).await.unwrap();
    proxy.cut();
    let url = format!("ws://127.0.0.1:{}", proxy.port);
    let Some(shop) = unfollowed_shop(kind, 2, anvil, url, &ChainOptions::default()).await else { return };
    assert!(shop.chain_health().await["cursor"].is_null(), "no cursor: the node was never reached");

    let invoice = shop.invoice("ETH", "1").await;
    let id = invoice["id"].as_str().unwrap();
    shop.pay(&invoice, "ETH", 1_000_000_000_000_000_000).await;
    shop.mine(2).await;

    proxy.up();
    let settled = shop.until_status(id, "settled").await;
    assert_eq!(settled["paid_units"], "1000000000000000000");
    assert_eq!(shop.balance("ETH").await, "1000000000000000000");
    shop.assert_books().await;
}
