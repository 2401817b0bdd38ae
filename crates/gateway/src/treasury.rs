//! The treasury beside the books: per chain and asset, what the ledger says
//! the deposit addresses, the hot wallet and the cold address hold, and
//! what the chain says the two wallets hold, read through the gateway's
//! node. `GET /v1/treasury` shows it to the operator; `coffer treasury`
//! prints it and `coffer ledger check` fails when a wallet disagrees beyond
//! what is in flight.
//!
//! The wallets are compared together (hot plus cold against the books' hot
//! plus cold): the signer moves what sits in hot above its cap to cold on
//! its own (ADR 0011) and does not report it, so one wallet's figure may
//! differ from the books while the treasury as a whole agrees; each
//! wallet's figures are shown for people.
//!
//! In flight: a payout sent and not yet confirmed has (once mined) left the
//! chain's hot balance while the books still hold it; a sweep not yet
//! confirmed may have arrived while the books do not hold it yet. So the
//! chain's hot and cold together may be below the books' by at most the
//! payouts in flight, and above them by at most the sweeps in flight. The
//! gas of transactions in flight is not known until they confirm: for the
//! native coin a small shortfall while transactions are in flight is gas.

use coffer_chain::ChainSpec;
use coffer_domain::{Address, AssetBook, AssetKind, ChainId, U256};
use coffer_store::{Store, StoreError, TreasuryBooks};

/// One chain's treasury wallets, and how to reach its node.
#[derive(Clone, Debug)]
pub struct TreasuryChain {
    /// The chain and its node.
    pub spec: ChainSpec,
    /// The hot wallet's address, if configured.
    pub hot: Option<Address>,
    /// The cold address, if configured.
    pub cold: Option<Address>,
}

/// The treasury's settings.
#[derive(Clone, Debug, Default)]
pub struct Treasury {
    /// SHA-256 of the operator's token; `None`: the view is not served.
    pub operator_digest: Option<[u8; 32]>,
    /// Every configured chain.
    pub chains: Vec<TreasuryChain>,
}

impl Treasury {
    /// The treasury as configured: the operator's digest, and each chain's
    /// node (as its watcher reaches it) and wallets.
    pub fn from_config(config: &coffer_config::Config) -> Self {
        let settings = crate::services::watcher_settings(
            config,
            &config.asset_book(),
            std::sync::Arc::new(coffer_watcher::NoScreening),
        );
        crate::services::treasury(config, &settings)
    }

    /// Whether any chain has a wallet to read.
    pub fn has_wallets(&self) -> bool {
        self.chains.iter().any(|c| c.hot.is_some() || c.cold.is_some())
    }
}

/// Why a line disagrees, as a sentence for `coffer ledger check`.
pub fn disagreement(line: &TreasuryLine) -> Option<String> {
    if line.agrees != Some(false) {
        return None;
    }
    let b = &line.books;
    let chain = |r: &ChainReading| match r {
        ChainReading::Holds(units) => units.to_string(),
        _ => "-".to_owned(),
    };
    let booked = |u: Option<U256>| u.map_or("below zero".to_owned(), |u| u.to_string());
    Some(format!(
        "treasury {}: the chain holds {} in hot and {} in cold, the books {} and {} (in flight: payouts {}, sweeps {})",
        b.asset,
        chain(&line.chain_hot),
        chain(&line.chain_cold),
        booked(b.hot),
        booked(b.cold),
        b.payouts_in_flight,
        b.sweeps_in_flight
    ))
}

/// What the chain says one wallet holds, or why it could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainReading {
    /// No address is configured for the wallet.
    Unconfigured,
    /// The node's answer, in base units.
    Holds(U256),
    /// The node could not be read.
    Unreadable(String),
}

/// One asset's line.
#[derive(Clone, Debug)]
pub struct TreasuryLine {
    /// The books.
    pub books: TreasuryBooks,
    /// The chain's hot balance.
    pub chain_hot: ChainReading,
    /// The chain's cold balance.
    pub chain_cold: ChainReading,
    /// Whether the chain and the books agree within what is in flight;
    /// `None` when no wallet could be read.
    pub agrees: Option<bool>,
}

/// Every asset's line: the books for every configured asset (and any the
/// books hold), beside the chain's readings of the configured wallets.
pub async fn lines(
    store: &dyn Store,
    assets: &AssetBook,
    treasury: &Treasury,
) -> Result<Vec<TreasuryLine>, StoreError> {
    let mut books = store.treasury_books().await?;
    for asset in assets.iter() {
        if !books.iter().any(|b| b.asset == asset.id) {
            books.push(TreasuryBooks {
                asset: asset.id,
                deposits: U256::ZERO,
                hot: Some(U256::ZERO),
                cold: Some(U256::ZERO),
                reserved: U256::ZERO,
                payouts_in_flight: U256::ZERO,
                sweeps_in_flight: U256::ZERO,
                network_fees: U256::ZERO,
            });
        }
    }
    books.sort_by_key(|b| (b.asset.chain_id, b.asset.symbol));
    let mut lines = Vec::with_capacity(books.len());
    for chain in &treasury.chains {
        let on_chain: Vec<TreasuryBooks> =
            books.iter().filter(|b| b.asset.chain_id == chain.spec.chain_id).copied().collect();
        let kinds: Vec<Option<AssetKind>> = on_chain.iter().map(|b| assets.get(b.asset).map(|a| a.kind)).collect();
        let hot = read(chain, chain.hot, &kinds).await;
        let cold = read(chain, chain.cold, &kinds).await;
        for (i, books) in on_chain.into_iter().enumerate() {
            let (chain_hot, chain_cold) = (hot[i].clone(), cold[i].clone());
            let agrees = agrees(&books, &chain_hot, &chain_cold);
            lines.push(TreasuryLine { books, chain_hot, chain_cold, agrees });
        }
    }
    let known: Vec<ChainId> = treasury.chains.iter().map(|c| c.spec.chain_id).collect();
    for books in books.into_iter().filter(|b| !known.contains(&b.asset.chain_id)) {
        lines.push(TreasuryLine {
            books,
            chain_hot: ChainReading::Unconfigured,
            chain_cold: ChainReading::Unconfigured,
            agrees: None,
        });
    }
    Ok(lines)
}

