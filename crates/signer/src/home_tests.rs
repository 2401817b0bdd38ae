use super::*;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};

const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

fn passphrase(text: &str) -> Passphrase {
    Passphrase::new(text.into()).unwrap()
}

fn dev_home(dir: &Path) -> SignerHome {
    SignerHome::at(dir.join("signer")).with_kdf_cost(KdfCost::Dev)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

fn write_legacy(home: &SignerHome, phrase: &str) {
    fs::create_dir_all(home.dir()).unwrap();
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(home.legacy_path()).unwrap();
    std::io::Write::write_all(&mut file, format!("{phrase}\n").as_bytes()).unwrap();
}

#[test]
fn init_creates_a_private_encrypted_seed_once_and_reuses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let home = dev_home(tmp.path());
    let secret = passphrase("correct horse battery");
    assert!(matches!(home.open(Some(&secret)), Err(SignerError::NotInitialised(_))));
    let (outcome, keys) = home.init(Some(&secret)).unwrap();
    assert_eq!(outcome, InitOutcome::Created);
    let (again, reloaded) = home.init(Some(&secret)).unwrap();
    assert_eq!(again, InitOutcome::Existing);
    let (opened, reopened) = home.open(Some(&secret)).unwrap();
    assert_eq!(opened, OpenOutcome::Opened);
    for other in [&reloaded, &reopened] {
        assert_eq!(keys.deposit_xpub().unwrap(), other.deposit_xpub().unwrap());
        assert_eq!(keys.hot_address(), other.hot_address());
        assert_eq!(keys.identity().public(), other.identity().public());
    }
    assert_eq!(mode(home.dir()), 0o700);
    assert_eq!(mode(&home.seed_path()), 0o600);
    assert_eq!(names(home.dir()), ["seed.enc"], "only the encrypted seed remains");
    let stored = fs::read_to_string(home.seed_path()).unwrap();
    let words: Vec<_> = keys.phrase().split(' ').collect();
    for pair in words.windows(2) {
        assert!(!stored.contains(&pair.join(" ")), "seed.enc holds the phrase in clear");
    }
}

#[test]
fn a_missing_or_wrong_passphrase_is_refused_with_a_sentence() {
    let tmp = tempfile::tempdir().unwrap();
    let home = dev_home(tmp.path());
    let none = home.init(None).unwrap_err();
    assert!(matches!(none, SignerError::NoPassphrase), "{none:?}");
    assert!(!home.dir().exists(), "nothing is created without a passphrase");
    home.init(Some(&passphrase("correct horse battery"))).unwrap();
    let none = home.open(None).unwrap_err();
    assert!(none.to_string().contains("COFFER_SIGNER_PASSPHRASE") && none.to_string().contains("--passphrase-file"));
    let wrong = home.open(Some(&passphrase("correct horse batterY"))).unwrap_err();
    assert!(matches!(wrong, SignerError::WrongPassphrase(_)), "{wrong:?}");
    let expected = format!("the passphrase does not open {}", home.seed_path().display());
    assert!(wrong.to_string().starts_with(&expected), "{wrong}");
    assert!(matches!(home.init(Some(&passphrase("correct horse batterY"))), Err(SignerError::WrongPassphrase(_))));
}

