//! Deposit addresses from public material only.
//!
//! The gateway is given an account-level extended public key (an xpub for
//! `m/44'/60'/0'`, as wallets and the Coffer signer export it) and derives
//! the deposit address of invoice `i` at `m/44'/60'/0'/0/i` with BIP-32's
//! public child derivation (CKDpub). The private keys for those addresses
//! exist only where the seed is: in the signer.
//!
//! **Architecture invariant:** this crate has no type that can hold a private
//! key, and it refuses to parse an extended private key (`xprv`, `tprv`),
//! saying so, rather than silently accepting one that an operator pasted into
//! the gateway's configuration by mistake.

use std::fmt;
use std::str::FromStr;

use coffer_domain::{Address, DepositAddress, DerivationIndex};
use hmac::{Hmac, Mac};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::{PrimeField, ops::MulByGenerator};
use k256::{ProjectivePoint, PublicKey, Scalar};
use sha2::Sha512;

const XPUB_MAINNET: [u8; 4] = [0x04, 0x88, 0xB2, 0x1E];
const XPUB_TESTNET: [u8; 4] = [0x04, 0x35, 0x87, 0xCF];
const PRIVATE_VERSIONS: [[u8; 4]; 6] = [
    [0x04, 0x88, 0xAD, 0xE4], // xprv
    [0x04, 0x35, 0x83, 0x94], // tprv
    [0x04, 0x9D, 0x78, 0x78], // yprv
    [0x04, 0xB2, 0x43, 0x0C], // zprv
    [0x04, 0x4A, 0x4E, 0x28], // uprv
    [0x04, 0x5F, 0x18, 0xBC], // vprv
];
const SERIALIZED_LEN: usize = 78;

/// Why a string is not a usable xpub, or a child cannot be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XpubError {
    /// Someone handed the gateway a private key.
    #[error(
        "this is an extended PRIVATE key; the gateway takes only an xpub (run `coffer signer xpub` on the signer host to get one) — treat this key as exposed"
    )]
    PrivateKeyGiven,
    /// Not base58check, or the checksum is wrong.
    #[error("not a base58check-encoded extended key (typo or truncated?)")]
    NotBase58Check,
    /// Decoded to the wrong number of bytes.
    #[error("an extended key is {SERIALIZED_LEN} bytes; this decodes to {0}")]
    WrongLength(usize),
    /// A version other than xpub/tpub.
    #[error("unsupported extended-key version {0}; expected an xpub (or tpub)")]
    UnsupportedVersion(String),
    /// The key bytes are not a point on secp256k1.
    #[error("the public key inside the xpub is not a valid secp256k1 point")]
    InvalidPoint,
    /// Depth other than account (3) or external chain (4).
    #[error(
        "expected an account-level xpub (depth 3, m/44'/60'/0') or its external chain (depth 4, m/44'/60'/0'/0); this one has depth {0}"
    )]
    UnexpectedDepth(u8),
    /// The one-in-2^127 case where BIP-32 says to skip an index.
    #[error("index {0} yields an invalid child key (BIP-32 says to skip it)")]
    InvalidChild(u32),
    /// Asked for a hardened child, which needs the private key.
    #[error("index {0} is hardened; hardened children need the private key")]
    Hardened(u32),
}

/// A BIP-32 extended public key.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtendedPublicKey {
    depth: u8,
    child_number: u32,
    chain_code: [u8; 32],
    key: PublicKey,
}

