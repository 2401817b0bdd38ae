use super::*;
use alloy_signer_local::{MnemonicBuilder, coins_bip39::English as AlloyEnglish};
use coffer_xpub::DepositDeriver;
use coins_bip39::Wordlist as _;

/// anvil's and hardhat's well-known development mnemonic.
const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

fn index(i: u32) -> DerivationIndex {
    DerivationIndex::try_from(u64::from(i)).unwrap()
}

fn alloy_address(phrase: &str, path: &str) -> Address {
    MnemonicBuilder::<AlloyEnglish>::default().phrase(phrase).derivation_path(path).unwrap().build().unwrap().address()
}

#[test]
fn known_mnemonic_gives_anvils_well_known_accounts() {
    let keys = SignerKeys::from_phrase(DEV_MNEMONIC).unwrap();
    // anvil's account 0 and 1, printed at every anvil start.
    assert_eq!(keys.deposit_address(index(0)).unwrap().to_checksum(None), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    assert_eq!(keys.deposit_address(index(1)).unwrap().to_checksum(None), "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    assert_eq!(keys.deposit_key(index(1)).unwrap().address(), keys.deposit_address(index(1)).unwrap());
}

#[test]
fn gateway_public_derivation_matches_signer_private_derivation() {
    for keys in [SignerKeys::from_phrase(DEV_MNEMONIC).unwrap(), SignerKeys::generate().unwrap()] {
        let xpub = keys.deposit_xpub().unwrap();
        assert!(xpub.starts_with("xpub"), "{xpub}");
        let gateway = DepositDeriver::from_xpub(&xpub).unwrap();
        for i in [0, 1, 2, 19, 20, 1000, (1 << 31) - 1] {
            let public = gateway.derive(index(i)).unwrap().address;
            assert_eq!(public, keys.deposit_address(index(i)).unwrap(), "index {i}");
            // And a third, independent path: alloy's mnemonic wallet.
            if i < 3 {
                assert_eq!(public, alloy_address(keys.phrase(), &format!("{ACCOUNT_PATH}/0/{i}")), "index {i}");
            }
        }
    }
}

#[test]
fn the_hot_wallet_is_another_hardened_account_the_deposit_xpub_does_not_reach() {
    for keys in [SignerKeys::from_phrase(DEV_MNEMONIC).unwrap(), SignerKeys::generate().unwrap()] {
        // alloy's wallet derives the same path independently.
        assert_eq!(keys.hot_address(), alloy_address(keys.phrase(), HOT_WALLET_PATH));
        assert_eq!(keys.hot_key().address(), keys.hot_address());
        let gateway = DepositDeriver::from_xpub(&keys.deposit_xpub().unwrap()).unwrap();
        for i in 0..1000 {
            let deposit = gateway.derive(index(i)).unwrap().address;
            assert_ne!(deposit, keys.hot_address(), "deposit {i} is the hot wallet");
        }
    }
}

#[test]
fn the_identity_is_restored_with_the_mnemonic_and_separate_from_every_wallet_key() {
    let keys = SignerKeys::from_phrase(DEV_MNEMONIC).unwrap();
    let restored = SignerKeys::from_phrase(&DEV_MNEMONIC.replace(' ', "  ")).unwrap();
    assert_eq!(keys.identity().public(), restored.identity().public());
    assert_ne!(keys.identity().public(), SignerKeys::generate().unwrap().identity().public());
    // Pinned: gateways hold this public key in their configuration, so the
    // derivation must never change. Computed independently (Python's hashlib
    // PBKDF2 seed, HMAC-SHA512 keyed "coffer-signer-identity/1", first 32
    // bytes, the `cryptography` package's ed25519).
    assert_eq!(
        keys.identity().public().to_string(),
        "ed25519:caef95a8bf8d908504ec2dc72e1cb625f5b72987bd3b57cdb6fb8d1e3e9b8340",
        "the identity derivation changed"
    );
    let secret = *keys.identity;
    assert_ne!(secret.as_slice(), &keys.hot.to_bytes()[..]);
    assert_ne!(secret.as_slice(), &AsRef::<SigningKey>::as_ref(&keys.deposit_account).to_bytes()[..]);
}

#[test]
fn generated_seeds_differ() {
    let a = SignerKeys::generate().unwrap();
    let b = SignerKeys::generate().unwrap();
    assert_ne!(a.deposit_xpub().unwrap(), b.deposit_xpub().unwrap());
    assert_ne!(a.hot_address(), b.hot_address());
    assert_eq!(a.phrase().split(' ').count(), 24);
}

/// Words of `text` (runs of ASCII letters and digits), lowercased.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase).collect()
}

/// Fixed labels in `IdentityKey`'s `Debug` (coffer-signer-api) that happen
/// to be BIP-39 words; they are text of the format, not of any key.
const LABELS: [&str; 2] = ["public", "secret"];

#[test]
fn debug_of_every_key_holding_type_shows_no_secret() {
    let words = English::get_all();
    for keys in [SignerKeys::from_phrase(DEV_MNEMONIC).unwrap(), SignerKeys::generate().unwrap()] {
        let deposit = keys.deposit_key(index(3)).unwrap();
        let secrets = [
            hex::encode(*keys.identity),
            hex::encode(keys.hot.to_bytes()),
            hex::encode(AsRef::<SigningKey>::as_ref(&keys.deposit_account).to_bytes()),
            hex::encode(
                AsRef::<SigningKey>::as_ref(&keys.deposit_account.derive_path([0, 3].as_slice()).unwrap()).to_bytes(),
            ),
        ];
        for debug in [
            format!("{keys:?}"),
            format!("{keys:#?}"),
            format!("{:?}", keys.hot_key()),
            format!("{deposit:?}"),
            format!("{:?}", keys.identity()),
        ] {
            // No BIP-39 word at all, so no word of any phrase.
            let leaked: Vec<_> = tokens(&debug)
                .into_iter()
                .filter(|t| words.contains(&t.as_str()) && !LABELS.contains(&t.as_str()))
                .collect();
            assert!(leaked.is_empty(), "{debug} shows BIP-39 words {leaked:?}");
            for secret in &secrets {
                assert!(!debug.to_lowercase().contains(&secret[..16]), "{debug} shows a secret key");
            }
        }
    }
}

#[test]
fn a_bad_mnemonic_is_refused_without_repeating_its_words() {
    for bad in [
        "not a mnemonic",
        "test test test test test test test test test test test test",
        "test test test test test test test test test test test zzzzz",
    ] {
        let err = SignerKeys::from_phrase(bad).unwrap_err();
        assert!(matches!(err, SignerError::BadMnemonic(_)), "{err:?}");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("test") && !text.contains("zzzzz"), "{text}");
    }
}
