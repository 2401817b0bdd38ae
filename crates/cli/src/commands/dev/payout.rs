//! `coffer dev payout --amount X --to ADDRESS [--asset USDT]`: the demo
//! merchant asks for a payout through the gateway's API, as a shop would;
//! the gateway reserves the balance and hands it to the signer, which
//! decides by its own policy. This command follows it until it is done.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::DevInfo;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// How much, in the asset's unit (`5`, `0.25`).
    #[arg(long)]
    amount: String,
    /// Where to (a 0x address).
    #[arg(long)]
    to: String,
    /// Which asset.
    #[arg(long, default_value = "USDT")]
    asset: String,
    /// Seconds to follow the payout before leaving it to the gateway.
    #[arg(long, default_value_t = 60)]
    wait: u64,
}

const FINAL: [&str; 3] = ["confirmed", "refused", "failed"];

pub(crate) async fn run(dir: &Path, args: Args) -> anyhow::Result<()> {
    let info = DevInfo::read(dir)?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let mut key = [0u8; 16];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness for the idempotency key: {e}"))?;
    let body = json!({ "amount": args.amount, "asset": args.asset, "destination": args.to });
    let response = client
        .post(format!("{}/v1/payouts", info.gateway_url))
        .bearer_auth(&info.api_key)
        .header("Idempotency-Key", hex(&key))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("asking the dev gateway at {} (is `coffer dev` running?)", info.gateway_url))?;
    let status = response.status();
    let mut payout: Value = response.json().await.context("the gateway's answer is not JSON")?;
    if !status.is_success() {
        bail!(
            "the gateway refused the payout ({status}, {}): {}",
            payout["error"]["code"].as_str().unwrap_or("?"),
            payout["error"]["message"].as_str().unwrap_or("?")
        );
    }
    let id = payout["id"].as_str().unwrap_or_default().to_owned();
    println!(
        "payout {id}: {} {} to {}, {}",
        args.amount,
        args.asset,
        args.to,
        payout["status"].as_str().unwrap_or("?")
    );
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    let mut last = payout["status"].as_str().unwrap_or_default().to_owned();
    while !FINAL.contains(&last.as_str()) {
        if Instant::now() > deadline {
            println!("payout {id} is still {last}; `GET /v1/payouts/{id}` follows it");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        payout = client
            .get(format!("{}/v1/payouts/{id}", info.gateway_url))
            .bearer_auth(&info.api_key)
            .send()
            .await?
            .json()
            .await?;
        let now = payout["status"].as_str().unwrap_or_default().to_owned();
        if now != last {
            println!("payout {id}: {now}");
            last = now;
        }
    }
    match last.as_str() {
        "confirmed" => println!(
            "payout {id} confirmed: tx {}, network fee {} {}",
            payout["tx_hash"].as_str().unwrap_or("?"),
            payout["network_fee"].as_str().unwrap_or("?"),
            payout["fee_asset"].as_str().unwrap_or("")
        ),
        "refused" => println!(
            "payout {id} refused by the signer's policy: {} ({})",
            payout["refusal"]["rule"].as_str().unwrap_or("?"),
            payout["refusal"]["message"].as_str().unwrap_or("?")
        ),
        _ => println!("payout {id} failed: {}", payout["failure_reason"].as_str().unwrap_or("?")),
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
