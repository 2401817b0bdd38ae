//! The handlers' checks as JSON Schema, so that the description refuses
//! what the API refuses. Each pattern says exactly what its check accepts,
//! or, where that is out of a regular expression's reach, less (the
//! description then errs on the side of a refusal, and says so).
//!
//! The patterns use only what ECMA-262, Python and Rust regular
//! expressions share (no look-around, no classes such as `\p{Cc}`).

use coffer_domain::{EventType, InvoiceStatus, PayoutStatus};
use utoipa::openapi::RefOr;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type};

/// An asset symbol as `AssetSymbol` parses it: 1 to 12 ASCII letters or
/// digits, any case. Which symbols are accepted is this gateway's
/// configuration: the served document adds it ([`super::document`]).
pub(crate) const SYMBOL: &str = "^[A-Za-z0-9]{1,12}$";

/// The longest decimal string `Asset::parse_amount` reads.
pub(crate) const MAX_AMOUNT_CHARS: usize = 160;

/// The longest webhook URL the guard accepts, in bytes (ASCII only here, so characters too).
pub(crate) const MAX_URL_CHARS: usize = 2048;

/// A pattern matching `text` in any ASCII case (`USDT`, `usdt`, `uSdT`).
pub(crate) fn any_case(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
            } else {
                regex_escape(c)
            }
        })
        .collect()
}

fn regex_escape(c: char) -> String {
    if c.is_ascii_alphanumeric() { c.to_string() } else { format!("\\{c}") }
}

/// The amounts of an asset with `decimals` decimals that an invoice takes:
/// what `Asset::parse_amount` reads (digits, then optionally a point and
/// 1 to `decimals` digits; leading zeros allowed), above zero, and below
/// 10^(77 − decimals) whole units, which always fits in 256 bits (larger
/// amounts may or may not: the pattern leaves them out).
pub(crate) fn amount_pattern(decimals: u8) -> String {
    let decimals = usize::from(decimals.min(coffer_domain::MAX_DECIMALS));
    let mut branches = Vec::new();
    if decimals < 77 {
        let fraction = if decimals == 0 { String::new() } else { format!(r"(?:\.[0-9]{{1,{decimals}}})?") };
        branches.push(format!("0*[1-9][0-9]{{0,{}}}{fraction}", 76 - decimals));
    }
    if decimals > 0 {
        // Zero whole units: a fraction of 1 to `decimals` digits, not all zeros.
        let fractions: Vec<String> = (0..decimals)
            .map(|zeros| {
                let lead = if zeros == 0 { String::new() } else { format!("0{{{zeros}}}") };
                let rest = decimals - 1 - zeros;
                let rest = if rest == 0 { String::new() } else { format!("[0-9]{{0,{rest}}}") };
                format!("{lead}[1-9]{rest}")
            })
            .collect();
        branches.push(format!(r"0+\.(?:{})", fractions.join("|")));
    }
    format!("^(?:{})$", branches.join("|"))
}

/// `amount` of a new invoice.
pub(crate) fn amount() -> impl Into<RefOr<Schema>> {
    decimal(
        "12.50",
        "The price as a decimal string in the asset's unit (`\"12.50\"`), never a JSON number: floats \
         cannot carry money exactly. Above zero, with at most the asset's decimals (`invalid_amount`); \
         each accepted asset's exact pattern is in this schema's `oneOf`.",
    )
}

/// `amount` of a payout.
pub(crate) fn payout_amount() -> impl Into<RefOr<Schema>> {
    decimal(
        "12.50",
        "How much, as a decimal string in the asset's unit (`\"12.50\"`), never a JSON number. Above zero, \
         with at most the asset's decimals (`invalid_amount`); each asset's exact pattern is in this schema's \
         `oneOf`. Beyond the schema, it must not exceed the merchant's available balance of the asset \
         (`GET /v1/balances`; 422 `insufficient_balance`), nor, for a refund, what its invoice has left to \
         refund (422 `refund_exceeds_invoice`).",
    )
}

fn decimal(example: &str, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_AMOUNT_CHARS))
        .pattern(Some(r"^[0-9]+(\.[0-9]+)?$"))
        .examples([example])
        .description(Some(description))
}

/// A 0x address that is not the zero address: `0x`, then 40 hex digits not
/// all zero (the length is the schema's `minLength` and `maxLength`).
pub(crate) const NONZERO_ADDRESS: &str = "^0x0*[1-9A-Fa-f][0-9A-Fa-f]*$";

