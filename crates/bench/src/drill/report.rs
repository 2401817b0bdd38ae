//! The drill's figures, as a table and as JSON, and the checks that decide
//! its exit code.

use std::fmt;
use std::time::Duration;

use alloy_primitives::U256;
use coffer_domain::format_units;
use serde::Serialize;

use super::attacks::Tally;
use super::config::DrillConfig;

/// When the signer froze, seen from the attacker's side.
#[derive(Clone, Debug, Serialize)]
pub struct FreezeFacts {
    /// The tripwire's tag.
    pub reason: String,
    /// From the first anomalous request to the freeze being visible.
    #[serde(serialize_with = "secs")]
    pub seen_after: Duration,
    /// Blocks mined between the first anomalous request and the freeze.
    pub blocks_after: u64,
}

/// What the logs say.
#[derive(Clone, Debug, Serialize)]
pub struct AuditFacts {
    /// Entries on the signer's log.
    pub signer_entries: usize,
    /// Ids of requests that reached the signer but are not on its log.
    pub missing: Vec<String>,
    /// `request.rejected` entries on the signer's log.
    pub rejected_on_log: u64,
    /// Attempts the signer refused before reading them.
    pub rejected_unread: u64,
    /// `coffer audit verify` on the signer's exported log: passed, and what it said.
    pub signer_verify: (bool, String),
    /// `coffer audit verify` on the gateway's log.
    pub gateway_verify: (bool, String),
    /// The same against the heads the signer recorded: the requests the
    /// attacker signed carried heads the gateway's log never had, which is
    /// how they show (a failure here is evidence, not a failed check).
    pub anchors: (bool, String),
}

/// The way back.
#[derive(Clone, Debug, Serialize)]
pub struct Recovery {
    /// From the first approver's signature to the honest payout's confirmation.
    pub secs: f64,
    /// Whether the signer was frozen when recovery began.
    pub was_frozen: bool,
    /// The honest payout's final status.
    pub honest_status: String,
    /// What the signer answered the attacker's payout after recovery.
    pub attacker_rule: String,
    /// What that payout moved (base units).
    pub attacker_got: U256,
}

/// One pass/fail line.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What is checked.
    pub name: &'static str,
    /// Whether it held.
    pub passed: bool,
    /// The figures.
    pub detail: String,
}

pub(crate) struct Facts {
    pub(crate) config: DrillConfig,
    pub(crate) attempts: Tally,
    pub(crate) stolen: U256,
    pub(crate) bound: U256,
    pub(crate) stolen_eth: U256,
    pub(crate) bound_eth: U256,
    pub(crate) attack_secs: u64,
    pub(crate) treasury_before: U256,
    pub(crate) cold_before: U256,
    pub(crate) cold_after: U256,
    pub(crate) hot_before: U256,
    pub(crate) hot_after: U256,
    pub(crate) freeze: Option<FreezeFacts>,
    pub(crate) audit: AuditFacts,
    pub(crate) recovery: Recovery,
    pub(crate) total_secs: f64,
}

/// Everything the drill found.
#[derive(Clone, Debug, Serialize)]
pub struct DrillReport {
    /// Attempts by kind and outcome.
    pub attempts: Vec<Attempts>,
    /// USDT that reached the attacker's addresses (whole units, decimal).
    pub stolen_usdt: String,
    /// The same, base units.
    pub stolen_units: U256,
    /// The share of the treasury (hot and cold) stolen, in percent.
    pub share_of_treasury_percent: f64,
    /// The velocity allowance over the attack's duration (the bound), USDT.
    pub bound_usdt: String,
    /// ETH that reached the attacker's addresses, and its bound (decimal).
    pub stolen_eth: String,
    /// The velocity allowance of ETH over the attack's duration.
    pub bound_eth: String,
    /// The attack's duration, seconds.
    pub attack_secs: u64,
    /// The freeze.
    pub freeze: Option<FreezeFacts>,
    /// Cold before and after, USDT.
    pub cold_usdt: [String; 2],
    /// Hot before and after, USDT.
    pub hot_usdt: [String; 2],
    /// The logs.
    pub audit: AuditFacts,
    /// The way back.
    pub recovery: Recovery,
    /// The checks; the drill passes when all hold.
    pub checks: Vec<Check>,
    /// Wall time of the whole drill, seconds.
    pub total_secs: f64,
    /// The configuration it ran.
    #[serde(skip)]
    pub config: DrillConfig,
}

/// Attempts of one kind with one outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Attempts {
    /// The attack.
    pub kind: String,
    /// What the system answered (a rule tag, a state, an HTTP status).
    pub outcome: String,
    /// How many.
    pub count: u64,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn whole(units: U256) -> String {
    format_units(units, 6)
}

