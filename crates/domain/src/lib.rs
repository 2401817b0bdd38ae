//! Coffer's domain types, shared by every other crate: money in base units
//! tied to its asset, assets and chains, typed ids, the invoice and payout
//! lifecycles, refunds and API-key tokens.
//!
//! **Architecture invariant:** this crate does no I/O (no network, no files,
//! no database) and has no floats. Everything here can be unit-tested in
//! isolation, and a wrong state (an amount without an asset, an invoice id
//! where a merchant id belongs, an invoice jumping from settled to new)
//! does not type-check or is refused by a constructor.

#![deny(clippy::float_arithmetic)]

mod asset_book;
mod auth;
mod branding;
mod chain;
mod checkout;
mod event;
mod exception;
mod hold;
mod ids;
mod invoice;
mod ledger;
mod money;
mod payment;
mod payment_uri;
mod payout;
mod refund;
mod settlement;
mod sweep;
mod time;

pub use asset_book::{AssetBook, AssetLookupError};
pub use auth::{ApiKeyToken, MalformedToken, RandomnessUnavailable, Scope, Scopes, SecretDigest, UnknownScope};
pub use branding::{BadColor, BadLogo, BrandColor, Branding, Logo, LogoType, MAX_LOGO_BYTES};
pub use chain::{ChainId, HaltCode};
pub use checkout::{
    BadReturnUrl, Checkout, CheckoutToken, INVOICE_ID_PLACEHOLDER, MAX_RETURN_URL, MalformedCheckoutToken, ReturnUrl,
};
pub use event::{EventType, UnknownEventType, events_for_change};
pub use exception::{Exception, Exceptions, UnknownException};
pub use hold::{Hold, HoldAlreadyDecided, HoldReason, HoldState};
pub use ids::{
    ApiKeyId, DeliveryId, EventId, InvalidId, InvoiceId, LedgerTxId, MerchantId, PayoutId, SweepId, WebhookId,
};
pub use invoice::{
    DepositAddress, DerivationIndex, HardenedIndex, InvalidTransition, Invoice, InvoiceStatus, UnknownStatus,
};
pub use ledger::{Account, Balances, Entry, FeePayer, LedgerError, ReserveSource, Side, Transaction};
pub use money::{
    Amount, AmountError, Asset, AssetId, AssetKind, AssetSymbol, InvalidSymbol, MAX_DECIMALS, MoneyError, format_units,
};
pub use payment::{BlockHeader, BlockRef, Payment, PaymentId, PaymentState};
pub use payment_uri::payment_uri;
pub use payout::{
    Advance, ApprovalRound, InvalidPayoutTransition, Payout, PayoutChange, PayoutProgress, PayoutStatus, Refusal,
    UnknownPayoutStatus,
};
pub use refund::{Refundable, refundable};
pub use settlement::{Assessment, ObservedPayment, assess, confirmations};
pub use sweep::{Sweep, SweepChange, SweepProgress, SweepTopUp};
pub use time::Timestamp;

/// Re-exported so that every crate names addresses and amounts with the same types.
pub use alloy_primitives::{Address, B256, U256};
