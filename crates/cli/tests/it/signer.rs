//! `coffer signer init | xpub`: the seed encrypted at rest, as an operator runs them.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::support::{coffer, run_err, run_ok};

/// anvil's mnemonic.
const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// Its deposit account's xpub (`m/44'/60'/0'`); the signer crate's tests tie
/// it to anvil's accounts through the gateway's own public derivation.
const DEV_XPUB: &str =
    "xpub6Ce9NcJvTk36xtLSrJLZqE7wtgA5deCeYs7rSQtreh4cj6ByPtrg9sD7V2FNFLPnf8heNP3FGkeV9qwfzvZNSd54JoNXVsXFYSYwHsnJxqP";
const PASSPHRASE: &str = "correct horse battery staple";

fn passphrase_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{text}\n")).unwrap();
    path
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The `name value` lines `init` prints, checked for shape.
fn public_lines(stdout: &str) -> [String; 3] {
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let value = |line: &str, name: &str| line.strip_prefix(name).unwrap_or_else(|| panic!("{line:?}")).to_owned();
    let [xpub, hot, identity] =
        [value(lines[0], "xpub "), value(lines[1], "hot_wallet "), value(lines[2], "identity ")];
    assert!(xpub.starts_with("xpub") && xpub.len() == 111, "{xpub}");
    assert!(hot.starts_with("0x") && hot.len() == 42, "{hot}");
    assert!(identity.starts_with("ed25519:") && identity.len() == 8 + 64, "{identity}");
    [xpub, hot, identity]
}

/// True when `text` has two whitespace-separated lowercase words in a row,
/// as any BIP-39 phrase does.
fn reads_as_a_phrase(text: &str) -> bool {
    let word = |t: &str| (3..=8).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_lowercase());
    text.split_whitespace().collect::<Vec<_>>().windows(2).any(|w| word(w[0]) && word(w[1]))
}

fn assert_encrypted_seed(dir: &Path) -> serde_json::Value {
    assert_eq!(mode(dir), 0o700);
    let seed = dir.join("seed.enc");
    assert_eq!(mode(&seed), 0o600);
    assert!(!dir.join("seed.mnemonic").exists());
    let text = std::fs::read_to_string(&seed).unwrap();
    assert!(!reads_as_a_phrase(&text), "seed.enc reads as a phrase: {text}");
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file["format"], "coffer-seed/1");
    assert_eq!(file["kdf"]["algorithm"], "argon2id");
    assert_eq!(file["cipher"]["algorithm"], "xchacha20poly1305");
    file
}

#[test]
fn signer_init_prints_xpub_hot_wallet_and_identity_and_stores_no_phrase() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("signer");
    let secret = passphrase_file(tmp.path(), "passphrase", PASSPHRASE);
    let init = || {
        let mut command = coffer();
        command.args(["signer", "init", "--dev-kdf", "--dir"]).arg(&dir).arg("--passphrase-file").arg(&secret);
        command.output().unwrap()
    };
    let first = init();
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains("created a new seed") && stderr(&first).contains("dev-only cost"));
    let [xpub, ..] = public_lines(&String::from_utf8(first.stdout.clone()).unwrap());
    let file = assert_encrypted_seed(&dir);
    assert_eq!(file["kdf"]["memory_kib"], 8192, "--dev-kdf asks for the floor");

    let again = init();
    assert!(stderr(&again).contains("kept it"), "{}", stderr(&again));
    assert_eq!(again.stdout, first.stdout, "the same seed, the same three lines");

    // The passphrase from the environment opens it just as well.
    let printed =
        run_ok(coffer().args(["signer", "xpub", "--dir"]).arg(&dir).env("COFFER_SIGNER_PASSPHRASE", PASSPHRASE));
    assert_eq!(printed, format!("xpub {xpub}\n"));
}

