//! A waiting payout as the gateway shows it (`GET /v1/operator/payouts/{id}`),
//! rebuilt into what approvers sign and checked against itself.
//!
//! The gateway may be the attacker's: it could show one payout and report
//! the digest of another, or a decimal amount that is not its base units.
//! So the digest is computed here from the fields shown (which are what the
//! person reads), and the command refuses when the gateway's differs.

use anyhow::Context as _;
use coffer_domain::{Address, MerchantId, PayoutId, U256, format_units};
use coffer_signer_api::{Digest, PayoutApproval, PayoutIntent};
use serde_json::Value;

/// A payout the gateway says waits for approvals, checked.
#[derive(Debug)]
pub(super) struct Checked {
    /// What approvers sign.
    pub(super) approval: PayoutApproval,
    /// Its digest, computed here (equal to the gateway's).
    pub(super) digest: Digest,
    /// The amount in the asset's unit, as shown, and the decimals that makes it.
    pub(super) decimal: Option<(String, u8)>,
    /// Approvals needed.
    pub(super) quorum: u8,
    /// Who signed this round so far.
    pub(super) approved_by: Vec<String>,
}

/// A text field of `value`, or a sentence naming it.
fn text<'a>(value: &'a Value, field: &str) -> anyhow::Result<&'a str> {
    value[field].as_str().ok_or_else(|| anyhow::anyhow!("the gateway's payout has no text field {field:?}"))
}

/// Unix seconds from a number or RFC 3339 text.
fn unix_secs(value: &Value) -> anyhow::Result<i64> {
    if let Some(secs) = value.as_i64() {
        return Ok(secs);
    }
    let text = value.as_str().ok_or_else(|| anyhow::anyhow!("approval.expires_at is neither unix seconds nor text"))?;
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("approval.expires_at {text:?} is not RFC 3339"))?;
    anyhow::ensure!(at.nanosecond() == 0, "approval.expires_at {text:?} is not a whole second, as the signer sets it");
    Ok(at.unix_timestamp())
}

/// The round's expiry as the digest has it: `expires_at_unix` where the
/// gateway gives it beside RFC 3339 `expires_at` (the two must agree), else
/// `expires_at` as either.
fn expiry(round: &Value) -> anyhow::Result<i64> {
    let text = unix_secs(&round["expires_at"]);
    if round["expires_at_unix"].is_null() {
        return text;
    }
    let unix = unix_secs(&round["expires_at_unix"])?;
    if let Ok(text) = text {
        anyhow::ensure!(
            text == unix,
            "REFUSED: the gateway shows the round's expiry as {} and as {unix} unix seconds, which differ",
            round["expires_at"]
        );
    }
    Ok(unix)
}

/// The decimals that make `units` read as `decimal`, if any does.
fn decimals_of(units: U256, decimal: &str) -> Option<u8> {
    let normal = match decimal.split_once('.') {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() { whole.to_owned() } else { format!("{whole}.{fraction}") }
        }
        None => decimal.to_owned(),
    };
    (0..=coffer_domain::MAX_DECIMALS).find(|d| format_units(units, *d) == normal)
}

/// Checks what the gateway showed for payout `asked`.
pub(super) fn check(shown: &Value, asked: PayoutId) -> anyhow::Result<Checked> {
    let id: PayoutId = text(shown, "id")?.parse().context("the gateway's payout id")?;
    anyhow::ensure!(id == asked, "asked about payout {asked}, the gateway answered about {id}; refusing to go on");
    let status = shown["status"].as_str().or_else(|| shown["state"].as_str()).unwrap_or("unknown");
    // The gateway keeps the last round once a payout moved on (who approved
    // it): only a waiting payout has one to sign.
    let round = &shown["approval"];
    anyhow::ensure!(
        status == "pending_approval" && round.is_object(),
        "payout {id} is {status}, not waiting for approvals: there is nothing to sign"
    );

    // The gateway's operator view names base units `amount_units` beside a
    // decimal `amount`, as its merchant view does; `amount` alone is base units.
    let (units_text, decimal_text) = match shown["amount_units"].as_str() {
        Some(units) => (units, shown["amount"].as_str()),
        None => (text(shown, "amount")?, shown["amount_decimal"].as_str()),
    };
    let amount: U256 = units_text.parse().with_context(|| format!("the amount {units_text:?} is not base units"))?;
    let decimal = match decimal_text {
        Some(decimal) => {
            let decimals = decimals_of(amount, decimal).ok_or_else(|| {
                anyhow::anyhow!(
                    "REFUSED: the gateway shows the amount as {decimal} but {amount} base units are not {decimal} at \
                     any number of decimals: what is shown is not what would be signed; do not approve, and tell \
                     the other approvers"
                )
            })?;
            Some((decimal.to_owned(), decimals))
        }
        None => None,
    };
    let destination_text = text(shown, "destination")?;
    let destination = parse_address(destination_text).context("the payout's destination")?;
    let chain_id = shown["chain_id"].as_u64().ok_or_else(|| anyhow::anyhow!("the gateway's payout has no chain_id"))?;
    let payout = PayoutIntent {
        id,
        merchant: text(shown, "merchant")?.parse::<MerchantId>().context("the payout's merchant")?,
        chain_id: coffer_domain::ChainId(chain_id),
        asset: text(shown, "asset")?.parse().context("the payout's asset")?,
        amount,
        destination,
    };
    let approval = PayoutApproval { payout, expires_at: expiry(round)? };
    let digest = approval.digest();
    let reported: Digest =
        text(round, "digest")?.parse().map_err(|e: String| anyhow::anyhow!("approval.digest: {e}"))?;
    anyhow::ensure!(
        reported == digest,
        "REFUSED: the gateway reports digest {} for payout {id}, but the fields it shows hash to {}: it is showing \
         one payout and asking approvers to sign another. Do not approve; tell the other approvers and check the \
         gateway host",
        reported.grouped(),
        digest.grouped()
    );
    let quorum = round["quorum"].as_u64().and_then(|q| u8::try_from(q).ok()).unwrap_or(0);
    let approved_by = round["approved_by"]
        .as_array()
        .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    Ok(Checked { approval, digest, decimal, quorum, approved_by })
}

/// An address as a person typed or the gateway showed it: mixed case must
/// be its EIP-55 checksum (a typo in a checksummed address is caught).
pub(super) fn parse_address(text: &str) -> anyhow::Result<Address> {
    let hex = text.strip_prefix("0x").unwrap_or(text);
    let mixed = hex.bytes().any(|b| b.is_ascii_uppercase()) && hex.bytes().any(|b| b.is_ascii_lowercase());
    if mixed {
        Address::parse_checksummed(text, None).map_err(|_| anyhow::anyhow!("{text} does not match its EIP-55 checksum"))
    } else {
        text.parse().map_err(|_| anyhow::anyhow!("{text:?} is not an address (0x and 40 hex digits)"))
    }
}

#[cfg(test)]
mod tests;
