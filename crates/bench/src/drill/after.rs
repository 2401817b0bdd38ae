//! After the attack: what the logs say (every attempt on the signer's log,
//! both logs verify), and the way back as CoinsPaid needed it.

use std::time::{Duration, Instant};

use alloy_primitives::Address;
use anyhow::Context as _;
use coffer_signer_api::{PolicyChange, Profile};
use serde_json::{Value, json};

use super::attacks::Attack;
use super::config::DrillConfig;
use super::report::{AuditFacts, Recovery};
use super::setup::World;
use super::{fresh_address, now};

impl World {
    /// Exports the signer's log; finds every attempt that reached the
    /// signer on it; verifies both logs offline, the gateway's against the
    /// heads the signer recorded.
    pub(crate) async fn audit(&self, attack: &Attack) -> anyhow::Result<AuditFacts> {
        // Give the gateway's outbox time to hand over what it accepted.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let log = self.dir().join("signer-audit.jsonl");
        let anchors = self.dir().join("signer-anchors.jsonl");
        let config = self.signer_config.to_string_lossy().into_owned();
        let out = self
            .coffer(&[
                "signer",
                "audit-export",
                "--config",
                &config,
                "--out",
                &log.to_string_lossy(),
                "--anchors-out",
                &anchors.to_string_lossy(),
            ])
            .await?;
        anyhow::ensure!(out.status.success(), "signer audit-export: {}", String::from_utf8_lossy(&out.stderr));
        let text = std::fs::read_to_string(&log).context("the signer's exported log")?;
        let entries: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let subjects: std::collections::HashSet<&str> = entries.iter().filter_map(|e| e["subject"].as_str()).collect();
        let missing: Vec<String> =
            attack.signer_ids.iter().filter(|id| !subjects.contains(id.as_str())).cloned().collect();
        let rejected = entries.iter().filter(|e| e["action"] == "request.rejected").count();
        let signer_verify = self.coffer(&["audit", "verify", "--file", &log.to_string_lossy()]).await?;
        let gateway_config = self.gateway_config.to_string_lossy().into_owned();
        let gateway_verify = self.coffer(&["audit", "verify", "--config", &gateway_config]).await?;
        // The attacker signed requests with heads of its choosing: the
        // signer's record of them no longer matches the gateway's log.
        let anchored = self
            .coffer(&["audit", "verify", "--config", &gateway_config, "--anchors", &anchors.to_string_lossy()])
            .await?;
        let said = |o: &std::process::Output| {
            let text = if o.status.success() { &o.stdout } else { &o.stderr };
            String::from_utf8_lossy(text).trim().to_owned()
        };
        Ok(AuditFacts {
            signer_entries: entries.len(),
            missing,
            rejected_on_log: u64::try_from(rejected).unwrap_or(u64::MAX),
            rejected_unread: attack.rejected_unread,
            signer_verify: (signer_verify.status.success(), said(&signer_verify)),
            gateway_verify: (gateway_verify.status.success(), said(&gateway_verify)),
            anchors: (anchored.status.success(), said(&anchored)),
        })
    }

    /// The way back: approvers switch to `restricted` (one signature),
    /// allowlist an honest merchant's payee and unfreeze (the quorum each).
    /// Then an honest payout to the allowlisted payee confirms while the
    /// attacker's payout to its own address is refused. Timed from the
    /// first approver's signature to the honest payout's confirmation.
    pub(crate) async fn recover(&self, config: &DrillConfig) -> anyhow::Result<Recovery> {
        let started = Instant::now();
        let quorum: Vec<usize> = (0..usize::from(config.policy.quorum)).collect();
        self.change(PolicyChange::Profile { profile: Profile::Restricted }, &[0]).await?;
        let payee = self.payees[1];
        let allow = PolicyChange::Allow { chain_id: coffer_domain::ChainId(31337), destination: payee };
        self.change(allow, &quorum).await?;
        let frozen = !self.control_state().await?["frozen"].is_null();
        if frozen {
            self.change(PolicyChange::Unfreeze, &quorum).await?;
        }
        // A small honest payout: what restricted is for.
        let whole = config.policy.restricted_max_per_payout.min(config.policy.approval_above).clamp(1, 10);
        let merchant = &self.merchants[self.merchants.len() - 1];
        let (status, body) = self.payout(merchant, whole, payee, "recovery-honest").await?;
        anyhow::ensure!(status == 201, "the honest payout after recovery was not accepted: {status} {body}");
        let id = body["id"].as_str().context("payout id")?.to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        let last = loop {
            let (_, payout) = self.api(merchant, "GET", &format!("/v1/payouts/{id}"), None, None).await?;
            if ["confirmed", "refused", "failed"].contains(&payout["status"].as_str().unwrap_or_default()) {
                break payout;
            }
            anyhow::ensure!(Instant::now() < deadline, "the honest payout after recovery stayed {payout}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let honest = last["status"].as_str().unwrap_or_default().to_owned();
        let secs = started.elapsed().as_secs_f64();
        // The attacker, still on the gateway host, tries again.
        let attacker: Address = fresh_address(0xa1, 0);
        let intent = json!({ "id": format!("po_{}", uuid::Uuid::now_v7().simple()),
            "merchant": self.merchants[0].id.to_string(), "chain_id": 31337, "asset": "USDT",
            "amount": super::usdt(whole).to_string(), "destination": attacker });
        let (_, answer) = self.signer_signed("POST", "/v1/payouts", &intent, now()).await?;
        let attacker_rule = answer["rule"].as_str().or(answer["state"].as_str()).unwrap_or_default().to_owned();
        let attacker_got = self.held_by(&[attacker]).await?;
        Ok(Recovery { secs, was_frozen: frozen, honest_status: honest, attacker_rule, attacker_got })
    }
}
