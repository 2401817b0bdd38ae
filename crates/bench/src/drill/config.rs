//! `drill.toml`: the treasury the drill sets up, the signer's policy, and
//! how hard the attacker pushes. Every field has a default, so
//! `coffer drill coinspaid` runs without a file; a file that leaves the
//! signer without a velocity limit is refused before anything starts.

use serde::Deserialize;

/// The drill's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrillConfig {
    /// Merchants with balances (each from a paid invoice).
    pub merchants: u32,
    /// Each merchant's balance, whole USDT.
    pub merchant_balance: u64,
    /// What the hot wallet holds at the start: its cap, whole USDT.
    pub hot_cap: u64,
    /// What cold holds at the start, whole USDT.
    pub cold: u64,
    /// Normal payouts before the attack, to known payees: the baseline.
    pub baseline_payouts: u32,
    /// How long the attacker keeps trying, seconds.
    pub attack_secs: u64,
    /// Attacker requests in flight at once.
    pub attack_concurrency: usize,
    /// Seconds between blocks while the attack runs (anvil's interval mining).
    pub block_secs: u64,
    /// The signer's policy for USDT.
    pub policy: DrillPolicy,
}

/// The signer's policy for USDT, in whole units, and its tripwires.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrillPolicy {
    /// The most one payout may send.
    pub max_per_payout: u64,
    /// All payouts in any hour. A `[policy]` table must name all four
    /// velocity limits: left out, there is no bound to prove.
    #[serde(default)]
    pub amount_1h: Option<u64>,
    /// All payouts in any 24 hours.
    #[serde(default)]
    pub amount_24h: Option<u64>,
    /// Payouts in any hour.
    #[serde(default)]
    pub count_1h: Option<u64>,
    /// Payouts in any 24 hours.
    #[serde(default)]
    pub count_24h: Option<u64>,
    /// Above this a payout waits for approvals.
    pub approval_above: u64,
    /// Approvers (N) and the quorum (M).
    pub approvers: u8,
    /// M.
    pub quorum: u8,
    /// The least outflow per anomaly window taken as the baseline.
    pub outflow_floor: u64,
    /// Outflow above this multiple of the baseline freezes.
    pub outflow_multiple: u64,
    /// Payouts to new destinations in the window above this freeze.
    pub new_destinations: u64,
    /// Policy refusals in the window above this freeze.
    pub refusals: u64,
    /// Failed authentications in the window above this freeze.
    pub auth_failures: u64,
    /// The tripwires' window, seconds.
    pub window_secs: u64,
    /// The restricted profile's per-payout maximum and hourly limit.
    pub restricted_max_per_payout: u64,
    /// The restricted profile's hourly (and daily) amount.
    pub restricted_amount_1h: u64,
}

impl Default for DrillConfig {
    fn default() -> Self {
        Self {
            merchants: 3,
            merchant_balance: 20_000,
            hot_cap: 5_000,
            cold: 100_000,
            baseline_payouts: 6,
            attack_secs: 8,
            attack_concurrency: 8,
            block_secs: 1,
            policy: DrillPolicy::default(),
        }
    }
}

impl Default for DrillPolicy {
    fn default() -> Self {
        Self {
            max_per_payout: 500,
            amount_1h: Some(2_000),
            amount_24h: Some(10_000),
            count_1h: Some(50),
            count_24h: Some(200),
            approval_above: 250,
            approvers: 3,
            quorum: 2,
            outflow_floor: 200,
            outflow_multiple: 5,
            new_destinations: 10,
            refusals: 20,
            auth_failures: 10,
            window_secs: 600,
            restricted_max_per_payout: 100,
            restricted_amount_1h: 1_500,
        }
    }
}

/// A configuration the drill cannot run, in a sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DrillConfigError(pub String);

impl DrillConfig {
    /// Reads `drill.toml`.
    pub fn load(text: &str) -> Result<Self, DrillConfigError> {
        use figment::providers::{Format as _, Toml};
        let config: DrillConfig = figment::Figment::from(Toml::string(text))
            .extract()
            .map_err(|e| DrillConfigError(format!("drill.toml: {e}")))?;
        config.check()?;
        Ok(config)
    }