/// What `wallet` holds of each asset (`None`: an asset no longer configured).
async fn read(chain: &TreasuryChain, wallet: Option<Address>, kinds: &[Option<AssetKind>]) -> Vec<ChainReading> {
    let Some(wallet) = wallet else { return vec![ChainReading::Unconfigured; kinds.len()] };
    let holdings: Vec<(Address, AssetKind)> = kinds.iter().flatten().map(|kind| (wallet, *kind)).collect();
    let read = coffer_chain::read_balances(&chain.spec, &holdings).await;
    let mut answers = match read {
        Ok(balances) => balances.into_iter().map(ChainReading::Holds).collect::<Vec<_>>().into_iter(),
        Err(err) => vec![ChainReading::Unreadable(err.to_string()); holdings.len()].into_iter(),
    };
    kinds
        .iter()
        .map(|kind| match kind {
            Some(_) => answers.next().unwrap_or(ChainReading::Unconfigured),
            None => ChainReading::Unconfigured,
        })
        .collect()
}

/// Whether the chain's wallets and the books agree within what is in flight.
fn agrees(books: &TreasuryBooks, hot: &ChainReading, cold: &ChainReading) -> Option<bool> {
    let mut chain = U256::ZERO;
    let mut ledger = U256::ZERO;
    let mut read_any = false;
    for (reading, booked) in [(hot, books.hot), (cold, books.cold)] {
        match reading {
            ChainReading::Holds(units) => {
                read_any = true;
                chain = chain.saturating_add(*units);
                // A wallet the books hold less than nothing of disagrees with any chain.
                let Some(booked) = booked else { return Some(false) };
                ledger = ledger.saturating_add(booked);
            }
            ChainReading::Unreadable(_) => return None,
            ChainReading::Unconfigured => {}
        }
    }
    if !read_any {
        return None;
    }
    let low = ledger.saturating_sub(books.payouts_in_flight);
    let high = ledger.saturating_add(books.sweeps_in_flight);
    Some(low <= chain && chain <= high)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use coffer_domain::{AssetId, AssetSymbol};

    use super::*;

    fn books(hot: u64, payouts: u64, sweeps: u64) -> TreasuryBooks {
        TreasuryBooks {
            asset: AssetId { chain_id: ChainId(1), symbol: AssetSymbol::from_str("USDT").unwrap() },
            deposits: U256::ZERO,
            hot: Some(U256::from(hot)),
            cold: Some(U256::ZERO),
            reserved: U256::ZERO,
            payouts_in_flight: U256::from(payouts),
            sweeps_in_flight: U256::from(sweeps),
            network_fees: U256::ZERO,
        }
    }

    fn holds(units: u64) -> ChainReading {
        ChainReading::Holds(U256::from(units))
    }

    #[test]
    fn the_chain_may_differ_from_the_books_by_what_is_in_flight_only() {
        let none = ChainReading::Unconfigured;
        assert_eq!(agrees(&books(100, 0, 0), &holds(100), &none), Some(true));
        assert_eq!(agrees(&books(100, 0, 0), &holds(99), &none), Some(false));
        assert_eq!(agrees(&books(100, 30, 0), &holds(70), &none), Some(true), "a payout mined, not yet booked");
        assert_eq!(agrees(&books(100, 30, 0), &holds(69), &none), Some(false));
        assert_eq!(agrees(&books(100, 0, 12), &holds(112), &none), Some(true), "a sweep arrived, not yet booked");
        assert_eq!(agrees(&books(100, 0, 12), &holds(113), &none), Some(false));
        assert_eq!(
            agrees(&books(100, 0, 0), &holds(60), &holds(40)),
            Some(true),
            "the signer moved hot's excess to cold: the treasury as a whole agrees"
        );
        assert_eq!(agrees(&books(100, 0, 0), &holds(60), &holds(39)), Some(false));
        assert_eq!(agrees(&books(100, 0, 0), &none, &none), None);
        assert_eq!(agrees(&books(100, 0, 0), &ChainReading::Unreadable("down".into()), &none), None);
        let overdrawn = TreasuryBooks { hot: None, ..books(0, 0, 0) };
        assert_eq!(agrees(&overdrawn, &holds(0), &none), Some(false));
    }
}
