//! The HD seed and the keys the signer derives from it.
//!
//! | what | where | who learns what |
//! |---|---|---|
//! | deposits | `m/44'/60'/0'/0/i` | the gateway gets the account xpub |
//! | hot wallet | `m/44'/60'/1'/0/0` | its address only; another hardened account, so the deposit xpub says nothing of it |
//! | identity (ed25519) | HMAC-SHA512("coffer-signer-identity/1", BIP-39 seed)\[..32\] | its public key |
//!
//! All three come from the mnemonic, so a restored mnemonic restores them.
//! **Invariant:** nothing here hands out private key bytes, an xprv, or any
//! non-hardened child private key (the account xpub plus one such key yields
//! every key of the account): the keys leave this module only as
//! crate-private [`WalletKey`]s and as an [`IdentityKey`], neither of which
//! exposes its secret.

use std::fmt;

use alloy_primitives::Address;
use coffer_domain::DerivationIndex;
use coffer_signer_api::IdentityKey;
use coins_bip32::enc::{MainnetEncoder, XKeyEncoder};
use coins_bip32::prelude::Hint;
use coins_bip32::xkeys::XPriv;
use coins_bip39::{English, Entropy, Mnemonic, MnemonicError};
use hmac::{Hmac, Mac as _};
use k256::ecdsa::SigningKey;
use sha2::Sha512;
use zeroize::{Zeroize as _, Zeroizing};

use crate::wallet_key::WalletKey;
use crate::{Result, SignerError};

/// The BIP-44 account whose xpub the gateway receives (deposits).
pub const ACCOUNT_PATH: &str = "m/44'/60'/0'";
/// The hot wallet: first address of the next hardened account.
pub const HOT_WALLET_PATH: &str = "m/44'/60'/1'/0/0";
/// The HMAC key that separates the identity key from every BIP-32 key.
const IDENTITY_DOMAIN: &[u8] = b"coffer-signer-identity/1";

/// The signer's keys, derived from one BIP-39 mnemonic. Secrets are wiped
/// when it is dropped (the phrase and seed by `Zeroizing`, the secp256k1
/// keys by k256); `Debug` shows the hot address only.
pub struct SignerKeys {
    phrase: Zeroizing<String>,
    identity: Zeroizing<[u8; 32]>,
    deposit_account: XPriv,
    #[allow(dead_code)] // read by `hot_key`, which the transaction engine uses
    hot: SigningKey,
    hot_address: Address,
}

/// Names the kind of a mnemonic error only: coins-bip39's own messages
/// repeat the phrase or its words, which must never reach a log.
fn bad_mnemonic(e: &MnemonicError) -> SignerError {
    SignerError::BadMnemonic(
        match e {
            MnemonicError::InvalidWordCount(_) | MnemonicError::InvalidEntropyLength(_) => {
                "it does not have 12, 15, 18, 21 or 24 words"
            }
            MnemonicError::WordlistError(_) => "a word is not in the English BIP-39 list",
            MnemonicError::InvalidPhrase(_) => "its checksum does not match",
            MnemonicError::Bip32Error(_) => "it does not derive a key",
        }
        .into(),
    )
}

fn derivation(e: impl fmt::Display) -> SignerError {
    SignerError::Derivation(e.to_string())
}

impl SignerKeys {
    /// A new seed: 256 bits of OS randomness as a 24-word BIP-39 mnemonic.
    pub fn generate() -> Result<Self> {
        let mut entropy = Zeroizing::new([0u8; 32]);
        getrandom::fill(entropy.as_mut()).map_err(|e| SignerError::Randomness(e.to_string()))?;
        let entropy = Entropy::from_slice(*entropy).map_err(|e| bad_mnemonic(&e))?;
        Self::from_phrase(&Zeroizing::new(Mnemonic::<English>::new_from_entropy(entropy).to_phrase()))
    }

    /// The keys behind a BIP-39 phrase (no BIP-39 passphrase): restoring a
    /// signer from its mnemonic.
    pub fn from_phrase(phrase: &str) -> Result<Self> {
        let phrase = Zeroizing::new(phrase.split_whitespace().collect::<Vec<_>>().join(" "));
        let mnemonic = Mnemonic::<English>::new_from_phrase(&phrase).map_err(|e| bad_mnemonic(&e))?;
        let seed = Zeroizing::new(mnemonic.to_seed(None).map_err(|e| bad_mnemonic(&e))?);
        // Legacy hint: the account key serialises as `xpub`, not `zpub`.
        let master = XPriv::root_from_seed(seed.as_ref(), Some(Hint::Legacy)).map_err(derivation)?;
        let deposit_account = master.derive_path(ACCOUNT_PATH).map_err(derivation)?;
        let hot = AsRef::<SigningKey>::as_ref(&master.derive_path(HOT_WALLET_PATH).map_err(derivation)?).clone();
        let hot_address = Address::from_private_key(&hot);
        Ok(Self { phrase, identity: identity_secret(&seed), deposit_account, hot, hot_address })
    }

    /// The mnemonic, for the signer's own storage and nothing else.
    pub(crate) fn phrase(&self) -> &str {
        &self.phrase
    }

    /// The deposit account's xpub (`m/44'/60'/0'`), which the gateway holds.
    pub fn deposit_xpub(&self) -> Result<String> {
        MainnetEncoder::xpub_to_base58(&self.deposit_account.verify_key()).map_err(derivation)
    }

    /// The address of deposit `index` (`m/44'/60'/0'/0/index`), derived from
    /// the private key: what the signer checks a sweep request against.
    pub fn deposit_address(&self, index: DerivationIndex) -> Result<Address> {
        Ok(self.deposit_key(index)?.address())
    }

    /// The key of deposit `index`, to sweep it.
    pub(crate) fn deposit_key(&self, index: DerivationIndex) -> Result<WalletKey> {
        let key = self.deposit_account.derive_path([0, index.get()].as_slice()).map_err(derivation)?;
        Ok(WalletKey::new(AsRef::<SigningKey>::as_ref(&key).clone()))
    }

    /// The hot wallet's address (`m/44'/60'/1'/0/0`).
    pub fn hot_address(&self) -> Address {
        self.hot_address
    }

    /// The hot wallet's key, to pay payouts and top up gas.
    #[allow(dead_code)] // used by the transaction engine, which lands next
    pub(crate) fn hot_key(&self) -> WalletKey {
        WalletKey::new(self.hot.clone())
    }

    /// The identity key the signer signs its answers with; its public half
    /// goes into the gateway's configuration.
    pub fn identity(&self) -> IdentityKey {
        IdentityKey::from_secret(&self.identity)
    }
}

/// HMAC-SHA512 keyed with the domain over the 64-byte BIP-39 seed, first 32
/// bytes: independent of every BIP-32 key, restored with the mnemonic.
fn identity_secret(seed: &[u8; 64]) -> Zeroizing<[u8; 32]> {
    // An HMAC accepts a key of any length; the error arm cannot happen.
    let mut mac = <Hmac<Sha512>>::new_from_slice(IDENTITY_DOMAIN).unwrap_or_else(|_| unreachable!());
    mac.update(seed);
    let mut digest = mac.finalize().into_bytes();
    let mut secret = Zeroizing::new([0u8; 32]);
    secret.copy_from_slice(&digest[..32]);
    digest[..].zeroize();
    secret
}

impl fmt::Debug for SignerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignerKeys(hot {}, <redacted>)", self.hot_address)
    }
}

#[cfg(test)]
#[path = "seed_tests.rs"]
mod tests;