#[test]
fn a_legacy_plain_seed_is_encrypted_in_place_with_a_passphrase_and_refused_without() {
    let tmp = tempfile::tempdir().unwrap();
    let home = dev_home(tmp.path());
    write_legacy(&home, DEV_MNEMONIC);
    let refused = home.open(None).unwrap_err();
    assert!(matches!(refused, SignerError::LegacyPlainSeed(_)), "{refused:?}");
    let sentence = refused.to_string();
    for part in
        ["unencrypted seed", "coffer dev", "COFFER_SIGNER_PASSPHRASE", "--passphrase-file", "encrypt it in place"]
    {
        assert!(sentence.contains(part), "{sentence}");
    }
    assert!(matches!(home.init(None), Err(SignerError::LegacyPlainSeed(_))));
    assert_eq!(names(home.dir()), ["seed.mnemonic"], "a refusal touches nothing");

    let secret = passphrase("correct horse battery");
    let (outcome, keys) = home.open(Some(&secret)).unwrap();
    assert_eq!(outcome, OpenOutcome::EncryptedLegacy);
    assert_eq!(
        keys.deposit_address(coffer_domain::DerivationIndex::try_from(0u64).unwrap()).unwrap().to_checksum(None),
        ANVIL_0
    );
    assert_eq!(names(home.dir()), ["seed.enc"], "the plain seed is gone");
    assert_eq!(mode(&home.seed_path()), 0o600);
    let stored = fs::read_to_string(home.seed_path()).unwrap();
    assert!(!stored.contains("test") && !stored.contains("junk"), "{stored}");
    let (again, reopened) = home.init(Some(&secret)).unwrap();
    assert_eq!(again, InitOutcome::Existing);
    assert_eq!(reopened.deposit_xpub().unwrap(), keys.deposit_xpub().unwrap());

    // Through init too.
    let other = SignerHome::at(tmp.path().join("other")).with_kdf_cost(KdfCost::Dev);
    write_legacy(&other, DEV_MNEMONIC);
    assert_eq!(other.init(Some(&secret)).unwrap().0, InitOutcome::EncryptedLegacy);
}

const ANVIL_0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

#[test]
fn a_plain_and_an_encrypted_seed_side_by_side_are_refused_as_ambiguous() {
    let tmp = tempfile::tempdir().unwrap();
    let home = dev_home(tmp.path());
    let secret = passphrase("correct horse battery");
    home.init(Some(&secret)).unwrap();
    write_legacy(&home, DEV_MNEMONIC);
    let err = home.open(Some(&secret)).unwrap_err();
    assert!(matches!(err, SignerError::AmbiguousSeeds(_)), "{err:?}");
    assert_eq!(names(home.dir()), ["seed.enc", "seed.mnemonic"], "neither is touched");
}

#[test]
fn racing_inits_store_one_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let home = dev_home(tmp.path());
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    home.init(Some(&passphrase("correct horse battery")))
                        .map(|(outcome, keys)| (outcome, keys.deposit_xpub().unwrap()))
                })
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    let created = outcomes.iter().filter(|o| matches!(o, Ok((InitOutcome::Created, _)))).count();
    assert_eq!(created, 1, "{outcomes:?}");
    let (_, stored) = home.open(Some(&passphrase("correct horse battery"))).unwrap();
    for outcome in &outcomes {
        match outcome {
            Ok((_, xpub)) => assert_eq!(*xpub, stored.deposit_xpub().unwrap()),
            Err(e) => assert!(matches!(e, SignerError::AlreadyInitialised(_)), "{e:?}"),
        }
    }
    assert_eq!(names(home.dir()), ["seed.enc"]);
}

#[test]
fn a_seed_file_weakened_on_disk_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let home = dev_home(tmp.path());
    let secret = passphrase("correct horse battery");
    home.init(Some(&secret)).unwrap();
    let mut file: serde_json::Value = serde_json::from_slice(&fs::read(home.seed_path()).unwrap()).unwrap();
    file["kdf"]["memory_kib"] = 64.into();
    fs::write(home.seed_path(), serde_json::to_vec(&file).unwrap()).unwrap();
    let err = home.open(Some(&secret)).unwrap_err();
    assert!(matches!(err, SignerError::WeakKdf { memory_kib: 64, .. }), "{err:?}");
    assert!(err.to_string().contains("below"), "{err}");
}

#[test]
fn a_home_writes_production_cost_unless_told_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let home = SignerHome::at(tmp.path().join("signer"));
    home.init(Some(&passphrase("correct horse battery"))).unwrap();
    let file: serde_json::Value = serde_json::from_slice(&fs::read(home.seed_path()).unwrap()).unwrap();
    assert_eq!(file["kdf"]["memory_kib"], 65536);
    assert_eq!(file["kdf"]["iterations"], 3);
    assert_eq!(file["kdf"]["parallelism"], 1);
}
