//! The HD seed and what is derived from it.

use std::fmt;

use alloy_primitives::Address;
use coffer_domain::DerivationIndex;
use coins_bip32::enc::{MainnetEncoder, XKeyEncoder};
use coins_bip32::prelude::Hint;
use coins_bip32::xkeys::XPriv;
use coins_bip39::{English, Entropy, Mnemonic};

use crate::{Result, SignerError};

/// The BIP-44 account whose xpub the gateway receives.
pub const ACCOUNT_PATH: &str = "m/44'/60'/0'";

/// A loaded seed, kept as its account-level private key. `Debug` redacts it.
#[derive(Clone)]
pub struct SignerSeed {
    phrase: String,
    account: XPriv,
}

impl SignerSeed {
    /// A new seed: 256 bits of OS randomness as a 24-word BIP-39 mnemonic.
    pub fn generate() -> Result<Self> {
        let mut entropy = [0u8; 32];
        getrandom::fill(&mut entropy).map_err(|e| SignerError::Randomness(e.to_string()))?;
        let entropy = Entropy::from_slice(entropy).map_err(|e| SignerError::BadMnemonic(e.to_string()))?;
        Self::from_phrase(&Mnemonic::<English>::new_from_entropy(entropy).to_phrase())
    }

    /// The seed behind a BIP-39 phrase (no passphrase).
    pub fn from_phrase(phrase: &str) -> Result<Self> {
        let phrase = phrase.split_whitespace().collect::<Vec<_>>().join(" ");
        let mnemonic =
            Mnemonic::<English>::new_from_phrase(&phrase).map_err(|e| SignerError::BadMnemonic(e.to_string()))?;
        let seed = mnemonic.to_seed(None).map_err(|e| SignerError::BadMnemonic(e.to_string()))?;
        // Legacy hint: the account key serialises as `xpub`, not `zpub`.
        let master =
            XPriv::root_from_seed(&seed, Some(Hint::Legacy)).map_err(|e| SignerError::Derivation(e.to_string()))?;
        let account = master.derive_path(ACCOUNT_PATH).map_err(|e| SignerError::Derivation(e.to_string()))?;
        Ok(Self { phrase, account })
    }

    /// The mnemonic, for the signer's own storage and nothing else.
    pub(crate) fn phrase(&self) -> &str {
        &self.phrase
    }

    /// The account-level xpub (`m/44'/60'/0'`), the only thing the gateway gets.
    pub fn account_xpub(&self) -> Result<String> {
        MainnetEncoder::xpub_to_base58(&self.account.verify_key()).map_err(|e| SignerError::Derivation(e.to_string()))
    }

    /// The address of deposit `index` (`m/44'/60'/0'/0/index`), derived from
    /// the private key: what the signer checks a sweep request against.
    pub fn deposit_address(&self, index: DerivationIndex) -> Result<Address> {
        let key = self
            .account
            .derive_path([0, index.get()].as_slice())
            .map_err(|e| SignerError::Derivation(e.to_string()))?;
        Ok(Address::from_private_key(AsRef::as_ref(&key)))
    }
}

impl fmt::Debug for SignerSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignerSeed(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_signer_local::{MnemonicBuilder, coins_bip39::English as AlloyEnglish};
    use coffer_xpub::DepositDeriver;

    /// anvil's and hardhat's well-known development mnemonic.
    const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

    fn index(i: u32) -> DerivationIndex {
        DerivationIndex::try_from(u64::from(i)).unwrap()
    }

    #[test]
    fn known_mnemonic_gives_anvils_well_known_accounts() {
        let seed = SignerSeed::from_phrase(DEV_MNEMONIC).unwrap();
        // anvil's account 0 and 1, printed at every anvil start.
        assert_eq!(
            seed.deposit_address(index(0)).unwrap().to_checksum(None),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        assert_eq!(
            seed.deposit_address(index(1)).unwrap().to_checksum(None),
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
        );
    }

    #[test]
    fn gateway_public_derivation_matches_signer_private_derivation() {
        for seed in [SignerSeed::from_phrase(DEV_MNEMONIC).unwrap(), SignerSeed::generate().unwrap()] {
            let xpub = seed.account_xpub().unwrap();
            assert!(xpub.starts_with("xpub"), "{xpub}");
            let gateway = DepositDeriver::from_xpub(&xpub).unwrap();
            for i in [0, 1, 2, 19, 20, 1000, (1 << 31) - 1] {
                let public = gateway.derive(index(i)).unwrap().address;
                assert_eq!(public, seed.deposit_address(index(i)).unwrap(), "index {i}");
                // And a third, independent path: alloy's mnemonic wallet.
                if i < 3 {
                    let wallet = MnemonicBuilder::<AlloyEnglish>::default()
                        .phrase(seed.phrase())
                        .derivation_path(format!("{ACCOUNT_PATH}/0/{i}"))
                        .unwrap()
                        .build()
                        .unwrap();
                    assert_eq!(public, wallet.address(), "index {i}");
                }
            }
        }
    }

    #[test]
    fn generated_seeds_differ_and_debug_redacts() {
        let a = SignerSeed::generate().unwrap();
        let b = SignerSeed::generate().unwrap();
        assert_ne!(a.account_xpub().unwrap(), b.account_xpub().unwrap());
        assert_eq!(a.phrase().split(' ').count(), 24);
        let debug = format!("{a:?}");
        assert!(!debug.contains(a.phrase().split(' ').next().unwrap()) || debug == "SignerSeed(<redacted>)");
        assert!(SignerSeed::from_phrase("not a mnemonic").is_err());
    }
}
