//! The `[policy]` part of `signer.toml`, and the checks that turn it into a
//! [`Policy`] or a sentence naming the field that cannot stand.

use std::collections::HashMap;

use coffer_domain::{AmountError, Asset, AssetId, AssetKind, AssetSymbol, ChainId, U256, format_units};
use serde::{Deserialize, Serialize};

use crate::controls_file::{
    AnomalyFile, ApprovalsFile, RestrictedFile, anomaly_rules, approval_rules, restricted_rules,
};
use crate::policy::{AssetPolicy, ChainPolicy, Limits, Policy};

/// The longest new-destination cool-down: one year. Beyond it a typo is likelier than intent.
const MAX_COOLDOWN_SECS: u64 = 365 * 24 * 3600;
/// Native coins of EVM chains have 18 decimals; used when the table lacks the chain's coin.
const EVM_NATIVE_DECIMALS: u8 = 18;
/// How much of a bad value a sentence quotes.
const QUOTE_CHARS: usize = 40;

/// The `[policy]` part of `signer.toml`, as deserialised. Amounts are decimal
/// strings in the asset's units (`"1000.5"` USDT), never floats. Every field
/// is mandatory but `per_merchant`: a policy that forgot a limit must not load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Recorded with every decision, so the audit log says which policy made it.
    pub version: u64,
    /// How long a first payout to a new destination waits, in seconds; 0: not at all.
    pub cooldown_secs: u64,
    /// One entry per asset of the signer's table (`[[policy.assets]]`).
    pub assets: Vec<AssetPolicyFile>,
    /// One entry per chain the signer sends on (`[[policy.chains]]`).
    pub chains: Vec<ChainPolicyFile>,
    /// Approvers and their quorum; absent: no payout waits for approvals,
    /// and nothing can loosen the policy at run time.
    #[serde(default)]
    pub approvals: Option<ApprovalsFile>,
    /// The tripwires that freeze outgoing payments (defaults apply).
    #[serde(default)]
    pub anomaly: AnomalyFile,
    /// The restricted profile; absent: normal limits, allowlist only.
    #[serde(default)]
    pub restricted: Option<RestrictedFile>,
}

/// One asset's rules, in its units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetPolicyFile {
    /// The asset's chain.
    pub chain_id: u64,
    /// The asset's symbol, as in the asset table (case-insensitive).
    pub symbol: String,
    /// The most one payout may send.
    pub max_per_payout: String,
    /// The most the hot wallet keeps; what a sweep would push above it goes to cold.
    pub hot_cap: String,
    /// A deposit holding less is left alone.
    pub sweep_minimum: String,
    /// All merchants together. Mandatory: it is what bounds a compromised gateway.
    pub global: LimitsFile,
    /// Each merchant; absent: merchants are bounded by the global limits only.
    #[serde(default)]
    pub per_merchant: Option<LimitsFile>,
    /// Payouts above this wait for approvals (needs `[policy.approvals]`).
    #[serde(default)]
    pub approval_above: Option<String>,
    /// The least outflow per anomaly window taken as the baseline; absent:
    /// `max_per_payout`.
    #[serde(default)]
    pub outflow_floor: Option<String>,
}

/// Velocity limits over the rolling hour and the rolling day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Amount in any hour.
    pub amount_1h: String,
    /// Amount in any 24 hours.
    pub amount_24h: String,
    /// Payouts in any hour.
    pub count_1h: u64,
    /// Payouts in any 24 hours.
    pub count_24h: u64,
}

/// One chain's network-fee budget, in its native coin (ETH), decimal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainPolicyFile {
    /// The chain.
    pub chain_id: u64,
    /// Gas top-ups and fee bumps in any hour.
    pub fees_1h: String,
    /// Gas top-ups and fee bumps in any 24 hours.
    pub fees_24h: String,
    /// The most one sweep's gas top-up may send.
    pub top_up_per_sweep: String,
}

/// A policy that does not make sense, or cannot bound what leaves the treasury.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PolicyError {
    /// The setting, as spelled in `signer.toml` (`policy.assets[1].max_per_payout`): the stable part.
    pub field: String,
    /// What is wrong with it, as a sentence.
    pub reason: String,
}

impl PolicyError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }

    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(field, reason)
    }
}

