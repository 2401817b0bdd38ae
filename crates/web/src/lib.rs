//! Coffer's pages, rendered on the server: the hosted checkout page (its
//! words in several languages, its QR code drawn here as SVG) and the
//! small script and stylesheet it loads from the gateway itself, and the
//! console's pages for merchants and the operator (plain forms, no script).
//!
//! **Invariant:** presentation only. This crate reads no database and
//! makes no request; the gateway gathers the [`checkout::Facts`] through
//! the same service calls as its API and hands them here. Every text that
//! comes from a merchant or a customer goes through askama's HTML escaping
//! (only the QR code's SVG, drawn here from no markup, is inserted raw).

pub mod checkout;
pub mod console;
pub mod dev_panel;
pub mod i18n;
pub mod qr;

pub use checkout::{Facts, Rendered, Stage, fragment, page, stage};
pub use i18n::Lang;

/// The checkout page's script, served from `/pay/assets/checkout.js`.
pub const CHECKOUT_JS: &str = include_str!("../assets/checkout.js");
/// The checkout page's stylesheet, served from `/pay/assets/checkout.css`.
pub const CHECKOUT_CSS: &str = include_str!("../assets/checkout.css");
