//! Screening holds: a payment from a sender on a sanction or stolen-funds
//! list is recorded but not credited until an operator decides (ADR 0015).
//!
//! A held payment is a fact like any other (it is on the chain, the deposit
//! address holds it), so it is booked when it reaches its confirmations,
//! but into the ledger's held account, never suspense: no invoice settles
//! with it and no merchant balance includes it. An operator then releases
//! it (it moves to suspense and counts from then on, as if it had never
//! been held) or rejects it (it stays held on the books, for a refund or a
//! report). Both decisions are final: a hold never goes back to `held`.

use std::fmt;

use alloy_primitives::Address;

use crate::Timestamp;

/// Where a payment's screening stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HoldState {
    /// Waiting for an operator; not credited.
    Held,
    /// An operator released it: it counts as any payment does.
    Released,
    /// An operator rejected it: never credited; it stays on the held account.
    Rejected,
}

impl HoldState {
    /// Every state.
    pub const ALL: [HoldState; 3] = [Self::Held, Self::Released, Self::Rejected];

    /// As the database and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Released => "released",
            Self::Rejected => "rejected",
        }
    }

    /// Parses [`HoldState::as_str`]'s text.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a payment in this state is kept off the merchant's books.
    pub fn withholds(self) -> bool {
        !matches!(self, Self::Released)
    }

    /// The state an operator's decision leads to, if it may: only a held
    /// payment can be decided, and only once.
    pub fn decide(self, release: bool) -> Result<Self, HoldAlreadyDecided> {
        match self {
            Self::Held if release => Ok(Self::Released),
            Self::Held => Ok(Self::Rejected),
            decided => Err(HoldAlreadyDecided(decided)),
        }
    }
}

impl fmt::Display for HoldState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision asked of a payment whose hold was decided already.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the payment's hold was {0} already; a decision is final")]
pub struct HoldAlreadyDecided(pub HoldState);

/// Why a payment is held: the list entry its sender matched.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HoldReason {
    /// The entry's category (`sanction`, `heist`, `mixer`, …).
    pub category: String,
    /// The list it is on, as imported (a file name).
    pub list: String,
    /// Its line in that list, from 1.
    pub line: u64,
    /// The entry's label (`LAZARUS GROUP`, an incident's name), if it has one.
    pub label: Option<String>,
    /// For indirect exposure, the hops from the listed address to the
    /// sender (the listed address first); empty when the sender itself is listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<Address>,
}

impl HoldReason {
    /// `list:line`, the way an operator finds the entry.
    pub fn source(&self) -> String {
        format!("{}:{}", self.list, self.line)
    }
}

/// A payment's hold: why, and what an operator decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// Held, released or rejected.
    pub state: HoldState,
    /// The hit that put it on hold.
    pub reason: HoldReason,
    /// When an operator decided, and why (the `--reason` given).
    pub decided: Option<(Timestamp, String)>,
}

impl Hold {
    /// A new hold for `reason`.
    pub fn new(reason: HoldReason) -> Self {
        Self { state: HoldState::Held, reason, decided: None }
    }

    /// Whether the payment is kept off the merchant's books.
    pub fn withholds(&self) -> bool {
        self.state.withholds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_is_decided_once() {
        assert_eq!(HoldState::Held.decide(true), Ok(HoldState::Released));
        assert_eq!(HoldState::Held.decide(false), Ok(HoldState::Rejected));
        for decided in [HoldState::Released, HoldState::Rejected] {
            assert_eq!(decided.decide(true), Err(HoldAlreadyDecided(decided)));
            assert_eq!(decided.decide(false), Err(HoldAlreadyDecided(decided)));
        }
        assert!(HoldState::Held.withholds() && HoldState::Rejected.withholds() && !HoldState::Released.withholds());
        for state in HoldState::ALL {
            assert_eq!(HoldState::parse(state.as_str()), Some(state));
        }
    }
}
