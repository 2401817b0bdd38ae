#![allow(clippy::unwrap_used)]

//! The signer's audit log: every decision and every refused request is on
//! it, and `coffer audit verify` names the first entry someone changed.

use alloy_primitives::Address;
use coffer_signer_api::RequestKey;

use super::harness::{Limits, Treasury, now, payout_id, usdt};
use crate::support::{coffer, run_err, run_ok};

#[tokio::test]
async fn the_signers_log_holds_every_attempt_and_an_edit_is_named_at_its_entry() {
    let mut treasury = Treasury::new(Limits { usdt_per_payout: "10", ..Limits::default() }).await;
    treasury.fund_hot(10, 50_000_000_000).await;
    treasury.start().await;
    let to = Address::repeat_byte(0x71);
    let paid = payout_id();
    treasury.pay(&paid, "USDT", usdt(5), to).await;
    treasury.pay(&payout_id(), "USDT", usdt(50), to).await; // over the per-payout limit
    let stranger = RequestKey::generate().unwrap();
    let body = serde_json::json!({ "id": payout_id() });
    treasury.send_as(&stranger, "POST", "/v1/payouts", &body, now()).await; // forged
    treasury.wait_for(&paid, "confirmed").await;

    let log = treasury.dir.path().join("signer-audit.jsonl");
    let anchors = treasury.dir.path().join("signer-anchors.jsonl");
    run_ok(
        coffer()
            .args(["signer", "audit-export", "--config"])
            .arg(&treasury.config)
            .arg("--out")
            .arg(&log)
            .arg("--anchors-out")
            .arg(&anchors),
    );
    let text = std::fs::read_to_string(&log).unwrap();
    for action in [
        "signer.started",
        "payout.requested",
        "payout.signed",
        "payout.refused",
        "request.rejected",
        "payout.confirmed",
    ] {
        assert!(text.contains(&format!("\"action\":\"{action}\"")), "{action} missing from\n{text}");
    }
    assert!(text.contains("limit.per_payout") && text.contains("auth.signature"), "{text}");
    let verified = run_ok(coffer().args(["audit", "verify", "--file"]).arg(&log));
    assert!(verified.starts_with("ok: "), "{verified}");
    assert!(std::fs::read_to_string(&anchors).unwrap().lines().count() >= 1, "the gateway heads were recorded");

    // Someone on the signer host turns the refusal into a signature.
    let lines: Vec<&str> = text.lines().collect();
    let refused = lines.iter().position(|l| l.contains("\"payout.refused\"")).unwrap();
    let mut edited = lines.clone();
    let changed = lines[refused].replace("payout.refused", "payout.signed");
    edited[refused] = &changed;
    std::fs::write(&log, edited.join("\n") + "\n").unwrap();
    let failure = run_err(coffer().args(["audit", "verify", "--file"]).arg(&log));
    let said = String::from_utf8_lossy(&failure.stdout).to_string() + &String::from_utf8_lossy(&failure.stderr);
    assert!(said.contains(&format!("entry {}", refused + 1)) && said.contains("edited"), "{said}");

    // Or deletes it.
    let mut deleted = lines.clone();
    deleted.remove(refused);
    std::fs::write(&log, deleted.join("\n") + "\n").unwrap();
    let failure = run_err(coffer().args(["audit", "verify", "--file"]).arg(&log));
    let said = String::from_utf8_lossy(&failure.stdout).to_string() + &String::from_utf8_lossy(&failure.stderr);
    assert!(said.contains("deleted"), "{said}");
}
