//! The validated policy, in base units, and the bound it gives.

use std::collections::{BTreeSet, HashMap, HashSet};

use coffer_domain::{Address, Asset, AssetId, AssetSymbol, ChainId, U256, format_units};

use crate::anomaly::AnomalyRules;
use crate::approvers::ApprovalRules;
use crate::controls::Controls;

/// Seconds in the short window.
pub(crate) const HOUR: i64 = 3600;
/// Seconds in the long window.
pub(crate) const DAY: i64 = 86_400;

/// A policy that [`Policy::new`] accepted: every asset the signer can send
/// is bounded by global velocity limits, every chain by a fee budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The effective version: the file's, plus every change applied since.
    pub(crate) version: u64,
    /// `signer.toml`'s `policy.version`.
    pub(crate) file_version: u64,
    pub(crate) cooldown_secs: u64,
    /// The rules in force: the profile's, with run-time overrides ([`Policy::rebuild`]).
    pub(crate) assets: HashMap<AssetId, AssetPolicy>,
    /// The normal profile's rules, as the file has them.
    pub(crate) normal: HashMap<AssetId, AssetPolicy>,
    /// The restricted profile's per-payout maximum and global limits.
    pub(crate) restricted: HashMap<AssetId, (U256, Limits)>,
    /// The file's allowlist for `restricted`.
    pub(crate) file_allowlist: BTreeSet<(ChainId, Address)>,
    /// Approvers and quorum, if any.
    pub(crate) approvals: Option<ApprovalRules>,
    /// The tripwires.
    pub(crate) anomaly: AnomalyRules,
    /// What people and tripwires changed at run time.
    pub(crate) controls: Controls,
    pub(crate) chains: HashMap<ChainId, ChainPolicy>,
    /// Every token contract of the asset table, on any chain: never a payout's destination.
    pub(crate) contracts: HashSet<Address>,
}

/// One asset's rules, in its base units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetPolicy {
    /// The asset, as the signer's table has it.
    pub asset: Asset,
    /// The most one payout may send.
    pub max_per_payout: U256,
    /// The most the hot wallet keeps; sweeps beyond it go to cold.
    pub hot_cap: U256,
    /// A deposit holding less is not worth the gas of a sweep.
    pub sweep_minimum: U256,
    /// All merchants together: what bounds a compromised gateway.
    pub global: Limits,
    /// Above this, a payout waits for approvals; `None`: never for its amount.
    pub approval_above: Option<U256>,
    /// The least outflow per anomaly window counted as the baseline.
    pub outflow_floor: U256,
    /// Each merchant, on the gateway's word about who asks; `None`: only the global limits.
    pub per_merchant: Option<Limits>,
}

/// Velocity limits over the rolling hour and day. Each is above zero, and
/// the hour's is at most the day's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Base units in any hour.
    pub amount_1h: U256,
    /// Base units in any 24 hours.
    pub amount_24h: U256,
    /// Payouts in any hour.
    pub count_1h: u64,
    /// Payouts in any 24 hours.
    pub count_24h: u64,
}

/// One chain's network-fee budget, in its native coin's base units (wei).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainPolicy {
    /// The chain.
    pub chain_id: ChainId,
    /// Gas top-ups and fee bumps in any hour.
    pub fees_1h: U256,
    /// Gas top-ups and fee bumps in any 24 hours.
    pub fees_24h: U256,
    /// The most one sweep's gas top-up may send.
    pub top_up_per_sweep: U256,
    /// The native coin's symbol, if the asset table has it (for sentences).
    pub native_symbol: Option<AssetSymbol>,
    /// The native coin's decimals: the table's, or 18 as on every EVM chain.
    pub native_decimals: u8,
}

impl Policy {
    /// The policy's version, recorded with every decision it makes.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// How long a first payout to a new destination waits; 0: not at all.
    pub fn cooldown_secs(&self) -> u64 {
        self.cooldown_secs
    }

    /// The rules for `asset`, if the signer sends it.
    pub fn asset(&self, asset: AssetId) -> Option<&AssetPolicy> {
        self.assets.get(&asset)
    }

    /// Approvers and quorum, if the policy lists any.
    pub fn approvals(&self) -> Option<&ApprovalRules> {
        self.approvals.as_ref()
    }

    /// The tripwires.
    pub fn anomaly(&self) -> &AnomalyRules {
        &self.anomaly
    }

    /// `signer.toml`'s own policy version.
    pub fn file_version(&self) -> u64 {
        self.file_version
    }

    /// The fee budget of `chain`, if the signer sends on it.
    pub fn chain(&self, chain: ChainId) -> Option<&ChainPolicy> {
        self.chains.get(&chain)
    }

    /// Whether `address` is a token contract of the signer's asset table.
    pub fn is_token_contract(&self, address: &Address) -> bool {
        self.contracts.contains(address)
    }

    /// The most of `asset` (base units) that the global limits let out in
    /// any `secs` consecutive seconds, whoever asks: the bound SIGNER.md asks
    /// to prove, for a compromised gateway, over the time it takes to freeze.
    ///
    /// Conservative composition of what [`crate::assess_payout`] enforces
    /// (every 3600 s window at most `amount_1h` and `count_1h` payouts, every
    /// 86 400 s window at most `amount_24h` and `count_24h`, each payout at
    /// most `max_per_payout`): an hour lets out at most
    /// `min(amount_1h, count_1h × max_per_payout)`, a day at most
    /// `min(amount_24h, count_24h × max_per_payout, 24 × that hour)`; `secs`
    /// is cut into whole days and a rest, and the rest is at most its hours
    /// (rounded up) at the hour's rate, and never more than a day. The real
    /// worst case may be lower; it is never higher. Saturates at `U256::MAX`.
    /// An asset the policy does not know gives 0: it is never paid out.
    pub fn bound(&self, asset: AssetId, secs: u64) -> U256 {
        let Some(rules) = self.assets.get(&asset) else { return U256::ZERO };
        let limits = &rules.global;
        let hour = limits.amount_1h.min(rules.max_per_payout.saturating_mul(U256::from(limits.count_1h)));
        let day = limits
            .amount_24h
            .min(rules.max_per_payout.saturating_mul(U256::from(limits.count_24h)))
            .min(hour.saturating_mul(U256::from(24u8)));
        let day_secs = DAY.unsigned_abs();
        let (days, rest) = (secs / day_secs, secs % day_secs);
        let rest_bound = day.min(hour.saturating_mul(U256::from(rest.div_ceil(HOUR.unsigned_abs()))));
        day.saturating_mul(U256::from(days)).saturating_add(rest_bound)
    }
}

impl AssetPolicy {
    /// `units` of this asset as a sentence says them: `1000.5 USDT`.
    pub fn format(&self, units: U256) -> String {
        format!("{} {}", format_units(units, self.asset.decimals), self.asset.id.symbol)
    }
}

impl ChainPolicy {
    /// `units` of the native coin as a sentence says them: `0.05 ETH`.
    pub fn format(&self, units: U256) -> String {
        let amount = format_units(units, self.native_decimals);
        match self.native_symbol {
            Some(symbol) => format!("{amount} {symbol}"),
            None => format!("{amount} of chain {}'s native coin", self.chain_id),
        }
    }
}