impl DrillReport {
    pub(crate) fn new(f: Facts) -> Self {
        let share = if f.treasury_before.is_zero() {
            0.0
        } else {
            let bp = f.stolen.saturating_mul(U256::from(1_000_000u64)) / f.treasury_before;
            f64::from(u32::try_from(bp).unwrap_or(u32::MAX)) / 10_000.0
        };
        let checks = vec![
            Check {
                name: "stolen within the velocity allowance",
                passed: f.stolen <= f.bound,
                detail: format!(
                    "{} USDT taken, bound {} USDT over {} s",
                    whole(f.stolen),
                    whole(f.bound),
                    f.attack_secs
                ),
            },
            Check {
                name: "ETH stolen within its velocity allowance",
                passed: f.stolen_eth <= f.bound_eth,
                detail: format!(
                    "{} ETH taken, bound {} ETH",
                    format_units(f.stolen_eth, 18),
                    format_units(f.bound_eth, 18)
                ),
            },
            Check {
                name: "frozen within one block of the anomaly",
                passed: f.freeze.as_ref().is_some_and(|fr| fr.blocks_after <= 1),
                detail: match &f.freeze {
                    Some(fr) => format!(
                        "{} after {:.2} s and {} block(s)",
                        fr.reason,
                        fr.seen_after.as_secs_f64(),
                        fr.blocks_after
                    ),
                    None => "never froze".into(),
                },
            },
            Check {
                name: "cold untouched",
                passed: f.cold_after >= f.cold_before,
                detail: format!("{} USDT before, {} after", whole(f.cold_before), whole(f.cold_after)),
            },
            Check {
                name: "every attempt on the signer's audit log",
                passed: f.audit.missing.is_empty() && f.audit.rejected_on_log >= f.audit.rejected_unread,
                detail: format!(
                    "{} entries; {} request ids missing; {} rejections logged for {} refused unread",
                    f.audit.signer_entries,
                    f.audit.missing.len(),
                    f.audit.rejected_on_log,
                    f.audit.rejected_unread
                ),
            },
            Check {
                name: "signer's log verifies",
                passed: f.audit.signer_verify.0,
                detail: f.audit.signer_verify.1.clone(),
            },
            Check {
                name: "gateway's log verifies",
                passed: f.audit.gateway_verify.0,
                detail: f.audit.gateway_verify.1.replace('\n', "; "),
            },
            Check {
                name: "recovery: honest payout confirmed, attacker refused",
                passed: f.recovery.honest_status == "confirmed" && f.recovery.attacker_got.is_zero(),
                detail: format!(
                    "honest {} in {:.1} s; attacker: {}",
                    f.recovery.honest_status, f.recovery.secs, f.recovery.attacker_rule
                ),
            },
        ];
        DrillReport {
            attempts: f
                .attempts
                .into_iter()
                .map(|((kind, outcome), count)| Attempts { kind, outcome, count })
                .collect(),
            stolen_usdt: whole(f.stolen),
            stolen_units: f.stolen,
            share_of_treasury_percent: share,
            bound_usdt: whole(f.bound),
            stolen_eth: format_units(f.stolen_eth, 18),
            bound_eth: format_units(f.bound_eth, 18),
            attack_secs: f.attack_secs,
            freeze: f.freeze,
            cold_usdt: [whole(f.cold_before), whole(f.cold_after)],
            hot_usdt: [whole(f.hot_before), whole(f.hot_after)],
            audit: f.audit,
            recovery: f.recovery,
            checks,
            total_secs: f.total_secs,
            config: f.config,
        }
    }

    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

impl fmt::Display for DrillReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "CoinsPaid drill: an attacker owns the gateway host (keys, database, config, request key)\n")?;
        writeln!(f, "{:<42} {:<28} {:>7}", "attempt", "outcome", "count")?;
        writeln!(f, "{}", "-".repeat(79))?;
        for a in &self.attempts {
            writeln!(f, "{:<42} {:<28} {:>7}", a.kind, a.outcome, a.count)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "stolen:             {} USDT ({:.4}% of the treasury)",
            self.stolen_usdt, self.share_of_treasury_percent
        )?;
        writeln!(
            f,
            "bound:              {} USDT (the velocity allowance over {} s)",
            self.bound_usdt, self.attack_secs
        )?;
        writeln!(f, "stolen ETH:         {} ETH (bound {} ETH)", self.stolen_eth, self.bound_eth)?;
        match &self.freeze {
            Some(fr) => writeln!(
                f,
                "freeze:             {} after {:.2} s, {} block(s) after the first anomalous request",
                fr.reason,
                fr.seen_after.as_secs_f64(),
                fr.blocks_after
            )?,
            None => writeln!(f, "freeze:             none")?,
        }
        writeln!(f, "cold:               {} USDT before, {} after", self.cold_usdt[0], self.cold_usdt[1])?;
        writeln!(f, "hot:                {} USDT before, {} after", self.hot_usdt[0], self.hot_usdt[1])?;
        let anchors = if self.audit.anchors.0 { "borne out" } else { "contradicted (forged requests show)" };
        writeln!(f, "signer's anchors:   {anchors}: {}", self.audit.anchors.1.replace('\n', "; "))?;
        writeln!(
            f,
            "recovery:           restricted + allowlist + unfreeze by quorum, honest payout {} in {:.1} s; attacker: {}",
            self.recovery.honest_status, self.recovery.secs, self.recovery.attacker_rule
        )?;
        writeln!(f)?;
        for c in &self.checks {
            writeln!(f, "[{}] {}: {}", if c.passed { "pass" } else { "FAIL" }, c.name, c.detail)?;
        }
        write!(f, "\n{} in {:.1} s", if self.passed() { "PASSED" } else { "FAILED" }, self.total_secs)
    }
}
