//! One secp256k1 key the signer sends from (a deposit address or the hot
//! wallet). Crate-private on purpose: nothing outside the signer can hold
//! one, and no method hands out its bytes.

use std::fmt;

use alloy_primitives::{Address, B256, Signature};
use k256::ecdsa::SigningKey;

/// A private key the signer derived and will sign transactions with.
/// k256 zeroises the scalar on drop; `Debug` shows the address only.
pub(crate) struct WalletKey {
    key: SigningKey,
    address: Address,
}

impl WalletKey {
    /// Wraps a derived key.
    pub(crate) fn new(key: SigningKey) -> Self {
        let address = Address::from_private_key(&key);
        Self { key, address }
    }

    /// The address this key sends from.
    pub(crate) fn address(&self) -> Address {
        self.address
    }

    /// Signs a transaction's signing hash (EIP-1559's keccak of its payload).
    pub(crate) fn sign_hash(&self, hash: &B256) -> Result<Signature, k256::ecdsa::Error> {
        let (signature, recovery) = self.key.sign_prehash_recoverable(hash.as_slice())?;
        Ok(Signature::from((signature, recovery)))
    }
}

impl fmt::Debug for WalletKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WalletKey({}, <redacted>)", self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_recover_to_the_keys_address_and_debug_shows_no_secret() {
        let key = WalletKey::new(SigningKey::from_slice(&[7u8; 32]).unwrap());
        let hash = B256::repeat_byte(0x42);
        let signature = key.sign_hash(&hash).unwrap();
        assert_eq!(signature.recover_address_from_prehash(&hash).unwrap(), key.address());
        let debug = format!("{key:?}");
        assert!(!debug.contains("0707070707"), "{debug}");
    }
}
