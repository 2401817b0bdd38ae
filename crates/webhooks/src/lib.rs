//! Webhooks: how Coffer tells a merchant's shop what happened.
//!
//! - [`signature`]: every delivery is signed with HMAC-SHA256 over its
//!   timestamp and body; receivers verify it (see the README for an example).
//! - [`guard`]: deliveries go to public addresses only, checked when an
//!   endpoint is registered and again, after DNS, at every delivery.
//! - [`Dispatcher`]: sends the outbox (deliveries written in the same
//!   transaction as the change they report) until each is acknowledged,
//!   retrying with exponential backoff: at least once; fairly across
//!   merchants and endpoints (`slots`), and redeliveries rate-limited per
//!   merchant (`rate`).

mod dispatcher;
pub mod guard;
mod rate;
pub mod signature;
mod slots;

pub use dispatcher::{ClientError, DispatchConfig, DispatchStats, Dispatcher};
pub use guard::{UrlError, UrlPolicy};
