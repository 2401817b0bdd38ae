use std::os::unix::fs::PermissionsExt as _;

use coffer_signer_api::Digest;

use super::*;
use crate::SignerHome;

fn passphrase(text: &str) -> Passphrase {
    Passphrase::new(text.into()).unwrap()
}

fn digest(byte: u8) -> Digest {
    Digest([byte; 32])
}

#[test]
fn a_key_round_trips_through_its_file_and_only_with_its_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.key");
    let key = ApproverKey::generate().unwrap();
    key.create_file(&path, &passphrase("correct horse battery"), KdfCost::Dev).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

    let text = std::fs::read_to_string(&path).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file["format"], APPROVER_KEY_FORMAT);
    assert_eq!(file["kdf"]["algorithm"], "argon2id");
    assert_eq!(file["cipher"]["algorithm"], "xchacha20poly1305");
    let secret = hex::encode(key.secret.to_bytes());
    assert!(!text.contains(&secret), "the secret is sealed, not stored");

    let loaded = ApproverKey::load_file(&path, &passphrase("correct horse battery")).unwrap();
    assert_eq!(loaded.public(), key.public());
    assert_eq!(loaded.approve(&digest(1)), key.approve(&digest(1)), "ed25519 is deterministic: the same key");

    let wrong = ApproverKey::load_file(&path, &passphrase("correct horse batterY")).unwrap_err();
    assert!(matches!(wrong, SignerError::WrongPassphrase(_)), "{wrong:?}");
    assert_eq!(
        wrong.to_string(),
        format!("the passphrase does not open {}: it is the wrong passphrase, or the file was altered", path.display())
    );
}

#[test]
fn a_key_file_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.key");
    let first = ApproverKey::generate().unwrap();
    first.create_file(&path, &passphrase("correct horse battery"), KdfCost::Dev).unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = ApproverKey::generate()
        .unwrap()
        .create_file(&path, &passphrase("correct horse battery"), KdfCost::Dev)
        .unwrap_err();
    assert!(matches!(err, SignerError::ApproverKeyExists(_)), "{err:?}");
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_seed_file_is_no_approver_key_and_an_approver_key_is_no_seed() {
    let dir = tempfile::tempdir().unwrap();
    let home = SignerHome::at(dir.path().join("signer")).with_kdf_cost(KdfCost::Dev);
    home.init(Some(&passphrase("correct horse battery"))).unwrap();
    let seed = dir.path().join("signer").join(crate::SEED_FILE);
    let err = ApproverKey::load_file(&seed, &passphrase("correct horse battery")).unwrap_err();
    assert!(matches!(err, SignerError::MalformedApproverKey { .. }), "{err:?}");
    assert!(err.to_string().contains("is a signer's seed file (coffer-seed/1), not an approver's key"), "{err}");

    // The other way: an approver's key put where the seed goes.
    let other = SignerHome::at(dir.path().join("other")).with_kdf_cost(KdfCost::Dev);
    std::fs::create_dir(dir.path().join("other")).unwrap();
    let key_as_seed = dir.path().join("other").join(crate::SEED_FILE);
    ApproverKey::generate()
        .unwrap()
        .create_file(&key_as_seed, &passphrase("correct horse battery"), KdfCost::Dev)
        .unwrap();
    let err = other.open(Some(&passphrase("correct horse battery"))).unwrap_err();
    assert!(matches!(err, SignerError::MalformedSeedFile { .. }), "{err:?}");
    assert!(err.to_string().contains("an approver's key file"), "{err}");
}

#[test]
fn a_relabelled_file_does_not_open_as_the_other_kind() {
    // The format tag is associated data: rewriting it does not get past the AEAD.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.key");
    ApproverKey::generate().unwrap().create_file(&path, &passphrase("correct horse battery"), KdfCost::Dev).unwrap();
    let mut file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let sealed = file["ciphertext"].as_str().unwrap().to_owned();
    file["format"] = file::FORMAT.into();
    let relabelled = serde_json::to_vec(&file).unwrap();
    let refusal = file::open_as(&file::SEED, &relabelled, &passphrase("correct horse battery")).unwrap_err();
    assert_eq!(refusal, Refusal::Malformed("the ciphertext has the wrong length".into()));
    // Even at the seed's length, the header it was sealed under differs.
    let as_seed = Sealed { format: file::FORMAT, len: sealed.len() / 2 - 16 };
    assert_eq!(
        file::open_as(&as_seed, &relabelled, &passphrase("correct horse battery")),
        Err(Refusal::WrongPassphrase)
    );
}

#[test]
fn damaged_files_are_named_with_a_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.key");
    ApproverKey::generate().unwrap().create_file(&path, &passphrase("correct horse battery"), KdfCost::Dev).unwrap();
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut weak = file.clone();
    weak["kdf"]["memory_kib"] = 64.into();
    let mut future = file.clone();
    future["format"] = "coffer-approver-key/2".into();
    let write = |value: &serde_json::Value| {
        let p = dir.path().join("damaged.key");
        std::fs::write(&p, serde_json::to_vec(value).unwrap()).unwrap();
        ApproverKey::load_file(&p, &passphrase("correct horse battery")).unwrap_err()
    };
    assert!(matches!(write(&weak), SignerError::WeakKdf { memory_kib: 64, .. }));
    let err = write(&future);
    assert!(matches!(err, SignerError::MalformedApproverKey { .. }), "{err:?}");
    assert!(err.to_string().contains("an approver's key file is \"coffer-approver-key/1\""), "{err}");
    std::fs::write(dir.path().join("plain"), "not json").unwrap();
    let err = ApproverKey::load_file(&dir.path().join("plain"), &passphrase("correct horse battery")).unwrap_err();
    assert!(matches!(err, SignerError::MalformedApproverKey { .. }), "{err:?}");
    let missing = ApproverKey::load_file(&dir.path().join("absent"), &passphrase("correct horse battery")).unwrap_err();
    assert!(matches!(missing, SignerError::Io { action: "reading", .. }), "{missing:?}");
}

#[test]
fn approvals_and_rejections_verify_and_never_pass_for_each_other() {
    let key = ApproverKey::generate().unwrap();
    let approval = key.approve(&digest(7));
    assert_eq!(approval.approver, key.public());
    assert_eq!(approval.decision, Decision::Approve);
    assert_eq!(approval.digest, digest(7));
    assert!(approval.verifies());
    let rejection = key.reject(&digest(7));
    assert_eq!(rejection.decision, Decision::Reject);
    assert!(rejection.verifies());
    assert_ne!(approval.signature, rejection.signature);

    let as_rejection = Approval { decision: Decision::Reject, ..approval.clone() };
    assert!(!as_rejection.verifies(), "an approval's signature is no rejection's");
    let other_digest = Approval { digest: digest(8), ..approval.clone() };
    assert!(!other_digest.verifies(), "nor an approval of another digest");
    let other_key = Approval { approver: ApproverKey::generate().unwrap().public(), ..approval };
    assert!(!other_key.verifies(), "nor another approver's");
}

#[test]
fn debug_shows_the_public_half_only() {
    let key = ApproverKey::generate().unwrap();
    let shown = format!("{key:?}");
    assert_eq!(shown, format!("ApproverKey(public {}, secret <redacted>)", key.public()));
    assert!(!shown.contains(&hex::encode(key.secret.to_bytes())));
}
