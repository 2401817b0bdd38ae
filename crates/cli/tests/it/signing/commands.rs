#![allow(clippy::unwrap_used)]

//! The approvers' own commands against a real signer process: keys made by
//! `coffer approver keygen`, a freeze by one of them with `coffer freeze`,
//! and the unfreeze proposed and approved by two with `coffer policy`.

use std::path::Path;

use serde_json::Value;

use super::harness::{Limits, Treasury};
use crate::support::{coffer, run_ok};

fn keygen(dir: &Path, name: &str, passphrase: &Path) -> String {
    let out = run_ok(
        coffer()
            .args(["approver", "keygen", "--dev-kdf", "--json", "--name", name, "--out"])
            .arg(dir.join(format!("{name}.key")))
            .arg("--passphrase-file")
            .arg(passphrase),
    );
    let printed: Value = serde_json::from_str(&out).unwrap();
    printed["public_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn approvers_freeze_with_one_key_and_unfreeze_with_two_using_their_own_commands() {
    let keys = tempfile::tempdir().unwrap();
    let passphrase = keys.path().join("passphrase");
    std::fs::write(&passphrase, "an approver's passphrase, long enough").unwrap();
    let mut approvers = String::from("[policy.approvals]\nquorum = 2\n");
    for name in ["alice", "bob", "carol"] {
        let key = keygen(keys.path(), name, &passphrase);
        approvers.push_str(&format!("[[policy.approvals.approvers]]\nname = \"{name}\"\nkey = \"{key}\"\n"));
    }
    let mut treasury = Treasury::new(Limits { policy_extra: approvers, ..Limits::default() }).await;
    treasury.fund_hot(1, 0).await;
    treasury.start().await;
    let key = |name: &str| keys.path().join(format!("{name}.key"));

    run_ok(
        coffer()
            .args([
                "freeze",
                "--signer",
                &treasury.url,
                "--reason",
                "alice saw withdrawals she did not expect",
                "--key",
            ])
            .arg(key("alice"))
            .arg("--passphrase-file")
            .arg(&passphrase),
    );
    let state = treasury.control_state().await;
    assert_eq!(state["frozen"]["reason"], "freeze.approver", "{state}");
    assert_eq!(state["frozen"]["by"], "alice");
    let shown = run_ok(coffer().args(["policy", "show", "--signer", &treasury.url]));
    assert!(shown.to_lowercase().contains("frozen"), "{shown}");

    let proposal = keys.path().join("unfreeze.json");
    run_ok(coffer().args(["policy", "propose", "unfreeze", "--signer", &treasury.url, "--out"]).arg(&proposal));
    for (name, expected) in [("bob", "waiting"), ("carol", "applied")] {
        let out = run_ok(
            coffer()
                .args(["policy", "approve", "--yes", "--json", "--signer", &treasury.url])
                .arg(&proposal)
                .arg("--key")
                .arg(key(name))
                .arg("--passphrase-file")
                .arg(&passphrase),
        );
        assert!(out.contains(expected), "{name}: {out}");
    }
    assert!(treasury.control_state().await["frozen"].is_null());
}