/// `destination` of a payout. The EIP-55 checksum of a mixed-case address
/// is out of a regular expression's reach: refused beyond the schema.
pub(crate) fn destination() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(42))
        .max_length(Some(42))
        .pattern(Some(NONZERO_ADDRESS))
        .examples(["0x1111111111111111111111111111111111111111"])
        .description(Some(
            "Where to send it: `0x` and 40 hex digits, not the zero address (what is sent there is lost) \
             (`invalid_destination`). Beyond this pattern, a mixed-case address must carry a valid EIP-55 \
             checksum (a mistyped address would pay a stranger for good), else 422 `invalid_destination`; \
             all lowercase or all uppercase digits are taken as they are.",
        ))
}

/// `refund_of` of a payout: an invoice id, or null (a plain payout).
pub(crate) fn refund_of() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some("^inv_[0-9a-fA-F]{32}$"))
        .description(Some(
            "The invoice this refunds (`inv_…`); 404 if the merchant has no such invoice. Beyond the schema: \
             a refund is paid in its invoice's asset (422 `invalid_request`), only from an invoice with \
             confirmed overpaid or late money, or an invalidated or expired one that received some (409 \
             `invalid_state`), and at most that amount less earlier refunds (422 `refund_exceeds_invoice`).",
        ))
}

/// `asset` of a new invoice.
pub(crate) fn asset() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(SYMBOL)).examples(["USDT"]).description(Some(
        "Asset symbol, case-insensitive (`USDT`, `usdt`): one this gateway accepts, listed in this schema's \
             `oneOf` (`unknown_asset`).",
    ))
}

/// `order_id` of a new invoice.
pub(crate) fn order_id() -> impl Into<RefOr<Schema>> {
    printable_text(
        super::invoices::MAX_ORDER_ID,
        "A-1",
        format!(
            "The merchant's own reference: 1 to {} characters, no control characters (`control_character`).",
            super::invoices::MAX_ORDER_ID
        ),
    )
}

/// A nullable string of 1 to `max` characters without control characters,
/// as `crate::input::plain_text` checks it.
fn printable_text(max: usize, example: &str, description: String) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(crate::input::PRINTABLE))
        .examples([example])
        .description(Some(description))
}

/// `description`: printable text, as `order_id`, up to 500 characters.
pub(crate) fn description() -> impl Into<RefOr<Schema>> {
    printable_text(
        super::invoices::MAX_DESCRIPTION,
        "2 bags of coffee beans, 250 g",
        format!(
            "What the customer pays for, shown on the checkout page: 1 to {} characters, no control \
             characters (`control_character`).",
            super::invoices::MAX_DESCRIPTION
        ),
    )
}

/// What `coffer_domain::ReturnUrl::parse` accepts, as a pattern.
const RETURN_URL: &str =
    "^https?://[^\\s\"'<>`@:/?#\\u0000-\\u001f\\u007f-\\u009f][^\\s\"'<>`\\u0000-\\u001f\\u007f-\\u009f]*$";

/// `success_url` and `cancel_url`.
pub(crate) fn return_url() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(coffer_domain::MAX_RETURN_URL))
        .pattern(Some(RETURN_URL))
        .examples(["https://shop.example/thanks?order={INVOICE_ID}"])
        .description(Some(
            "An absolute http(s) URL of the shop, without spaces, quotes or angle brackets; `{INVOICE_ID}` is \
             replaced by the invoice's id (`invalid_request`).",
        ))
}

/// `limit` of every list: 1 to 100, or empty (absent).
pub(crate) fn page_limit() -> impl Into<RefOr<Schema>> {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(super::page::MAX_PAGE)))
        .item(ObjectBuilder::new().schema_type(Type::String).max_length(Some(0)))
        .description(Some(format!(
            "Page size, 1 to {} (default {}); empty counts as absent (`invalid_limit`).",
            super::page::MAX_PAGE,
            super::page::DEFAULT_PAGE
        )))
}

/// The webhook URLs whose shape the guard accepts (`coffer_webhooks::guard::parse_url`):
/// absolute `http` or `https`, a host, no credentials, no fragment, at most
/// 2048 bytes. The pattern is the RFC 3986 subset of what the guard's
/// WHATWG parser takes: a domain whose last label starts with a letter, a
/// dotted IPv4 address or a bracketed IPv6 one, an optional port, and a
/// path and query of URI characters or `%XX` escapes.
pub(crate) fn url_pattern() -> String {
    let label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    let top = "[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    let h = "[0-9A-Fa-f]{1,4}";
    let ipv6 = [
        format!("(?:{h}:){{7}}{h}"),
        format!("(?:{h}:){{1,7}}:"),
        format!("(?:{h}:){{1,6}}:{h}"),
        format!("(?:{h}:){{1,5}}(?::{h}){{1,2}}"),
        format!("(?:{h}:){{1,4}}(?::{h}){{1,3}}"),
        format!("(?:{h}:){{1,3}}(?::{h}){{1,4}}"),
        format!("(?:{h}:){{1,2}}(?::{h}){{1,5}}"),
        format!("{h}:(?::{h}){{1,6}}"),
        format!(":(?:(?::{h}){{1,7}}|:)"),
    ]
    .join("|");
    let host = format!(r"(?:(?:{label}\.)*{top}|{octet}(?:\.{octet}){{3}}|\[(?:{ipv6})\])");
    let port = "(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?";
    let rest = "(?:[/?](?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?";
    format!("^[Hh][Tt][Tt][Pp][Ss]?://{host}{port}{rest}$")
}

