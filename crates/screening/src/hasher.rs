//! A fast keyed hash for addresses. SipHash (std's default) spends most of
//! a lookup on 20 bytes that are already uniformly random (a Keccak digest);
//! two multiply-rotate rounds per 8 bytes spread them as well. The key is
//! drawn per process from std's own random source, so a list crafted to
//! collide in one gateway's table does not collide in another's.

use std::hash::{BuildHasher, Hasher};

/// Builds [`AddressHasher`]s with this process's key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyedBuild {
    key: u64,
}

impl Default for KeyedBuild {
    fn default() -> Self {
        Self { key: std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64) }
    }
}

impl BuildHasher for KeyedBuild {
    type Hasher = AddressHasher;

    fn build_hasher(&self) -> AddressHasher {
        AddressHasher { state: self.key }
    }
}

/// The hasher.
pub(crate) struct AddressHasher {
    state: u64,
}

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.state = (self.state ^ u64::from_le_bytes(word)).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(31);
        }
    }

    fn finish(&self) -> u64 {
        let x = self.state ^ (self.state >> 33);
        x.wrapping_mul(0xff51_afd7_ed55_8ccd) ^ (x >> 29)
    }
}
