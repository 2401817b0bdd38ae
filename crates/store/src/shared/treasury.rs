//! The treasury's figures per asset, from rows both backends read alike.

use std::collections::BTreeMap;

use coffer_domain::{Account, AssetId, U256};

use crate::{Result, StoreError, StoredBalance, TreasuryBooks};

/// Sums running totals and in-flight amounts (`(chain_id, asset, units)`
/// rows of broadcast payouts and open sweeps) into one line per asset.
pub(crate) fn books(
    balances: Vec<StoredBalance>,
    payouts: &[(i64, String, String)],
    sweeps: &[(i64, String, String)],
) -> Result<Vec<TreasuryBooks>> {
    let mut lines: BTreeMap<AssetId, TreasuryBooks> = BTreeMap::new();
    let line = |lines: &mut BTreeMap<AssetId, TreasuryBooks>, asset: AssetId| {
        *lines.entry(asset).or_insert(TreasuryBooks {
            asset,
            deposits: U256::ZERO,
            hot: Some(U256::ZERO),
            cold: Some(U256::ZERO),
            reserved: U256::ZERO,
            payouts_in_flight: U256::ZERO,
            sweeps_in_flight: U256::ZERO,
            network_fees: U256::ZERO,
        })
    };
    for stored in balances {
        let asset = stored.account.asset();
        let balance = stored.account.balance_of(stored.debits, stored.credits);
        let mut entry = line(&mut lines, asset);
        match stored.account {
            // The audit reports a negative account; here it is shown as zero
            // for deposits, and as `None` (a breach) for the wallets.
            Account::Deposits(_) => entry.deposits = balance.unwrap_or_default(),
            Account::Hot(_) => entry.hot = balance,
            Account::Cold(_) => entry.cold = balance,
            Account::NetworkFees(_) => entry.network_fees = balance.unwrap_or_default(),
            Account::PayoutsReserved(..) => entry.reserved = entry.reserved.saturating_add(balance.unwrap_or_default()),
            _ => continue,
        }
        lines.insert(asset, entry);
    }
    for (rows, payouts_side) in [(payouts, true), (sweeps, false)] {
        for (chain_id, symbol, units) in rows {
            let asset = crate::rows::asset("payouts", *chain_id, symbol)?;
            let units = U256::from_str_radix(units, 10).map_err(|e| StoreError::corrupt("payouts", e))?;
            let mut entry = line(&mut lines, asset);
            if payouts_side {
                entry.payouts_in_flight = entry.payouts_in_flight.saturating_add(units);
            } else {
                entry.sweeps_in_flight = entry.sweeps_in_flight.saturating_add(units);
            }
            lines.insert(asset, entry);
        }
    }
    Ok(lines.into_values().collect())
}
