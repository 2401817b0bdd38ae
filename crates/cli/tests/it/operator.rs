#![allow(clippy::unwrap_used)]

use coffer_store::on_both_backends;
use coffer_store::testing::{Kind, TestDatabase};

use crate::support::{coffer, run_err, run_ok, write_config};

on_both_backends!(merchants_and_keys_are_managed_from_the_command_line);

async fn merchants_and_keys_are_managed_from_the_command_line(kind: Kind) {
    let Some(db) = TestDatabase::new(kind).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), db.url(), "");
    let with_config = |args: &[&str]| {
        let mut command = coffer();
        command.args(args).arg("--config").arg(&config);
        command
    };
    let merchant = run_ok(&mut with_config(&["merchant", "create", "--name", "Acme Coffee"])).trim().to_owned();
    assert!(merchant.starts_with("mer_"), "{merchant}");
    assert!(run_ok(&mut with_config(&["merchant", "list"])).contains("Acme Coffee"));

    let key = run_ok(&mut with_config(&[
        "apikey",
        "create",
        "--merchant",
        &merchant,
        "--scopes",
        "invoices:read,invoices:write",
        "--label",
        "shop",
    ]));
    let key = key.trim();
    assert!(key.starts_with("coffer_sk_") && key.len() > 60, "{key}");
    let listed = run_ok(&mut with_config(&["apikey", "list", "--merchant", &merchant]));
    assert!(listed.contains("invoices:read,invoices:write") && listed.contains("active"), "{listed}");
    assert!(!listed.contains(key.rsplit('_').next().unwrap()), "the secret is never shown again");

    // Revoke by pasting the token's prefix, as people do.
    let prefix = &key[..key.rfind('_').unwrap()];
    run_ok(&mut with_config(&["apikey", "revoke", prefix]));
    assert!(run_ok(&mut with_config(&["apikey", "list", "--merchant", &merchant])).contains("revoked"));
    let again = run_err(&mut with_config(&["apikey", "revoke", prefix]));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already revoked"));

    let bad_scope =
        run_err(&mut with_config(&["apikey", "create", "--merchant", &merchant, "--scopes", "invoices:delete"]));
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("invoices:delete"));
    let ghost = run_err(&mut with_config(&[
        "apikey",
        "create",
        "--merchant",
        "mer_0195f3a0c1b27c3e9a4d5e6f70812345",
        "--scopes",
        "invoices:read",
    ]));
    assert!(
        String::from_utf8_lossy(&ghost.stderr).contains("no merchant"),
        "{}",
        String::from_utf8_lossy(&ghost.stderr)
    );
}

#[test]
fn an_invalid_configuration_fails_with_a_sentence_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", "");
    let text = std::fs::read_to_string(&config).unwrap().replace("confirmations = 1", "confirmations = 0");
    std::fs::write(&config, text).unwrap();
    let output = run_err(coffer().args(["gateway", "--config"]).arg(&config));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("chains[0].confirmations"), "{stderr}");

    let output =
        run_err(coffer().args(["config", "check", "--config"]).arg(&config).env("COFFER_LISTEN_ADDR", "nowhere"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("LISTEN_ADDR") && stderr.contains("COFFER_"), "{stderr}");
}

#[test]
fn config_check_never_prints_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "postgres://coffer:hunter2@db.internal/coffer", "");
    let out = run_ok(coffer().args(["config", "check", "--config"]).arg(&config));
    assert!(!out.contains("hunter2") && !out.contains(crate::support::XPUB), "{out}");
    assert!(out.contains("<redacted>"), "{out}");
}

#[test]
fn a_reader_that_went_away_ends_the_command_quietly() {
    // As in `coffer config check | head -0`: the pipe's reader is closed
    // before coffer writes, so its first write fails with a broken pipe.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", "");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = coffer().args(["config", "check", "--config"]).arg(&config).stdout(writer).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(141), "{stderr}");
}

#[test]
fn help_documents_every_subcommand() {
    let help = run_ok(coffer().arg("--help"));
    for sub in ["gateway", "dev", "merchant", "apikey", "audit", "signer", "config", "bench"] {
        let line = help.lines().find(|l| l.trim_start().starts_with(sub)).unwrap_or_else(|| panic!("{sub} missing"));
        assert!(line.trim().len() > sub.len() + 10, "{sub} has no description: {line}");
    }
}

#[test]
fn the_bench_runs_end_to_end_and_prints_its_figures() {
    // A smoke run (1 s, 2 connections) so the bench cannot rot; the figures
    // themselves are measured by hand in release builds (README).
    let out = run_ok(coffer().args(["bench", "invoices", "--concurrency", "2", "--duration", "1s"]));
    for phase in ["POST /v1/invoices", "GET /v1/invoices/{id}"] {
        let line = out.lines().find(|l| l.starts_with(phase)).unwrap_or_else(|| panic!("no {phase} line in {out}"));
        assert!(line.contains("errors    0"), "{line}");
        assert!(line.contains("p99"), "{line}");
    }
}

#[test]
fn the_chain_benches_run_end_to_end_and_print_their_figures() {
    // Tiny runs, so the benches cannot rot; the figures are measured in release builds (README).
    let out = run_ok(coffer().args(["bench", "settlement", "--burst", "3", "--rounds", "2"]));
    assert!(out.contains("6 invoices: p50") && out.contains("bad signatures: 0"), "{out}");
    let out = run_ok(coffer().args([
        "bench",
        "catchup",
        "--blocks",
        "40",
        "--payments",
        "30",
        "--invoices",
        "300",
        "--confirmations",
        "2",
        "--log-range",
        "10",
    ]));
    assert!(out.contains("30 invoices settled") && out.contains("30 transfers matched"), "{out}");
    assert!(out.contains("RPC budget: ") && out.contains("requests per block at the head"), "{out}");
    let out = run_ok(coffer().args(["bench", "memory", "--invoices", "500"]));
    assert!(out.contains("watching 500 open invoices: resident"), "{out}");
}