impl Policy {
    /// Validates `file` against the signer's own asset table `assets` (from
    /// its configuration, never from the gateway). Refuses an asset of the
    /// policy that the table lacks, an asset of the table that the policy
    /// does not bound, a chain with assets and no fee budget, zero global
    /// limits, an hour allowing more than its day, a payout maximum above
    /// the hour's limit, per-merchant limits above the global ones, and
    /// amounts that are not decimals of the asset.
    pub fn new(file: &PolicyFile, assets: &[Asset]) -> Result<Policy, PolicyError> {
        if file.cooldown_secs > MAX_COOLDOWN_SECS {
            return Err(PolicyError::new("policy.cooldown_secs", "must be at most 31536000 (one year)"));
        }
        let mut table = HashMap::new();
        for asset in assets {
            if table.insert(asset.id, asset).is_some() {
                return Err(PolicyError::new(
                    "assets",
                    format!("the signer's asset table lists {} twice", describe(asset.id)),
                ));
            }
        }
        let mut rules: HashMap<AssetId, AssetPolicy> = HashMap::new();
        let mut entries: HashMap<AssetId, usize> = HashMap::new();
        for (i, entry) in file.assets.iter().enumerate() {
            let at = format!("policy.assets[{i}]");
            let symbol: AssetSymbol =
                entry.symbol.parse().map_err(|e: coffer_domain::InvalidSymbol| field(&at, "symbol", e.to_string()))?;
            let id = AssetId { chain_id: ChainId(entry.chain_id), symbol };
            let Some(&asset) = table.get(&id) else {
                return Err(field(
                    &at,
                    "symbol",
                    format!(
                        "{} is not in the signer's asset table; a policy bounds only what the signer can send",
                        describe(id)
                    ),
                ));
            };
            if let Some(first) = entries.insert(id, i) {
                return Err(field(
                    &at,
                    "symbol",
                    format!("{} already has its policy at policy.assets[{first}]", describe(id)),
                ));
            }
            rules.insert(id, asset_policy(&at, asset, entry)?);
        }
        if let Some(missing) = assets.iter().find(|a| !rules.contains_key(&a.id)) {
            return Err(PolicyError::new(
                "policy.assets",
                format!(
                    "{} is in the signer's asset table but has no [[policy.assets]] entry; every asset the signer can send must be bounded",
                    describe(missing.id)
                ),
            ));
        }
        let chains = chain_policies(&file.chains, assets)?;
        let contracts = assets
            .iter()
            .filter_map(|a| match a.kind {
                AssetKind::Erc20 { contract } => Some(contract),
                AssetKind::Native => None,
            })
            .collect();
        let approvals = approval_rules(file.approvals.as_ref())?;
        if approvals.is_none()
            && let Some(i) = file.assets.iter().position(|a| a.approval_above.is_some())
        {
            return Err(PolicyError::new(
                format!("policy.assets[{i}].approval_above"),
                "needs [policy.approvals] with approvers; without them no payout could ever be approved",
            ));
        }
        let anomaly = anomaly_rules(&file.anomaly)?;
        let (restricted, file_allowlist) = restricted_rules(file.restricted.as_ref(), &rules, |at, base, entry| {
            let unit = Unit::of(&base.asset);
            let max = unit.parse(at, "max_per_payout", &entry.max_per_payout)?;
            let global = limits(&format!("{at}.global"), &unit, &entry.global, Scope::Global)?;
            Ok((max, global))
        })?;
        let mut policy = Policy {
            version: file.version,
            file_version: file.version,
            cooldown_secs: file.cooldown_secs,
            assets: rules.clone(),
            normal: rules,
            restricted,
            file_allowlist,
            approvals,
            anomaly,
            controls: crate::Controls { file_version: file.version, ..Default::default() },
            chains,
            contracts,
        };
        policy.rebuild();
        Ok(policy)
    }
}

