//! A known seed, everything derived from it, and a scanner for any of it in
//! a file's bytes. The keys are derived here with coins-bip39/coins-bip32
//! directly, not through coffer-signer, so a signer deriving the wrong thing
//! cannot hide what to look for.

use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use alloy_primitives::Address;
use coins_bip32::ecdsa::SigningKey;
use coins_bip32::enc::{MainnetEncoder, XKeyEncoder as _};
use coins_bip32::prelude::Hint;
use coins_bip32::xkeys::XPriv;
use coins_bip39::{English, Entropy, Mnemonic};

/// A fresh 24-word phrase and what a signer derives from it.
pub(super) struct Secrets {
    pub(super) phrase: String,
    /// The 64-byte BIP-39 seed (no BIP-39 passphrase).
    pub(super) seed: [u8; 64],
    /// `m/44'/60'/1'/0/0`.
    pub(super) hot_key: [u8; 32],
    pub(super) hot_address: Address,
    /// `m/44'/60'/0'/0/0..=3`.
    pub(super) deposit_keys: Vec<[u8; 32]>,
    /// `m/44'/60'/0'` public, as the gateway gets it.
    pub(super) xpub: String,
    /// `m/44'/60'/0'` private: with it, every deposit key.
    pub(super) account_xprv: String,
    pub(super) master_xprv: String,
}

fn key_bytes(key: &XPriv) -> [u8; 32] {
    AsRef::<SigningKey>::as_ref(key).to_bytes().into()
}

impl Secrets {
    pub(super) fn generate() -> Self {
        let mut entropy = [0u8; 32];
        getrandom::fill(&mut entropy).unwrap();
        let phrase = Mnemonic::<English>::new_from_entropy(Entropy::from_slice(entropy).unwrap()).to_phrase();
        assert_eq!(phrase.split(' ').count(), 24);
        let seed = Mnemonic::<English>::new_from_phrase(&phrase).unwrap().to_seed(None).unwrap();
        let master = XPriv::root_from_seed(&seed, Some(Hint::Legacy)).unwrap();
        let at = |path: &str| master.derive_path(path).unwrap();
        let account = at("m/44'/60'/0'");
        let hot = at("m/44'/60'/1'/0/0");
        Self {
            hot_key: key_bytes(&hot),
            hot_address: Address::from_private_key(AsRef::<SigningKey>::as_ref(&hot)),
            deposit_keys: (0..4).map(|i| key_bytes(&at(&format!("m/44'/60'/0'/0/{i}")))).collect(),
            xpub: MainnetEncoder::xpub_to_base58(&account.verify_key()).unwrap(),
            account_xprv: MainnetEncoder::xpriv_to_base58(&account).unwrap(),
            master_xprv: MainnetEncoder::xpriv_to_base58(&master).unwrap(),
            phrase,
            seed,
        }
    }

    /// Everything to look for, each with a name to report.
    pub(super) fn needles(&self, passphrase: &str) -> Vec<(String, Vec<u8>)> {
        let words: Vec<&str> = self.phrase.split(' ').collect();
        let mut needles: Vec<(String, Vec<u8>)> = words
            .windows(3)
            .enumerate()
            .map(|(i, w)| (format!("phrase words {}-{}", i + 1, i + 3), w.join(" ").into_bytes()))
            .collect();
        let mut binary = |name: &str, bytes: &[u8]| {
            needles.push((format!("{name} (hex)"), hex(bytes).into_bytes()));
            needles.push((format!("{name} (HEX)"), hex(bytes).to_uppercase().into_bytes()));
            needles.push((format!("{name} (raw)"), bytes.to_vec()));
        };
        binary("BIP-39 seed", &self.seed);
        binary("hot wallet key", &self.hot_key);
        for (i, key) in self.deposit_keys.iter().enumerate() {
            binary(&format!("deposit key {i}"), key);
        }
        let decoded = unhex(passphrase).expect("the dev passphrase is hex");
        binary("dev passphrase bytes", &decoded);
        needles.push(("dev passphrase".into(), passphrase.as_bytes().to_vec()));
        needles.push(("account xprv".into(), self.account_xprv.clone().into_bytes()));
        needles.push(("master xprv".into(), self.master_xprv.clone().into_bytes()));
        needles
    }
}

/// The names of the needles found in `haystack`.
pub(super) fn findings(haystack: &[u8], needles: &[(String, Vec<u8>)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, needle)| haystack.windows(needle.len()).any(|w| w == needle.as_slice()))
        .map(|(name, _)| name.clone())
        .collect()
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// A plain `seed.mnemonic` as an older signer kept it: dir 0700, file 0600.
pub(super) fn write_legacy_seed(signer_dir: &Path, phrase: &str) {
    std::fs::create_dir_all(signer_dir).unwrap();
    std::fs::set_permissions(signer_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(signer_dir.join("seed.mnemonic"))
        .unwrap();
    std::io::Write::write_all(&mut file, format!("{phrase}\n").as_bytes()).unwrap();
}

/// Every file under `dir`, recursively.
pub(super) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Copies the files under `from` (flat: the gateway's dir holds files only) to `to`; the copies.
pub(super) fn copy_dir(from: &Path, to: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(to).unwrap();
    files_under(from)
        .into_iter()
        .map(|file| {
            let copy = to.join(file.file_name().unwrap());
            std::fs::copy(&file, &copy).unwrap();
            copy
        })
        .collect()
}
