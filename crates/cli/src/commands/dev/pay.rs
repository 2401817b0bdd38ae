//! `coffer dev pay INVOICE [--amount X]`: pays an invoice on the dev chain
//! from anvil's second dev account, in the invoice's asset (ETH, or the test
//! USDT, minted to the payer as needed). anvil signs: no key here. With
//! `--from ADDRESS` it pays from any address (anvil impersonates it and
//! funds its gas): a sanctioned sender shows how screening holds a deposit.

use std::path::Path;
use std::time::Duration;

use alloy_primitives::{Address, U256};
use anyhow::{Context as _, anyhow, bail};
use coffer_devnet::{Rpc, TestToken};
use serde_json::Value;

use super::DevInfo;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The invoice to pay (`inv_…`).
    invoice: String,
    /// How much, in the invoice's asset (`12.5`); default: what is still due.
    #[arg(long)]
    amount: Option<String>,
    /// Pay from this address instead of a dev account (anvil impersonates it).
    #[arg(long, value_name = "ADDRESS")]
    from: Option<Address>,
}

pub(crate) async fn run(dir: &Path, args: Args) -> anyhow::Result<()> {
    let info = DevInfo::read(dir)?;
    let config = coffer_config::Config::load(Some(&info.config)).context("the dev configuration")?;
    let paid = pay(&info, &config, &args.invoice, args.amount.as_deref(), args.from, false).await?;
    println!(
        "paid {} {} from {} to {} in transaction {} (block {}); the invoice settles after {} confirmations:\n  \
         curl -s {}/v1/invoices/{} -H 'Authorization: Bearer {}'",
        paid.amount,
        paid.symbol,
        paid.payer,
        paid.to,
        paid.tx,
        paid.block.map_or("?".to_owned(), |b| b.to_string()),
        config.chains.iter().find(|c| c.chain_id == paid.chain_id).map_or(0, |c| c.confirmations),
        info.gateway_url,
        args.invoice,
        info.api_key,
    );
    Ok(())
}

/// A payment made on the dev chain.
pub(crate) struct Paid {
    pub(crate) amount: String,
    pub(crate) symbol: String,
    pub(crate) chain_id: u64,
    pub(crate) payer: Address,
    pub(crate) to: Address,
    pub(crate) tx: alloy_primitives::B256,
    pub(crate) block: Option<u64>,
}

/// Pays `invoice` (what is still due, or `amount`) from a dev account or
/// from `from`, and waits until it is mined; with `mine_now`, mines its
/// block at once instead of waiting for the chain's next one.
pub(crate) async fn pay(
    info: &DevInfo,
    config: &coffer_config::Config,
    invoice_id: &str,
    amount: Option<&str>,
    from: Option<Address>,
    mine_now: bool,
) -> anyhow::Result<Paid> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let response = client
        .get(format!("{}/v1/invoices/{invoice_id}", info.gateway_url))
        .bearer_auth(&info.api_key)
        .send()
        .await
        .with_context(|| format!("asking the dev gateway at {} (is `coffer dev` running?)", info.gateway_url))?;
    let status = response.status();
    let invoice: Value = response.json().await.context("the gateway's answer is not JSON")?;
    if !status.is_success() {
        bail!("the gateway answered {status}: {}", invoice["error"]["message"].as_str().unwrap_or("?"));
    }

    let field = |name: &str| invoice[name].as_str().ok_or_else(|| anyhow!("the invoice has no {name}"));
    let symbol = field("asset")?;
    let chain_id = invoice["chain_id"].as_u64().ok_or_else(|| anyhow!("the invoice has no chain_id"))?;
    let asset = config
        .asset_book()
        .resolve(symbol.parse().map_err(|e| anyhow!("{e}"))?, Some(coffer_domain::ChainId(chain_id)))
        .map_err(|e| anyhow!("{e}"))?
        .clone();
    let units = match amount {
        Some(text) => asset.parse_amount(text).map_err(|e| anyhow!("--amount: {e}"))?.units(),
        None => {
            let due = parse_units(field("amount_units")?)?.saturating_sub(parse_units(field("paid_units")?)?);
            if due.is_zero() {
                bail!("invoice {invoice_id} is paid in full already; pass an amount to pay more");
            }
            due
        }
    };
    if units.is_zero() {
        bail!("the amount must be more than zero");
    }
    let to: Address = field("address")?.parse().context("the invoice's address")?;

    let rpc = Rpc::new(info.rpc_url.clone());
    let accounts = rpc.accounts().await.context("the dev chain (is `coffer dev` running?)")?;
    let payer = match from {
        Some(from) => {
            // Enough ether for an ETH invoice and its gas, whatever it had.
            let wei =
                rpc.balance(from).await?.saturating_add(units).saturating_add(U256::from(10u64).pow(U256::from(18)));
            rpc.impersonate(from, wei).await.context("impersonating --from on the dev chain")?;
            from
        }
        None => *accounts.get(1).ok_or_else(|| anyhow!("anvil has fewer than two dev accounts"))?,
    };
    let tx = match asset.kind {
        coffer_domain::AssetKind::Native => rpc.send_eth(payer, to, units).await?,
        coffer_domain::AssetKind::Erc20 { contract } => {
            let token = TestToken::at(contract, accounts[0]);
            if token.balance_of(&rpc, payer).await? < units {
                token.mint(&rpc, payer, units).await.context("minting test USDT to the payer")?;
            }
            token.send_transfer(&rpc, payer, to, units).await?
        }
    };
    if mine_now {
        rpc.mine(1).await?;
    }
    let receipt = rpc.wait_for_receipt(tx).await?;
    let block = receipt["blockNumber"].as_str().and_then(|b| u64::from_str_radix(b.trim_start_matches("0x"), 16).ok());
    Ok(Paid {
        amount: coffer_domain::format_units(units, asset.decimals),
        symbol: symbol.to_owned(),
        chain_id,
        payer,
        to,
        tx,
        block,
    })
}

fn parse_units(text: &str) -> anyhow::Result<U256> {
    U256::from_str_radix(text, 10).map_err(|e| anyhow!("{text:?} is not an amount: {e}"))
}
