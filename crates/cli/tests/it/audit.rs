//! `coffer audit export` and `coffer audit verify`, run as an incident
//! responder runs them: on an export edited, cut and shuffled by hand, on a
//! log rewritten whole with every hash recomputed (caught only by the
//! signer's anchors), and on the store itself.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use coffer_audit::{Anchor, Entry, Head, parse_jsonl, to_jsonl};
use coffer_store::on_both_backends;
use coffer_store::testing::{Kind, TestDatabase};

use crate::support::{coffer, run_err, run_ok, write_config};

on_both_backends!(an_exported_log_verifies_and_each_tampering_is_named, the_store_itself_is_verified);

/// A database whose log holds five operator acts, and a command runner.
struct Setup {
    db: TestDatabase,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    async fn new(kind: Kind) -> Option<Self> {
        let db = TestDatabase::new(kind).await?;
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), db.url(), "");
        let setup = Self { db, dir, config };
        let a = run_ok(&mut setup.coffer(&["merchant", "create", "--name", "Acme"])).trim().to_owned();
        let b = run_ok(&mut setup.coffer(&["merchant", "create", "--name", "Bob's"])).trim().to_owned();
        let key = run_ok(&mut setup.coffer(&["apikey", "create", "--merchant", &a, "--scopes", "invoices:read"]));
        run_ok(&mut setup.coffer(&["apikey", "create", "--merchant", &b, "--scopes", "invoices:write"]));
        let key = key.trim();
        run_ok(&mut setup.coffer(&["apikey", "revoke", &key[..key.rfind('_').unwrap()]]));
        Some(setup)
    }

    /// `coffer ARGS --config coffer.toml`.
    fn coffer(&self, args: &[&str]) -> Command {
        let mut command = coffer();
        command.args(args).arg("--config").arg(&self.config);
        command
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn verify_file(path: &Path, anchors: Option<&Path>) -> Command {
    let mut command = coffer();
    command.args(["audit", "verify", "--file"]).arg(path);
    if let Some(anchors) = anchors {
        command.arg("--anchors").arg(anchors);
    }
    command
}

/// Fails, and says so on stderr with all of `words`.
fn fails_saying(command: &mut Command, words: &[&str]) {
    let output = run_err(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for word in words {
        assert!(stderr.contains(word), "{word:?} not in {stderr}");
    }
}

async fn an_exported_log_verifies_and_each_tampering_is_named(kind: Kind) {
    let Some(s) = Setup::new(kind).await else { return };
    let out = s.path("audit.jsonl");
    run_ok(s.coffer(&["audit", "export"]).arg("--out").arg(&out));
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(run_ok(&mut s.coffer(&["audit", "export"])), text, "stdout and --out agree");
    let log: Vec<Entry> = parse_jsonl(&text).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.record.action.as_str()).collect();
    assert_eq!(
        actions,
        ["merchant.created", "merchant.created", "api_key.created", "api_key.created", "api_key.revoked"]
    );
    assert!(log.iter().all(|e| e.record.actor == "operator"));
    let ok = run_ok(&mut verify_file(&out, None));
    assert_eq!(ok.trim(), format!("ok: 5 entries, head {}", log[4].hash));

    let lines: Vec<&str> = text.lines().collect();
    let with_lines = |name: &str, lines: &[String]| s.write(name, &format!("{}\n", lines.join("\n")));
    let owned = || lines.iter().map(|l| (*l).to_owned()).collect::<Vec<String>>();

    // One line's detail edited by hand.
    let mut edited = owned();
    edited[2] = edited[2].replace("invoices:read", "invoices:read,invoices:write");
    assert_ne!(edited[2], lines[2]);
    fails_saying(&mut verify_file(&with_lines("edited.jsonl", &edited), None), &["entry 3", "edited"]);

    // One line deleted.
    let mut deleted = owned();
    deleted.remove(1);
    fails_saying(&mut verify_file(&with_lines("deleted.jsonl", &deleted), None), &["entry 2", "deleted"]);

    // Two lines swapped.
    let mut swapped = owned();
    swapped.swap(2, 3);
    fails_saying(&mut verify_file(&with_lines("swapped.jsonl", &swapped), None), &["entry 3", "reordered"]);

    // The whole log rewritten from entry 2 on, every hash recomputed: it
    // verifies on its own, but not against the heads the signer recorded.
    let mut head = Head::EMPTY;
    let rewritten: Vec<Entry> = log
        .iter()
        .map(|e| {
            let mut record = e.record.clone();
            if e.seq == 2 {
                record.detail = serde_json::json!({ "name": "Mallory" });
            }
            let entry = Entry::next(head, record);
            head = entry.head();
            entry
        })
        .collect();
    let forged = s.write("rewritten.jsonl", &to_jsonl(&rewritten));
    let alone = run_ok(&mut verify_file(&forged, None));
    assert_eq!(alone.trim(), format!("ok: 5 entries, head {}", rewritten[4].hash));
    let anchors: Vec<Anchor> = log.iter().map(|e| Anchor { at_ms: e.record.at_ms, head: e.hash }).collect();
    let anchors = s.write("anchors.jsonl", &to_jsonl(&anchors));
    run_ok(&mut verify_file(&out, Some(&anchors)));
    fails_saying(&mut verify_file(&forged, Some(&anchors)), &["anchor 2", "lost", "rewritten after entry 1"]);
    // Cut short: the signer saw the last entry.
    fails_saying(&mut verify_file(&with_lines("cut.jsonl", &owned()[..4]), Some(&anchors)), &["anchor 5", "lost"]);
    // Not a log at all: the line is named.
    let junk = s.write("junk.jsonl", &format!("{}\nnot json\n", lines[0]));
    fails_saying(&mut verify_file(&junk, None), &["line 2"]);
}

async fn the_store_itself_is_verified(kind: Kind) {
    let Some(s) = Setup::new(kind).await else { return };
    let ok = run_ok(&mut s.coffer(&["audit", "verify"]));
    assert!(ok.starts_with("ok: 5 entries, head "), "{ok}");

    // The last row deleted: the chain alone cannot tell, the stored head can.
    s.db.execute_raw("DELETE FROM audit_log WHERE seq = 5").await;
    fails_saying(&mut s.coffer(&["audit", "verify"]), &["entry 5", "deleted", "head"]);

    // A row edited in the database: named before anything after it.
    s.db.execute_raw("UPDATE audit_log SET detail = '{\"name\":\"Evil\"}' WHERE seq = 1").await;
    fails_saying(&mut s.coffer(&["audit", "verify"]), &["entry 1", "edited"]);
}