#[test]
fn signer_init_uses_the_production_cost_unless_told_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("signer");
    let output = coffer()
        .args(["signer", "init", "--dir"])
        .arg(&dir)
        .env("COFFER_SIGNER_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("production cost (argon2id m = 64 MiB, t = 3, p = 1)"), "{}", stderr(&output));
    public_lines(&String::from_utf8(output.stdout).unwrap());
    let file = assert_encrypted_seed(&dir);
    assert_eq!((file["kdf"]["memory_kib"].as_u64(), file["kdf"]["iterations"].as_u64()), (Some(65536), Some(3)));
}

#[test]
fn signer_refuses_a_wrong_short_or_missing_passphrase_with_a_sentence() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("signer");
    let right = passphrase_file(tmp.path(), "right", PASSPHRASE);
    run_ok(coffer().args(["signer", "init", "--dev-kdf", "--dir"]).arg(&dir).arg("--passphrase-file").arg(&right));

    let wrong = passphrase_file(tmp.path(), "wrong", "correct horse battery stapler");
    let refused = run_err(coffer().args(["signer", "xpub", "--dir"]).arg(&dir).arg("--passphrase-file").arg(&wrong));
    let expected = format!("the passphrase does not open {}", dir.join("seed.enc").display());
    assert!(stderr(&refused).contains(&expected), "{}", stderr(&refused));
    assert!(refused.stdout.is_empty());
    assert!(!stderr(&refused).contains("panicked"), "{}", stderr(&refused));

    let short =
        run_err(coffer().args(["signer", "xpub", "--dir"]).arg(&dir).env("COFFER_SIGNER_PASSPHRASE", "hunter2"));
    assert!(stderr(&short).contains("at least 12 characters"), "{}", stderr(&short));
    assert!(!stderr(&short).contains("hunter2"), "{}", stderr(&short));

    let missing = run_err(coffer().args(["signer", "xpub", "--dir"]).arg(&dir));
    for part in ["COFFER_SIGNER_PASSPHRASE", "--passphrase-file"] {
        assert!(stderr(&missing).contains(part), "{}", stderr(&missing));
    }
    // No flag carries the passphrase itself.
    let flag = run_err(coffer().args(["signer", "xpub", "--dir"]).arg(&dir).args(["--passphrase", PASSPHRASE]));
    assert!(stderr(&flag).contains("unexpected argument"), "{}", stderr(&flag));
}

#[test]
fn a_plain_seed_from_an_earlier_coffer_dev_is_encrypted_in_place_or_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("signer");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(dir.join("seed.mnemonic"), format!("{DEV_MNEMONIC}\n")).unwrap();
    std::fs::set_permissions(dir.join("seed.mnemonic"), std::fs::Permissions::from_mode(0o600)).unwrap();

    let refused = run_err(coffer().args(["signer", "init", "--dev-kdf", "--dir"]).arg(&dir));
    for part in ["unencrypted seed", "earlier `coffer dev`", "COFFER_SIGNER_PASSPHRASE", "--passphrase-file"] {
        assert!(stderr(&refused).contains(part), "{}", stderr(&refused));
    }
    assert_eq!(std::fs::read_to_string(dir.join("seed.mnemonic")).unwrap().trim(), DEV_MNEMONIC, "left untouched");
    assert!(!dir.join("seed.enc").exists());

    let secret = passphrase_file(tmp.path(), "passphrase", PASSPHRASE);
    let output = coffer()
        .args(["signer", "init", "--dev-kdf", "--dir"])
        .arg(&dir)
        .arg("--passphrase-file")
        .arg(&secret)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("encrypted the plain seed.mnemonic"), "{}", stderr(&output));
    let [xpub, hot, _] = public_lines(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(xpub, DEV_XPUB, "the same seed, now encrypted");
    assert_ne!(hot, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "the hot wallet is no deposit address");
    let file = assert_encrypted_seed(&dir);
    let text = file.to_string();
    assert!(!text.contains("test") && !text.contains("junk"), "{text}");
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["seed.enc"]);
}
