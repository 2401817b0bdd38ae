//! Typed identifiers. Each wraps a UUIDv7 (time-ordered, so new rows land at
//! the end of an index and ids sort by creation) and prints with a prefix that
//! says what it names: `inv_…`, `mer_…`, `key_…`, `evt_…`, `wh_…`, `whd_…`,
//! `ltx_…`, `po_…`, `swp_…`. A merchant id can never be passed where an
//! invoice id is expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// A string that is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid {kind} id (expected {prefix}_ followed by 32 hex digits)")]
pub struct InvalidId {
    /// What kind of id was expected.
    pub kind: &'static str,
    /// Its prefix.
    pub prefix: &'static str,
    /// The text, cut to a readable length.
    pub text: String,
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// The prefix this id prints with, without the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id, ordered after every id made before it on this host.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps a UUID read back from storage.
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside, for storage.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0.simple())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let invalid = || InvalidId { kind: $kind, prefix: $prefix, text: s.chars().take(80).collect() };
                let hex = s.strip_prefix(concat!($prefix, "_")).ok_or_else(invalid)?;
                if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid());
                }
                Uuid::try_parse(hex).map(Self).map_err(|_| invalid())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(
    /// Names a merchant: the owner of invoices, API keys and balances.
    MerchantId, "mer", "merchant"
);
typed_id!(
    /// Names an API key. The public half of a key token; the secret is separate.
    ApiKeyId, "key", "API key"
);
typed_id!(
    /// Names an invoice.
    InvoiceId, "inv", "invoice"
);
typed_id!(
    /// Names an event: something that happened to a merchant's invoice, told by webhook.
    EventId, "evt", "event"
);
typed_id!(
    /// Names a webhook endpoint a merchant registered.
    WebhookId, "wh", "webhook"
);
typed_id!(
    /// Names one delivery of one event to one endpoint; its retries keep the id.
    DeliveryId, "whd", "webhook delivery"
);
typed_id!(
    /// Names a ledger transaction.
    LedgerTxId, "ltx", "ledger transaction"
);
typed_id!(
    /// Names a payout: money a merchant asked to send out. The signer keys its
    /// decision on it, so asking twice never pays twice.
    PayoutId, "po", "payout"
);
typed_id!(
    /// Names a sweep: moving one deposit address's balance into the treasury.
    SweepId, "swp", "sweep"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text_and_json() {
        let id = InvoiceId::new();
        let text = id.to_string();
        assert!(text.starts_with("inv_") && text.len() == 36, "{text}");
        assert_eq!(text.parse::<InvoiceId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<InvoiceId>(&json).unwrap(), id);
    }

    #[test]
    fn refuses_ids_of_another_kind_or_shape() {
        let merchant = MerchantId::new().to_string();
        assert!(merchant.parse::<InvoiceId>().is_err());
        for bad in [
            "",
            "inv_",
            "inv_xyz",
            "inv_0123",
            "INV_0193c2d4a1b27c3e8f9a0b1c2d3e4f50",
            "inv_0193c2d4-a1b2-7c3e-8f9a-0b1c2d3e4f50",
        ] {
            assert!(bad.parse::<InvoiceId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = InvoiceId::new();
        let second = InvoiceId::new();
        assert!(second > first);
    }
}
