//! The passphrase → key step: argon2id, its cost stored in the seed file.
//!
//! Memory-hard on purpose: whoever copies `seed.enc` pays `memory_kib` of
//! RAM and `iterations` passes over it for every passphrase they guess.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Passphrase;

/// The only KDF this signer writes or reads.
pub(crate) const ALGORITHM: &str = "argon2id";

/// Below this much memory (KiB) a stored cost is refused: an attacker who
/// can write the signer directory must not make the next file cheap to crack.
pub const MIN_MEMORY_KIB: u32 = 8 * 1024;
/// Below this many passes a stored cost is refused.
pub const MIN_ITERATIONS: u32 = 1;
/// Above these a stored cost is refused too, so a doctored file cannot make
/// the signer allocate without bound (4 GiB, 64 passes, 16 lanes).
const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const MAX_PARALLELISM: u32 = 16;

const SALT_LEN: usize = 16;

/// How much a new seed file costs to open, chosen when it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KdfCost {
    /// argon2id m = 64 MiB, t = 3, p = 1: what a real signer uses.
    #[default]
    Production,
    /// argon2id m = 8 MiB (the floor), t = 1, p = 1: for `coffer dev` and
    /// tests, whose seeds guard no money.
    Dev,
}

impl KdfCost {
    /// `(memory_kib, iterations, parallelism)`.
    const fn figures(self) -> (u32, u32, u32) {
        match self {
            Self::Production => (64 * 1024, 3, 1),
            Self::Dev => (MIN_MEMORY_KIB, 1, 1),
        }
    }
}

impl std::fmt::Display for KdfCost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (m, t, p) = self.figures();
        let name = match self {
            Self::Production => "production",
            Self::Dev => "dev-only",
        };
        write!(f, "{name} cost (argon2id m = {} MiB, t = {t}, p = {p})", m / 1024)
    }
}

/// The KDF section of `seed.enc`, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KdfParams {
    pub(crate) algorithm: String,
    pub(crate) memory_kib: u32,
    pub(crate) iterations: u32,
    pub(crate) parallelism: u32,
    /// Hex.
    pub(crate) salt: String,
}

/// Why stored KDF parameters are refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KdfRefusal {
    /// Not argon2id, or a salt that is not 16 bytes of hex.
    Malformed(String),
    /// Cheaper than the floor (or dearer than the ceiling).
    OutOfBounds,
}

impl KdfParams {
    /// Fresh parameters at `cost`, with a new random salt.
    pub(crate) fn new(cost: KdfCost) -> Result<Self, getrandom::Error> {
        let (memory_kib, iterations, parallelism) = cost.figures();
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt)?;
        Ok(Self { algorithm: ALGORITHM.into(), memory_kib, iterations, parallelism, salt: hex::encode(salt) })
    }

    /// Checks the stored parameters before any work is spent on them.
    pub(crate) fn check(&self) -> Result<argon2::Argon2<'static>, KdfRefusal> {
        if self.algorithm != ALGORITHM {
            return Err(KdfRefusal::Malformed(format!("unsupported kdf {:?}", self.algorithm)));
        }
        if self.salt_bytes().is_none() {
            return Err(KdfRefusal::Malformed("the salt is not 16 bytes of hex".into()));
        }
        let in_bounds = (MIN_MEMORY_KIB..=MAX_MEMORY_KIB).contains(&self.memory_kib)
            && (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&self.iterations)
            && (1..=MAX_PARALLELISM).contains(&self.parallelism);
        if !in_bounds {
            return Err(KdfRefusal::OutOfBounds);
        }
        let params = argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|e| KdfRefusal::Malformed(e.to_string()))?;
        Ok(argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params))
    }

    fn salt_bytes(&self) -> Option<[u8; SALT_LEN]> {
        hex::decode(&self.salt).ok()?.try_into().ok()
    }

    /// The 32-byte cipher key for `passphrase`. Checks the parameters first.
    pub(crate) fn derive(&self, passphrase: &Passphrase) -> Result<Zeroizing<[u8; 32]>, KdfRefusal> {
        let argon2 = self.check()?;
        let salt = self.salt_bytes().ok_or_else(|| KdfRefusal::Malformed("bad salt".into()))?;
        let mut key = Zeroizing::new([0u8; 32]);
        argon2
            .hash_password_into(passphrase.expose().as_bytes(), &salt, key.as_mut())
            .map_err(|e| KdfRefusal::Malformed(e.to_string()))?;
        Ok(key)
    }

    /// The canonical text of these parameters, bound into the AEAD.
    pub(crate) fn canonical(&self) -> String {
        format!(
            "kdf={} m={} t={} p={} salt={}",
            self.algorithm, self.memory_kib, self.iterations, self.parallelism, self.salt
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passphrase(text: &str) -> Passphrase {
        Passphrase::new(text.into()).unwrap()
    }

    #[test]
    fn production_and_dev_costs_are_what_the_file_says() {
        let production = KdfParams::new(KdfCost::Production).unwrap();
        assert_eq!((production.memory_kib, production.iterations, production.parallelism), (65536, 3, 1));
        let dev = KdfParams::new(KdfCost::Dev).unwrap();
        assert_eq!((dev.memory_kib, dev.iterations, dev.parallelism), (8192, 1, 1));
        assert!(dev.check().is_ok(), "the dev cost sits on the floor, not below it");
        assert_ne!(dev.salt, KdfParams::new(KdfCost::Dev).unwrap().salt, "a fresh salt each time");
    }

    #[test]
    fn the_key_depends_on_passphrase_salt_and_cost() {
        let params = KdfParams::new(KdfCost::Dev).unwrap();
        let a = params.derive(&passphrase("correct horse battery")).unwrap();
        assert_eq!(*a, *params.derive(&passphrase("correct horse battery")).unwrap());
        assert_ne!(*a, *params.derive(&passphrase("correct horse batterY")).unwrap());
        let other_salt = KdfParams { salt: KdfParams::new(KdfCost::Dev).unwrap().salt, ..params.clone() };
        assert_ne!(*a, *other_salt.derive(&passphrase("correct horse battery")).unwrap());
        let dearer = KdfParams { iterations: 2, ..params.clone() };
        assert_ne!(*a, *dearer.derive(&passphrase("correct horse battery")).unwrap());
    }

    #[test]
    fn costs_below_the_floor_or_above_the_ceiling_are_refused_before_any_work() {
        let params = KdfParams::new(KdfCost::Dev).unwrap();
        for weak in [
            KdfParams { memory_kib: MIN_MEMORY_KIB - 1, ..params.clone() },
            KdfParams { memory_kib: 8, ..params.clone() },
            KdfParams { iterations: 0, ..params.clone() },
            KdfParams { parallelism: 0, ..params.clone() },
            KdfParams { memory_kib: u32::MAX, ..params.clone() },
        ] {
            assert_eq!(weak.check().err(), Some(KdfRefusal::OutOfBounds), "{weak:?}");
        }
        let scrypt = KdfParams { algorithm: "scrypt".into(), ..params.clone() };
        assert!(matches!(scrypt.check(), Err(KdfRefusal::Malformed(_))));
        let short_salt = KdfParams { salt: "00ff".into(), ..params };
        assert!(matches!(short_salt.check(), Err(KdfRefusal::Malformed(_))));
    }
}
