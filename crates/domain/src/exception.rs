//! What is worth telling a merchant about an invoice beyond its status:
//! paid too little, too much, too late, in the wrong asset, or by a sender
//! screening holds.

use std::fmt;
use std::str::FromStr;

/// One exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exception {
    /// Less than the amount has arrived.
    PaidPartial,
    /// More than the amount has arrived.
    PaidOver,
    /// A payment arrived in a block at or after the expiry.
    PaidLate,
    /// A payment in another asset arrived at the address.
    WrongAsset,
    /// A confirmed payment's sender is on a screening list: it is held (or
    /// was rejected) and not credited until an operator releases it.
    Held,
}

impl Exception {
    /// Every exception, in the order they are listed.
    pub const ALL: [Exception; 5] = [Self::PaidPartial, Self::PaidOver, Self::PaidLate, Self::WrongAsset, Self::Held];

    /// The name the API, the database and webhooks use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaidPartial => "paid_partial",
            Self::PaidOver => "paid_over",
            Self::PaidLate => "paid_late",
            Self::WrongAsset => "wrong_asset",
            Self::Held => "held",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of exceptions; `Copy`, and always iterated in [`Exception::ALL`] order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Exceptions(u8);

/// Text that names no exception.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown invoice exception {0:?}")]
pub struct UnknownException(pub String);

impl Exceptions {
    /// Whether `exception` is in the set.
    pub fn contains(self, exception: Exception) -> bool {
        self.0 & exception.bit() != 0
    }

    /// Adds `exception`.
    pub fn insert(&mut self, exception: Exception) {
        self.0 |= exception.bit();
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The exceptions, in a stable order.
    pub fn iter(self) -> impl Iterator<Item = Exception> {
        Exception::ALL.into_iter().filter(move |e| self.contains(*e))
    }

    /// Those in `self` but not in `before`: what a change newly raised.
    pub fn added_since(self, before: Exceptions) -> Exceptions {
        Self(self.0 & !before.0)
    }
}

impl FromIterator<Exception> for Exceptions {
    fn from_iter<I: IntoIterator<Item = Exception>>(iter: I) -> Self {
        let mut set = Self::default();
        for exception in iter {
            set.insert(exception);
        }
        set
    }
}

/// Comma-separated names, as the database stores them (`paid_partial,paid_late`).
impl fmt::Display for Exceptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(Exception::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for Exceptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Exceptions({self})")
    }
}

impl FromStr for Exceptions {
    type Err = UnknownException;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .filter(|part| !part.is_empty())
            .map(|part| {
                Exception::ALL
                    .into_iter()
                    .find(|e| e.as_str() == part)
                    .ok_or_else(|| UnknownException(part.chars().take(40).collect()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text_in_a_stable_order() {
        let set: Exceptions = [Exception::WrongAsset, Exception::PaidPartial].into_iter().collect();
        assert_eq!(set.to_string(), "paid_partial,wrong_asset");
        assert_eq!("paid_partial,wrong_asset".parse::<Exceptions>(), Ok(set));
        assert_eq!("".parse::<Exceptions>(), Ok(Exceptions::default()));
        assert!("paid_partial,stolen".parse::<Exceptions>().is_err());
    }

    #[test]
    fn added_since_is_what_is_new() {
        let before: Exceptions = [Exception::PaidPartial].into_iter().collect();
        let after: Exceptions = [Exception::PaidPartial, Exception::PaidLate].into_iter().collect();
        assert_eq!(after.added_since(before).iter().collect::<Vec<_>>(), vec![Exception::PaidLate]);
        assert!(before.added_since(after).is_empty());
    }
}