/// `url` of a webhook registration.
pub(crate) fn webhook_url() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("uri".into())))
        .max_length(Some(MAX_URL_CHARS))
        .pattern(Some(url_pattern()))
        // An address, not a name: a fuzzer trying the example registers it without a DNS lookup.
        .examples(["https://93.184.215.14/coffer/hooks"])
        .description(Some(
            "Where deliveries go: an absolute `https://` (or `http://`) URL without credentials or `#fragment`, \
             whose host is a domain name, an IPv4 address or a bracketed IPv6 address. Beyond this pattern, the \
             host must be, or resolve to, public addresses only (unless the operator allows private ones), \
             checked when the endpoint is registered and at every delivery: a loopback, private or link-local \
             host, or one that does not resolve, is refused with 422 `invalid_webhook_url`.",
        ))
        .extensions(Some(ExtensionsBuilder::new().add(ACCEPTED_BEYOND_SCHEMA, ALSO_ACCEPTED_URLS).build()))
}

/// The extension saying what a field takes beyond its schema.
pub(crate) const ACCEPTED_BEYOND_SCHEMA: &str = "x-accepted-beyond-schema";

/// What the guard's WHATWG parser takes and the pattern leaves out: kept out of
/// the description, so that what it describes is always taken as it reads.
const ALSO_ACCEPTED_URLS: &str = "Spellings a WHATWG URL parser normalises are taken too and stored normalised \
    (IPv4 shorthand such as `1.2.3`, spaces and backslashes in the path, a missing `//`, an empty port, \
    underscores in host names): do not rely on them.";

/// `events` of a webhook registration: at least one known event type (repeats count once).
pub(crate) fn event_types() -> impl Into<RefOr<Schema>> {
    let names: Vec<&str> = EventType::ALL.iter().map(|event| event.as_str()).collect();
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)))
        .min_items(Some(1))
        .examples([serde_json::json!(["invoice.processing", "invoice.settled", "invoice.expired"])])
        .description(Some("Event types to deliver (`invoice.settled`, …), at least one; a repeated one counts once."))
}

/// `status` of the invoice list: one of the invoice states, or empty (absent).
pub(crate) fn invoice_status() -> impl Into<RefOr<Schema>> {
    let names: Vec<&str> = InvoiceStatus::ALL.iter().map(|status| status.as_str()).chain([""]).collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .description(Some("Only invoices in this state; empty counts as absent (`invalid_request`)."))
}

/// `status` of the payout list: one of the payout states, or empty (absent).
pub(crate) fn payout_status() -> impl Into<RefOr<Schema>> {
    let names: Vec<&str> = PayoutStatus::ALL.iter().map(|status| status.as_str()).chain([""]).collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .description(Some("Only payouts in this state; empty counts as absent (`invalid_request`)."))
}

/// `asset` of the payout list: a symbol, any case, or empty (absent). Any
/// well-formed symbol filters (one no longer configured included).
pub(crate) fn symbol_filter() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^(?:[A-Za-z0-9]{1,12})?$"))
        .examples(["USDT"])
        .description(Some(
            "Only payouts of this asset symbol, case-insensitive; empty counts as absent (`invalid_request`).",
        ))
}

/// The longest `chain_id` filter, in digits: every such number fits in the
/// database's signed 64 bits (a longer one was a 500 there).
pub(crate) const MAX_CHAIN_DIGITS: usize = 18;

/// `chain_id` of the payout list: 1 to 18 digits, or empty (absent).
pub(crate) fn chain_filter() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^(?:[0-9]{{1,{MAX_CHAIN_DIGITS}}})?$")))
        .examples(["31337"])
        .description(Some(format!(
            "Only payouts on this chain: 1 to {MAX_CHAIN_DIGITS} digits; empty counts as absent (`invalid_request`)."
        )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_match_in_any_case() {
        assert_eq!(any_case("USDT"), "[Uu][Ss][Dd][Tt]");
        assert_eq!(any_case("wBTC2"), "[Ww][Bb][Tt][Cc]2");
    }

    #[test]
    fn amount_patterns_are_built_per_decimals() {
        assert_eq!(amount_pattern(0), "^(?:0*[1-9][0-9]{0,76})$");
        assert_eq!(amount_pattern(2), r"^(?:0*[1-9][0-9]{0,74}(?:\.[0-9]{1,2})?|0+\.(?:[1-9][0-9]{0,1}|0{1}[1-9]))$");
    }
}