    /// The checks a file must pass before anything starts.
    pub fn check(&self) -> Result<(), DrillConfigError> {
        let p = &self.policy;
        let (Some(_), Some(_), Some(_), Some(_)) = (p.amount_1h, p.amount_24h, p.count_1h, p.count_24h) else {
            return Err(DrillConfigError(
                "drill.toml sets no velocity limit for the signer (policy.amount_1h, amount_24h, count_1h and count_24h): \
                 without one nothing bounds what a compromised gateway takes, so there is no bound to prove; \
                 the drill would only measure how fast the hot wallet empties. Set all four."
                    .into(),
            ));
        };
        if self.merchants == 0 || self.attack_concurrency == 0 || self.attack_secs == 0 {
            return Err(DrillConfigError("merchants, attack_secs and attack_concurrency must be above 0".into()));
        }
        if p.quorum == 0 || p.quorum > p.approvers {
            return Err(DrillConfigError(format!(
                "policy.quorum must be between 1 and policy.approvers ({})",
                p.approvers
            )));
        }
        if self.hot_cap < p.max_per_payout {
            return Err(DrillConfigError("hot_cap must hold at least one payout (policy.max_per_payout)".into()));
        }
        if self.block_secs == 0 {
            return Err(DrillConfigError("block_secs must be at least 1".into()));
        }
        if p.restricted_max_per_payout == 0 || p.restricted_amount_1h == 0 {
            return Err(DrillConfigError(
                "policy.restricted_max_per_payout and restricted_amount_1h must be above 0: the way back pays an honest merchant"
                    .into(),
            ));
        }
        // The honest history must not look like an attack, or the drill
        // measures a signer frozen before the attacker starts.
        let baseline = self.baseline_outflow();
        let window = p.outflow_floor.saturating_mul(p.outflow_multiple);
        if baseline > window {
            return Err(DrillConfigError(format!(
                "the baseline of normal payouts ({baseline} USDT) would itself trip the outflow tripwire \
                 (outflow_floor × outflow_multiple = {window} USDT in the window); raise those, or lower baseline_payouts"
            )));
        }
        if baseline >= p.amount_1h.unwrap_or_default() {
            return Err(DrillConfigError(format!(
                "the baseline of normal payouts ({baseline} USDT) would use the whole hour's allowance (policy.amount_1h)"
            )));
        }
        if u64::from(self.baseline_payouts) + 1 >= p.count_1h.unwrap_or_default() {
            return Err(DrillConfigError("baseline_payouts must leave room under policy.count_1h".into()));
        }
        Ok(())
    }

    /// One baseline payout, whole USDT: a quarter of the approval threshold.
    pub(crate) fn baseline_amount(&self) -> u64 {
        (self.policy.approval_above / 4).clamp(1, self.policy.max_per_payout.max(1))
    }

    /// The one baseline payout the approvers approve (0: none, when no
    /// amount is both above the threshold and within the maximum).
    pub(crate) fn approved_amount(&self) -> u64 {
        let p = &self.policy;
        if p.approval_above < p.max_per_payout { p.approval_above + 1 } else { 0 }
    }

    /// What the honest history pays out before the attack.
    fn baseline_outflow(&self) -> u64 {
        self.baseline_amount().saturating_mul(u64::from(self.baseline_payouts)).saturating_add(self.approved_amount())
    }

    /// The signer's `[policy]` for this drill (ETH is bounded, never attacked).
    pub fn signer_policy(&self, approver_keys: &[String]) -> String {
        let p = &self.policy;
        let mut text = format!(
            r#"[policy]
version = 1
cooldown_secs = 0

[[policy.assets]]
chain_id = 31337
symbol = "ETH"
max_per_payout = "1"
hot_cap = "1000"
sweep_minimum = "0.001"
global = {{ amount_1h = "5", amount_24h = "20", count_1h = 100, count_24h = 1000 }}

[[policy.assets]]
chain_id = 31337
symbol = "USDT"
max_per_payout = "{max}"
hot_cap = "{cap}"
sweep_minimum = "1"
approval_above = "{approval}"
outflow_floor = "{floor}"
global = {{ amount_1h = "{a1}", amount_24h = "{a24}", count_1h = {c1}, count_24h = {c24} }}

[[policy.chains]]
chain_id = 31337
fees_1h = "1"
fees_24h = "5"
top_up_per_sweep = "0.01"

[policy.anomaly]
window_secs = {window}
outflow_multiple = {multiple}
new_destinations = {new}
refusals = {refusals}
auth_failures = {auth}

[policy.approvals]
quorum = {quorum}
ttl_secs = 3600
timelock_secs = 86400

[policy.restricted]
assets = [{{ chain_id = 31337, symbol = "USDT", max_per_payout = "{rmax}", global = {{ amount_1h = "{r1h}", amount_24h = "{r1h}", count_1h = 20, count_24h = 20 }} }}]
"#,
            max = p.max_per_payout,
            cap = self.hot_cap,
            approval = p.approval_above,
            floor = p.outflow_floor,
            a1 = p.amount_1h.unwrap_or_default(),
            a24 = p.amount_24h.unwrap_or_default(),
            c1 = p.count_1h.unwrap_or_default(),
            c24 = p.count_24h.unwrap_or_default(),
            window = p.window_secs,
            multiple = p.outflow_multiple,
            new = p.new_destinations,
            refusals = p.refusals,
            auth = p.auth_failures,
            quorum = p.quorum,
            rmax = p.restricted_max_per_payout.min(p.max_per_payout),
            r1h = p.restricted_amount_1h.min(p.amount_1h.unwrap_or_default()),
        );
        for (n, key) in approver_keys.iter().enumerate() {
            text.push_str(&format!(
                "\n[[policy.approvals.approvers]]\nname = \"approver-{}\"\nkey = \"{key}\"\n",
                n + 1
            ));
        }
        text
    }
}
