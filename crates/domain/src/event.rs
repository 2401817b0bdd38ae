//! Events: what happened to an invoice or a payout, as webhooks tell merchants.

use std::fmt;
use std::str::FromStr;

use crate::{Exception, Exceptions, InvoiceStatus};

/// The kinds of event a webhook endpoint can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// Paid in full, waiting for confirmations.
    InvoiceProcessing,
    /// Paid in full and confirmed; the merchant's balance has been credited.
    InvoiceSettled,
    /// The payment window closed without a full payment.
    InvoiceExpired,
    /// The merchant invalidated the invoice.
    InvoiceInvalid,
    /// Less than the amount has arrived.
    InvoicePaidPartial,
    /// More than the amount has arrived.
    InvoicePaidOver,
    /// A payment arrived after the expiry.
    InvoicePaidLate,
    /// A payment in another asset arrived at the invoice's address (not credited).
    InvoiceWrongAsset,
    /// A confirmed payment came from a sender on a screening list: it is held,
    /// not credited, until an operator releases or rejects it (the hit's
    /// category and source are on the payment in the payload).
    InvoiceHeld,
    /// The unconfirmed payment that made the invoice `processing` left the
    /// chain (a reorganisation): the invoice is back to `new` (or `expired`).
    InvoiceProcessingWithdrawn,
    /// A payout was accepted: its amount is reserved and it is on its way to the signer.
    PayoutPending,
    /// A payout waits for approvers to sign its digest (its round is in the payload); its amount stays reserved.
    PayoutPendingApproval,
    /// The signer refused a payout (its rule tag and sentence are in the payload); the reserve is released.
    PayoutRefused,
    /// A payout's transaction was sent (its hash is in the payload).
    PayoutBroadcast,
    /// A payout's transaction confirmed; it is booked out with its network fee.
    PayoutConfirmed,
    /// A payout's transaction reverted or was dropped: nothing moved; the reserve is released.
    PayoutFailed,
    /// The signer froze outgoing payments (its reason's tag, sentence and
    /// time are in the payload): payouts are refused until approvers lift it.
    OperatorFreeze,
}

/// Text that names no event type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type {0:?}")]
pub struct UnknownEventType(pub String);

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 17] = [
        Self::InvoiceProcessing,
        Self::InvoiceSettled,
        Self::InvoiceExpired,
        Self::InvoiceInvalid,
        Self::InvoicePaidPartial,
        Self::InvoicePaidOver,
        Self::InvoicePaidLate,
        Self::InvoiceWrongAsset,
        Self::InvoiceHeld,
        Self::InvoiceProcessingWithdrawn,
        Self::PayoutPending,
        Self::PayoutPendingApproval,
        Self::PayoutRefused,
        Self::PayoutBroadcast,
        Self::PayoutConfirmed,
        Self::PayoutFailed,
        Self::OperatorFreeze,
    ];

    /// The name webhooks carry (`invoice.settled`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvoiceProcessing => "invoice.processing",
            Self::InvoiceSettled => "invoice.settled",
            Self::InvoiceExpired => "invoice.expired",
            Self::InvoiceInvalid => "invoice.invalid",
            Self::InvoicePaidPartial => "invoice.paid_partial",
            Self::InvoicePaidOver => "invoice.paid_over",
            Self::InvoicePaidLate => "invoice.paid_late",
            Self::InvoiceWrongAsset => "invoice.wrong_asset",
            Self::InvoiceHeld => "invoice.held",
            Self::InvoiceProcessingWithdrawn => "invoice.processing_withdrawn",
            Self::PayoutPending => "payout.pending",
            Self::PayoutPendingApproval => "payout.pending_approval",
            Self::PayoutRefused => "payout.refused",
            Self::PayoutBroadcast => "payout.broadcast",
            Self::PayoutConfirmed => "payout.confirmed",
            Self::PayoutFailed => "payout.failed",
            Self::OperatorFreeze => "operator.freeze",
        }
    }

    /// Whether the event is about a payout (its payload carries a payout,
    /// not an invoice).
    pub fn is_payout(self) -> bool {
        matches!(
            self,
            Self::PayoutPending
                | Self::PayoutPendingApproval
                | Self::PayoutRefused
                | Self::PayoutBroadcast
                | Self::PayoutConfirmed
                | Self::PayoutFailed
        )
    }

    fn of_status(status: InvoiceStatus) -> Option<Self> {
        match status {
            InvoiceStatus::Processing => Some(Self::InvoiceProcessing),
            InvoiceStatus::Settled => Some(Self::InvoiceSettled),
            InvoiceStatus::Expired => Some(Self::InvoiceExpired),
            InvoiceStatus::Invalid => Some(Self::InvoiceInvalid),
            // Back to `new` happens only when a reorganisation un-sees a
            // payment: `invoice.processing_withdrawn` says so.
            InvoiceStatus::New => None,
        }
    }

    fn of_exception(exception: Exception) -> Self {
        match exception {
            Exception::PaidPartial => Self::InvoicePaidPartial,
            Exception::PaidOver => Self::InvoicePaidOver,
            Exception::PaidLate => Self::InvoicePaidLate,
            Exception::WrongAsset => Self::InvoiceWrongAsset,
            Exception::Held => Self::InvoiceHeld,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| UnknownEventType(s.chars().take(60).collect()))
    }
}

