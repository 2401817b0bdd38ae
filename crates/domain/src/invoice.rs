//! Invoices and their lifecycle, in the shape users of BTCPay Server know.
//!
//! ```text
//!            payment seen                 confirmed in full
//!   New ─────────────────▶ Processing ───────────────────────▶ Settled
//!    │ ▲                      │   │
//!    │ └──── reorg un-sees ───┤   └──▶ Invalid (the merchant refuses it)
//!    │ expiry passes,         │ reorg un-sees after the expiry
//!    ▼ not paid in full       ▼
//!  Expired ◀──────────────────┘
//!    ├──(paid late)──▶ Processing / Settled
//!    └──(the merchant cancels it)──▶ Invalid
//! ```
//!
//! `Invalid` is a merchant's decision (`POST /v1/invoices/{id}/invalidate`):
//! a cancelled order, or a payment the shop will refund rather than accept.
//! What arrives for an invalid invoice stays in suspense, never credited.
//!
//! Every state change goes through [`InvoiceStatus::transition`], which
//! refuses any edge not drawn above.

use std::fmt;
use std::str::FromStr;

use alloy_primitives::Address;

use crate::{Amount, Checkout, Exceptions, InvoiceId, MerchantId, Timestamp};

/// Where an invoice is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum InvoiceStatus {
    /// Waiting for payment.
    New,
    /// Paid in full, waiting for confirmations.
    Processing,
    /// Paid in full and confirmed; the merchant has been credited.
    Settled,
    /// The payment window closed with no full payment.
    Expired,
    /// The merchant refused it; whatever it received is held for a refund, never credited.
    Invalid,
}

/// A state change the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an invoice cannot go from {from} to {to}")]
pub struct InvalidTransition {
    /// The current state.
    pub from: InvoiceStatus,
    /// The refused next state.
    pub to: InvoiceStatus,
}

/// Text that names no invoice status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown invoice status {0:?}; expected one of new, processing, settled, expired, invalid")]
pub struct UnknownStatus(pub String);

impl InvoiceStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [InvoiceStatus; 5] = [Self::New, Self::Processing, Self::Settled, Self::Expired, Self::Invalid];

    /// The status as the API and the database spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Processing => "processing",
            Self::Settled => "settled",
            Self::Expired => "expired",
            Self::Invalid => "invalid",
        }
    }

    /// Whether the lifecycle allows going from `self` to `next`.
    pub fn can_become(self, next: InvoiceStatus) -> bool {
        use InvoiceStatus::*;
        matches!(
            (self, next),
            (New, Processing | Settled | Expired | Invalid)
                | (Processing, New | Settled | Expired | Invalid)
                | (Expired, Processing | Settled | Invalid)
        )
    }

    /// `next`, if the lifecycle allows it from `self`.
    pub fn transition(self, next: InvoiceStatus) -> Result<InvoiceStatus, InvalidTransition> {
        if self.can_become(next) { Ok(next) } else { Err(InvalidTransition { from: self, to: next }) }
    }

    /// Whether nothing can happen to the invoice any more.
    pub fn is_final(self) -> bool {
        Self::ALL.iter().all(|&next| !self.can_become(next))
    }
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InvoiceStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.chars().take(40).collect()))
    }
}

/// The position of a deposit address in the BIP-44 external chain
/// `m/44'/60'/0'/0/i`. Always below 2^31: hardened indices cannot be derived
/// from public material, and the gateway has nothing else.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct DerivationIndex(u32);

/// An index at or above 2^31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("derivation index {0} is hardened; deposit addresses use indices below 2^31")]
pub struct HardenedIndex(pub u64);

impl DerivationIndex {
    /// One past the largest non-hardened index.
    pub const LIMIT: u32 = 1 << 31;

    /// The index as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u64> for DerivationIndex {
    type Error = HardenedIndex;

    fn try_from(value: u64) -> Result<Self, Self::Error> {
        match u32::try_from(value) {
            Ok(index) if index < Self::LIMIT => Ok(Self(index)),
            _ => Err(HardenedIndex(value)),
        }
    }
}

impl fmt::Display for DerivationIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A deposit address and where it sits in the HD tree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DepositAddress {
    /// The index `i` in `m/44'/60'/0'/0/i`.
    pub index: DerivationIndex,
    /// The Ethereum address at that index.
    pub address: Address,
}

/// An invoice as stored.
#[derive(Clone, PartialEq, Debug)]
pub struct Invoice {
    /// Its id.
    pub id: InvoiceId,
    /// The merchant that created it; only that merchant can see it.
    pub merchant_id: MerchantId,
    /// Where it is in its life.
    pub status: InvoiceStatus,
    /// Paid too little, too much, too late, or in another asset.
    pub exceptions: Exceptions,
    /// How much is asked, of which asset.
    pub amount: Amount,
    /// Where the customer pays; unique to this invoice.
    pub deposit: DepositAddress,
    /// The merchant's own reference, if given.
    pub order_id: Option<String>,
    /// Free-form JSON object the merchant attached.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When the payment window closes.
    pub expires_at: Timestamp,
    /// Its hosted checkout page's token and the shop's return addresses.
    pub checkout: Checkout,
}

#[cfg(test)]
mod tests {
    use super::*;
    use InvoiceStatus::*;

    #[test]
    fn only_drawn_edges_are_allowed() {
        assert_eq!(New.transition(Processing), Ok(Processing));
        assert_eq!(Processing.transition(New), Ok(New), "a reorg un-sees a payment");
        assert_eq!(Expired.transition(Settled), Ok(Settled), "paid late");
        assert_eq!(Processing.transition(Expired), Ok(Expired), "a reorg un-sees a payment after the expiry");
        assert!(Settled.transition(New).is_err());
        assert!(Settled.transition(Processing).is_err());
        assert!(New.transition(New).is_err());
        assert!(Invalid.transition(Settled).is_err());
        assert_eq!(Expired.transition(Invalid), Ok(Invalid), "the merchant cancels an expired invoice");
        assert!(Settled.is_final() && Invalid.is_final());
        assert!(!New.is_final() && !Processing.is_final() && !Expired.is_final());
    }

    #[test]
    fn status_text_round_trips() {
        for status in InvoiceStatus::ALL {
            assert_eq!(status.as_str().parse::<InvoiceStatus>(), Ok(status));
        }
        assert!("NEW".parse::<InvoiceStatus>().is_err());
        assert!("paid".parse::<InvoiceStatus>().is_err());
    }

    #[test]
    fn derivation_indices_stay_below_the_hardened_range() {
        assert_eq!(DerivationIndex::try_from(0).unwrap().get(), 0);
        assert_eq!(DerivationIndex::try_from((1 << 31) - 1).unwrap().get(), (1 << 31) - 1);
        assert!(DerivationIndex::try_from(1 << 31).is_err());
        assert!(DerivationIndex::try_from(u64::MAX).is_err());
    }
}
