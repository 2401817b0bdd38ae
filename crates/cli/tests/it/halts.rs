//! `coffer chain status` and `coffer chain resolve`, run as an operator
//! runs them, on a store where a deep reorganisation took away a booked
//! payment that never came back.

#![allow(clippy::unwrap_used)]

use coffer_domain::ChainId;
use coffer_store::on_both_backends;
use coffer_store::testing::{Kind, TestDatabase, displaced_payment};

use crate::support::{coffer, run_err, run_ok, write_config};

on_both_backends!(an_operator_sees_a_halt_and_writes_the_gone_payment_off);

async fn an_operator_sees_a_halt_and_writes_the_gone_payment_off(kind: Kind) {
    let Some(db) = TestDatabase::new(kind).await else { return };
    let store = coffer_store::open(db.backend()).await.unwrap();
    let (invoice, payment) = displaced_payment(&*store, ChainId(31337)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), db.url(), "");
    let with_config = |args: &[&str]| {
        let mut command = coffer();
        command.args(args).arg("--config").arg(&config);
        command
    };
    let text = |output: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    };

    let halted = run_err(&mut with_config(&["chain", "status"]));
    let shown = text(&halted);
    assert!(shown.contains("HALTED transfer_gone"), "{shown}");
    assert!(shown.contains(&format!("displaced {} of invoice {}", payment.id, invoice.id)), "{shown}");
    assert!(shown.contains("1 chain(s) halted"), "{shown}");

    // Clearing is not a decision about money that is gone.
    let cleared = run_err(&mut with_config(&["chain", "resolve", "--chain", "31337", "--clear", "--reason", "x"]));
    assert!(text(&cleared).contains("decide with --wait BLOCKS or --write-off"), "{}", text(&cleared));

    let written = run_ok(&mut with_config(&[
        "chain",
        "resolve",
        "--chain",
        "31337",
        "--write-off",
        "--reason",
        "double spend confirmed with the payer's wallet",
    ]));
    assert_eq!(written.trim(), payment.id.to_string());
    let after = run_ok(&mut with_config(&["chain", "status"]));
    assert!(after.contains("not halted") && after.contains("wrote off 1 displaced payment(s)"), "{after}");
    assert!(after.contains("double spend confirmed"), "the reason is kept: {after}");
    let books = run_ok(&mut with_config(&["ledger", "check"]));
    assert!(books.contains("losses (written off)") && books.contains("ledger ok"), "{books}");
    let nothing = run_err(&mut with_config(&["chain", "resolve", "--chain", "31337", "--write-off", "--reason", "x"]));
    assert!(text(&nothing).contains("no displaced payments"), "{}", text(&nothing));

    // The decision is on the audit log, with what it applied to.
    let logged = store.entries(0, 10).await.unwrap();
    assert_eq!(logged.len(), 1, "{logged:?}");
    let record = &logged[0].record;
    assert_eq!(
        (record.actor.as_str(), record.action.as_str(), record.subject.as_str()),
        ("operator", "chain.halt_resolved", "chain:31337")
    );
    assert_eq!(record.detail["decision"], "write_off");
    assert_eq!(record.detail["payments"], serde_json::json!([payment.id.to_string()]));
}