impl ExtendedPublicKey {
    /// Its depth in the tree (0 for a master key).
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// The public child at non-hardened `index` (BIP-32 CKDpub).
    pub fn derive_child(&self, index: u32) -> Result<Self, XpubError> {
        if index >= DerivationIndex::LIMIT {
            return Err(XpubError::Hardened(index));
        }
        let mut mac = Hmac::<Sha512>::new_from_slice(&self.chain_code).map_err(|_| XpubError::InvalidChild(index))?;
        mac.update(self.key.to_encoded_point(true).as_bytes());
        mac.update(&index.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let (left, right) = digest.split_at(32);
        let mut tweak_bytes = k256::FieldBytes::default();
        tweak_bytes.copy_from_slice(left);
        let tweak: Option<Scalar> = Scalar::from_repr(tweak_bytes).into();
        let tweak = tweak.ok_or(XpubError::InvalidChild(index))?;
        let child_point = ProjectivePoint::mul_by_generator(&tweak) + self.key.to_projective();
        let key = PublicKey::from_affine(child_point.to_affine()).map_err(|_| XpubError::InvalidChild(index))?;
        let mut chain_code = [0u8; 32];
        chain_code.copy_from_slice(right);
        Ok(Self { depth: self.depth.saturating_add(1), child_number: index, chain_code, key })
    }

    /// The Ethereum address of this key: the last 20 bytes of the Keccak-256
    /// of the uncompressed public key.
    pub fn address(&self) -> Address {
        let uncompressed = self.key.to_encoded_point(false);
        Address::from_raw_public_key(&uncompressed.as_bytes()[1..])
    }
}

impl FromStr for ExtendedPublicKey {
    type Err = XpubError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() > 200 {
            return Err(XpubError::NotBase58Check);
        }
        let bytes = bs58::decode(s).with_check(None).into_vec().map_err(|_| XpubError::NotBase58Check)?;
        if bytes.len() != SERIALIZED_LEN {
            return Err(XpubError::WrongLength(bytes.len()));
        }
        let version: [u8; 4] = bytes[0..4].try_into().map_err(|_| XpubError::WrongLength(bytes.len()))?;
        // Key data starting with 0x00 is a private key, whatever the version claims.
        if PRIVATE_VERSIONS.contains(&version) || bytes[45] == 0 {
            return Err(XpubError::PrivateKeyGiven);
        }
        if version != XPUB_MAINNET && version != XPUB_TESTNET {
            return Err(XpubError::UnsupportedVersion(format!(
                "0x{:02x}{:02x}{:02x}{:02x}",
                version[0], version[1], version[2], version[3]
            )));
        }
        let mut chain_code = [0u8; 32];
        chain_code.copy_from_slice(&bytes[13..45]);
        Ok(Self {
            depth: bytes[4],
            child_number: u32::from_be_bytes(bytes[9..13].try_into().map_err(|_| XpubError::WrongLength(bytes.len()))?),
            chain_code,
            key: PublicKey::from_sec1_bytes(&bytes[45..78]).map_err(|_| XpubError::InvalidPoint)?,
        })
    }
}

impl fmt::Debug for ExtendedPublicKey {
    /// Shows where the key sits, never the key: an xpub reveals every
    /// address derived from it, which is a privacy matter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtendedPublicKey")
            .field("depth", &self.depth)
            .field("child_number", &self.child_number)
            .finish_non_exhaustive()
    }
}

/// Derives invoice deposit addresses along `m/44'/60'/0'/0/i`.
#[derive(Clone, Debug)]
pub struct DepositDeriver {
    external_chain: ExtendedPublicKey,
}

impl DepositDeriver {
    /// From an account-level xpub (depth 3, `m/44'/60'/0'`), deriving the
    /// external chain `/0` once; or from the external chain's xpub itself
    /// (depth 4).
    pub fn from_xpub(xpub: &str) -> Result<Self, XpubError> {
        let key: ExtendedPublicKey = xpub.parse()?;
        let external_chain = match key.depth {
            3 => key.derive_child(0)?,
            4 => key,
            other => return Err(XpubError::UnexpectedDepth(other)),
        };
        Ok(Self { external_chain })
    }

    /// The deposit address at `index`.
    pub fn derive(&self, index: DerivationIndex) -> Result<DepositAddress, XpubError> {
        let address = self.external_chain.derive_child(index.get())?.address();
        Ok(DepositAddress { index, address })
    }
}

#[cfg(test)]
mod tests;