fn asset_policy(at: &str, asset: &Asset, entry: &AssetPolicyFile) -> Result<AssetPolicy, PolicyError> {
    let unit = Unit::of(asset);
    let max_per_payout = unit.parse(at, "max_per_payout", &entry.max_per_payout)?;
    let hot_cap = unit.parse(at, "hot_cap", &entry.hot_cap)?;
    let sweep_minimum = unit.parse(at, "sweep_minimum", &entry.sweep_minimum)?;
    let global_at = format!("{at}.global");
    let global = limits(&global_at, &unit, &entry.global, Scope::Global)?;
    if max_per_payout > global.amount_1h {
        return Err(field(
            at,
            "max_per_payout",
            format!(
                "{} is above global.amount_1h ({}); one payout cannot be more than the hour allows",
                unit.show(max_per_payout),
                unit.show(global.amount_1h)
            ),
        ));
    }
    let per_merchant = match &entry.per_merchant {
        None => None,
        Some(file) => {
            let merchant_at = format!("{at}.per_merchant");
            let merchant = limits(&merchant_at, &unit, file, Scope::Merchant)?;
            within_global(&merchant_at, &unit, &merchant, &global)?;
            Some(merchant)
        }
    };
    let approval_above = match &entry.approval_above {
        Some(text) => Some(unit.parse(at, "approval_above", text)?),
        None => None,
    };
    let outflow_floor = match &entry.outflow_floor {
        Some(text) => unit.parse(at, "outflow_floor", text)?,
        None => max_per_payout,
    };
    Ok(AssetPolicy {
        asset: asset.clone(),
        max_per_payout,
        hot_cap,
        sweep_minimum,
        global,
        per_merchant,
        approval_above,
        outflow_floor,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Global,
    Merchant,
}

fn limits(at: &str, unit: &Unit, file: &LimitsFile, scope: Scope) -> Result<Limits, PolicyError> {
    let amount_1h = unit.parse(at, "amount_1h", &file.amount_1h)?;
    let amount_24h = unit.parse(at, "amount_24h", &file.amount_24h)?;
    let zero = [
        ("amount_1h", amount_1h.is_zero()),
        ("amount_24h", amount_24h.is_zero()),
        ("count_1h", file.count_1h == 0),
        ("count_24h", file.count_24h == 0),
    ];
    if let Some((name, _)) = zero.into_iter().find(|(_, zero)| *zero) {
        let why = match scope {
            Scope::Global => format!(
                "must be above 0: the global velocity limits are what bound a compromised gateway, and a policy without one cannot be run; to stop payouts of {} set max_per_payout = \"0\"",
                unit.name
            ),
            Scope::Merchant => {
                "must be above 0; leave per_merchant out to bound merchants by the global limits only".into()
            }
        };
        return Err(field(at, name, why));
    }
    if amount_1h > amount_24h {
        return Err(field(
            at,
            "amount_1h",
            format!(
                "{} is above amount_24h ({}); an hour cannot allow more than the day around it",
                unit.show(amount_1h),
                unit.show(amount_24h)
            ),
        ));
    }
    if file.count_1h > file.count_24h {
        return Err(field(
            at,
            "count_1h",
            format!(
                "{} payouts is above count_24h ({}); an hour cannot allow more than the day around it",
                file.count_1h, file.count_24h
            ),
        ));
    }
    Ok(Limits { amount_1h, amount_24h, count_1h: file.count_1h, count_24h: file.count_24h })
}

fn within_global(at: &str, unit: &Unit, merchant: &Limits, global: &Limits) -> Result<(), PolicyError> {
    let above = |name: &str, mine: String, all: String| {
        field(
            at,
            name,
            format!("{mine} is above global.{name} ({all}); one merchant cannot be allowed more than all together"),
        )
    };
    if merchant.amount_1h > global.amount_1h {
        return Err(above("amount_1h", unit.show(merchant.amount_1h), unit.show(global.amount_1h)));
    }
    if merchant.amount_24h > global.amount_24h {
        return Err(above("amount_24h", unit.show(merchant.amount_24h), unit.show(global.amount_24h)));
    }
    if merchant.count_1h > global.count_1h {
        return Err(above("count_1h", merchant.count_1h.to_string(), global.count_1h.to_string()));
    }
    if merchant.count_24h > global.count_24h {
        return Err(above("count_24h", merchant.count_24h.to_string(), global.count_24h.to_string()));
    }
    Ok(())
}

fn chain_policies(files: &[ChainPolicyFile], assets: &[Asset]) -> Result<HashMap<ChainId, ChainPolicy>, PolicyError> {
    let mut chains = HashMap::new();
    let mut entries = HashMap::new();
    for (i, file) in files.iter().enumerate() {
        let at = format!("policy.chains[{i}]");
        let chain_id = ChainId(file.chain_id);
        let Some(any_asset) = assets.iter().find(|a| a.id.chain_id == chain_id) else {
            return Err(field(&at, "chain_id", format!("chain {chain_id} has no asset in the signer's asset table")));
        };
        if let Some(first) = entries.insert(chain_id, i) {
            return Err(field(
                &at,
                "chain_id",
                format!("chain {chain_id} already has its budget at policy.chains[{first}]"),
            ));
        }
        let native = assets.iter().find(|a| a.id.chain_id == chain_id && a.kind == AssetKind::Native);
        let unit = match native {
            Some(coin) => Unit::of(coin),
            None => Unit {
                name: format!("chain {chain_id}'s native coin"),
                parser: Asset { decimals: EVM_NATIVE_DECIMALS, ..any_asset.clone() },
            },
        };
        let fees_1h = unit.parse(&at, "fees_1h", &file.fees_1h)?;
        let fees_24h = unit.parse(&at, "fees_24h", &file.fees_24h)?;
        let top_up_per_sweep = unit.parse(&at, "top_up_per_sweep", &file.top_up_per_sweep)?;
        if fees_1h > fees_24h {
            return Err(field(
                &at,
                "fees_1h",
                format!(
                    "{} is above fees_24h ({}); an hour cannot allow more than the day around it",
                    unit.show(fees_1h),
                    unit.show(fees_24h)
                ),
            ));
        }
        if top_up_per_sweep > fees_1h {
            return Err(field(
                &at,
                "top_up_per_sweep",
                format!(
                    "{} is above fees_1h ({}); no sweep could ever get its gas",
                    unit.show(top_up_per_sweep),
                    unit.show(fees_1h)
                ),
            ));
        }
        let policy = ChainPolicy {
            chain_id,
            fees_1h,
            fees_24h,
            top_up_per_sweep,
            native_symbol: native.map(|a| a.id.symbol),
            native_decimals: unit.parser.decimals,
        };
        chains.insert(chain_id, policy);
    }
    if let Some(asset) = assets.iter().find(|a| !chains.contains_key(&a.id.chain_id)) {
        return Err(PolicyError::new(
            "policy.chains",
            format!(
                "chain {} has assets in the signer's asset table ({} among them) but no [[policy.chains]] fee budget; gas top-ups and fee bumps must be bounded too",
                asset.id.chain_id, asset.id.symbol
            ),
        ));
    }
    Ok(chains)
}

/// What an amount is counted in, for parsing and for sentences.
struct Unit {
    name: String,
    /// An asset with the unit's decimals, so that the domain's one exact
    /// decimal parser is used (its symbol is not what sentences say).
    parser: Asset,
}

impl Unit {
    fn of(asset: &Asset) -> Self {
        Self { name: asset.id.symbol.to_string(), parser: asset.clone() }
    }

    fn parse(&self, at: &str, name: &str, text: &str) -> Result<U256, PolicyError> {
        self.parser.parse_amount(text).map(|amount| amount.units()).map_err(|e| {
            let why = match e {
                AmountError::Empty => ": it is empty".to_owned(),
                AmountError::Negative => ": it is negative".to_owned(),
                AmountError::Malformed => String::new(),
                AmountError::TooPrecise { .. } => format!(": it has more than {} decimals", self.parser.decimals),
                AmountError::Overflow => ": it is too large".to_owned(),
            };
            let quoted: String = text.chars().take(QUOTE_CHARS).collect();
            let (unit, decimals) = (&self.name, self.parser.decimals);
            field(at, name, format!("{quoted:?} is not a decimal amount of {unit} ({decimals} decimals){why}"))
        })
    }

    fn show(&self, units: U256) -> String {
        format!("{} {}", format_units(units, self.parser.decimals), self.name)
    }
}

fn field(at: &str, name: &str, reason: impl Into<String>) -> PolicyError {
    PolicyError::new(format!("{at}.{name}"), reason)
}

fn describe(id: AssetId) -> String {
    format!("{} on chain {}", id.symbol, id.chain_id)
}