/// The events an invoice change calls for: one per newly raised exception,
/// then `invoice.processing_withdrawn` if a reorganisation took back the
/// payment that made it `processing`, then one for the new status (if it
/// changed and has an event), in that order, so a merchant reads "paid
/// over" before "settled".
pub fn events_for_change(before: (InvoiceStatus, Exceptions), after: (InvoiceStatus, Exceptions)) -> Vec<EventType> {
    let mut events: Vec<EventType> = after.1.added_since(before.1).iter().map(EventType::of_exception).collect();
    if before.0 == InvoiceStatus::Processing && matches!(after.0, InvoiceStatus::New | InvoiceStatus::Expired) {
        events.push(EventType::InvoiceProcessingWithdrawn);
    }
    if after.0 != before.0
        && let Some(event) = EventType::of_status(after.0)
    {
        events.push(event);
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use InvoiceStatus::*;

    fn set(list: &[Exception]) -> Exceptions {
        list.iter().copied().collect()
    }

    #[test]
    fn a_change_raises_its_new_exceptions_then_its_status() {
        let none = Exceptions::default();
        assert_eq!(events_for_change((New, none), (Processing, none)), vec![EventType::InvoiceProcessing]);
        assert_eq!(
            events_for_change((New, none), (Settled, set(&[Exception::PaidOver]))),
            vec![EventType::InvoicePaidOver, EventType::InvoiceSettled]
        );
        let partial = set(&[Exception::PaidPartial]);
        assert_eq!(events_for_change((New, none), (New, partial)), vec![EventType::InvoicePaidPartial]);
        assert_eq!(events_for_change((New, partial), (New, partial)), vec![], "nothing new, nothing sent");
        assert_eq!(
            events_for_change((Processing, none), (New, none)),
            vec![EventType::InvoiceProcessingWithdrawn],
            "a reorganisation un-sees out loud"
        );
        assert_eq!(
            events_for_change((Processing, none), (Expired, none)),
            vec![EventType::InvoiceProcessingWithdrawn, EventType::InvoiceExpired]
        );
        assert_eq!(events_for_change((Processing, none), (Invalid, none)), vec![EventType::InvoiceInvalid]);
    }

    #[test]
    fn names_round_trip() {
        for event in EventType::ALL {
            assert_eq!(event.as_str().parse::<EventType>(), Ok(event));
        }
        assert!("invoice.stolen".parse::<EventType>().is_err());
        let payouts: Vec<_> = EventType::ALL.into_iter().filter(|e| e.is_payout()).collect();
        assert_eq!(payouts.len(), 6);
        assert!(payouts.iter().all(|e| e.as_str().starts_with("payout.")));
        assert!(
            EventType::ALL
                .iter()
                .filter(|e| !e.is_payout())
                .all(|e| e.as_str().starts_with("invoice.") || *e == EventType::OperatorFreeze)
        );
    }
}
