//! The signer's controls as read: from the signer (`GET /v1/control`, its
//! `ControlState`) or as the gateway last read them (`GET /v1/signer`, its
//! own view of the same, with times as RFC 3339 beside Unix seconds).

use anyhow::Context as _;
use coffer_domain::{Address, ChainId};
use coffer_signer_api::{ControlState, Digest, FreezeInfo, PolicyChange, Profile, RuleTag};
use serde::Deserialize;
use serde_json::Value;

use crate::commands::approvals::text::when;

/// What the commands need of the controls, whoever answered.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Controls {
    pub(super) policy_version: u64,
    pub(super) profile: Profile,
    pub(super) frozen: Option<FreezeInfo>,
    pub(super) quorum: u8,
    pub(super) scheduled: Vec<Waiting>,
    pub(super) allowlist: Vec<(ChainId, Address)>,
    /// When the gateway read them (RFC 3339); `None` straight from the signer.
    pub(super) read_at: Option<String>,
}

/// A change with its quorum, waiting out its time lock.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Waiting {
    pub(super) change: PolicyChange,
    pub(super) digest: Digest,
    pub(super) applies_at: i64,
}

impl From<ControlState> for Controls {
    fn from(state: ControlState) -> Self {
        Self {
            policy_version: state.policy_version,
            profile: state.profile,
            frozen: state.frozen,
            quorum: state.quorum,
            scheduled: state
                .scheduled
                .into_iter()
                .map(|s| Waiting { change: s.proposal.change, digest: s.digest, applies_at: s.applies_at })
                .collect(),
            allowlist: state.allowlist,
            read_at: None,
        }
    }
}

/// `GET /v1/signer` on the gateway.
#[derive(Deserialize)]
struct GatewaySigner {
    read_at: String,
    controls: GatewayControls,
}

#[derive(Deserialize)]
struct GatewayControls {
    policy_version: u64,
    profile: Profile,
    frozen: Option<GatewayFreeze>,
    quorum: u8,
    #[serde(default)]
    scheduled: Vec<GatewayScheduled>,
    #[serde(default)]
    allowlist: Vec<GatewayAllowed>,
}

#[derive(Deserialize)]
struct GatewayFreeze {
    reason: RuleTag,
    message: String,
    since_unix: i64,
    by: Option<String>,
}

#[derive(Deserialize)]
struct GatewayScheduled {
    change: PolicyChange,
    digest: Digest,
    applies_at: String,
}

#[derive(Deserialize)]
struct GatewayAllowed {
    chain_id: ChainId,
    destination: Address,
}

fn rfc3339(text: &str) -> anyhow::Result<i64> {
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("{text:?} is not RFC 3339"))?;
    Ok(at.unix_timestamp())
}

impl Controls {
    /// The signer's own answer.
    pub(super) fn from_signer(raw: &Value) -> anyhow::Result<Self> {
        let state: ControlState = serde_json::from_value(raw.clone())
            .context("the signer's answer to GET /v1/control is no control state")?;
        Ok(state.into())
    }

    /// The gateway's last reading.
    pub(super) fn from_gateway(raw: &Value) -> anyhow::Result<Self> {
        let seen: GatewaySigner = serde_json::from_value(raw.clone())
            .context("the gateway's answer to GET /v1/signer is not the signer's controls")?;
        let c = seen.controls;
        let scheduled = c
            .scheduled
            .into_iter()
            .map(|s| Ok(Waiting { change: s.change, digest: s.digest, applies_at: rfc3339(&s.applies_at)? }))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            policy_version: c.policy_version,
            profile: c.profile,
            frozen: c.frozen.map(|f| FreezeInfo {
                reason: f.reason,
                message: f.message,
                since: f.since_unix,
                by: f.by,
            }),
            quorum: c.quorum,
            scheduled,
            allowlist: c.allowlist.into_iter().map(|a| (a.chain_id, a.destination)).collect(),
            read_at: Some(seen.read_at),
        })
    }

    /// For a person, one fact a line.
    pub(super) fn show(&self, now: i64) -> String {
        let mut out = String::new();
        match &self.frozen {
            Some(freeze) => {
                let by = freeze.by.as_deref().map(|name| format!(" by {name}")).unwrap_or_default();
                out.push_str(&format!(
                    "FROZEN      since {}{by}: {} ({})\n",
                    when(freeze.since, now),
                    freeze.message,
                    freeze.reason
                ));
            }
            None => out.push_str("not frozen\n"),
        }
        out.push_str(&format!("profile     {}\n", self.profile.as_str()));
        out.push_str(&format!("version     {}\n", self.policy_version));
        out.push_str(&format!("quorum      {} approvers for a loosening change\n", self.quorum));
        if self.scheduled.is_empty() {
            out.push_str("scheduled   none\n");
        }
        for waiting in &self.scheduled {
            out.push_str(&format!(
                "scheduled   {}, applies at {}\n            digest {}\n",
                waiting.change.describe(),
                when(waiting.applies_at, now),
                waiting.digest.grouped()
            ));
        }
        if self.allowlist.is_empty() {
            out.push_str("allowlist   empty\n");
        }
        for (chain, address) in &self.allowlist {
            out.push_str(&format!("allowlist   chain {chain} {}\n", address.to_checksum(None)));
        }
        if let Some(read_at) = &self.read_at {
            out.push_str(&format!("read        by the gateway at {read_at} (its word, not the signer's)\n"));
        }
        out
    }
}
