//! A payout request, checked and in domain terms, before anything is stored.

use coffer_domain::{Address, Amount, AssetId, AssetSymbol, ChainId, InvoiceId, MerchantId, Refundable, refundable};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::CreatePayout;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The request as understood.
pub(super) struct Checked {
    pub(super) amount: Amount,
    pub(super) destination: Address,
    pub(super) fee_asset: AssetId,
    pub(super) refund_of: Option<InvoiceId>,
    /// For a refund: from where, and the most its invoice may refund.
    pub(super) refund: Option<Refundable>,
}

impl Checked {
    /// SHA-256 over the request as understood (not as spelled), so that a
    /// retry differing only in case, spacing or key order matches.
    pub(super) fn fingerprint(&self) -> [u8; 32] {
        let normal = serde_json::json!({
            "asset": self.amount.asset().to_string(),
            "units": self.amount.units().to_string(),
            "destination": self.destination.to_checksum(None),
            "refund_of": self.refund_of.map(|id| id.to_string()),
        });
        Sha256::digest(normal.to_string().as_bytes()).into()
    }
}

fn invalid(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

pub(super) async fn check(state: &AppState, merchant: MerchantId, req: CreatePayout) -> Result<Checked, ApiError> {
    use coffer_domain::AssetLookupError as L;
    let symbol: AssetSymbol =
        req.asset.parse().map_err(|e: coffer_domain::InvalidSymbol| invalid(ErrorCode::UnknownAsset, e.to_string()))?;
    let asset = state.assets.resolve(symbol, req.chain_id.map(ChainId)).map_err(|e| match e {
        L::UnknownChain(_) => invalid(ErrorCode::UnknownChain, e.to_string()),
        L::UnknownAsset { .. } | L::NotOnChain { .. } => invalid(ErrorCode::UnknownAsset, e.to_string()),
        L::Ambiguous { .. } => invalid(ErrorCode::InvalidRequest, e.to_string()),
    })?;
    let Value::String(text) = &req.amount else {
        return Err(invalid(
            ErrorCode::InvalidAmount,
            "amount must be a decimal string such as \"25.50\", not a JSON number",
        ));
    };
    let amount = asset.parse_amount(text).map_err(|e| invalid(ErrorCode::InvalidAmount, e.to_string()))?;
    if amount.is_zero() {
        return Err(invalid(ErrorCode::InvalidAmount, "amount must be greater than zero"));
    }
    let destination = destination(&req.destination)?;
    // Screened here, at request time, so the merchant hears why at once; the
    // signer screens it again from its own copy of the lists.
    state.screening.check_destination(&destination)?;
    let fee_asset = crate::sweeper::native(&state.assets, asset.id).ok_or_else(|| {
        invalid(
            ErrorCode::PayoutsUnavailable,
            format!(
                "payouts on chain {} need its native coin configured: network fees are booked in it",
                asset.id.chain_id
            ),
        )
    })?;
    let (refund_of, refund) = match req.refund_of {
        None => (None, None),
        Some(text) => {
            let id: InvoiceId = text.parse().map_err(|_| ApiError::not_found("invoice"))?;
            let invoice = state.store.invoice(merchant, id).await?.ok_or_else(|| ApiError::not_found("invoice"))?;
            if invoice.amount.asset() != amount.asset() {
                return Err(invalid(
                    ErrorCode::InvalidRequest,
                    format!("a refund is paid in its invoice's asset, {}", invoice.amount.asset()),
                ));
            }
            let payments = state.store.every_payment_of(&[id]).await?;
            let Some(refund) = refundable(&invoice, &payments) else {
                return Err(invalid(
                    ErrorCode::InvalidState,
                    format!(
                        "a {} invoice without confirmed overpaid or late money has nothing to refund",
                        invoice.status
                    ),
                ));
            };
            (Some(id), Some(refund))
        }
    };
    Ok(Checked { amount, destination, fee_asset, refund_of, refund })
}

/// A destination address: 0x and 40 hex digits; mixed case must carry a
/// valid EIP-55 checksum (a mistyped address would pay a stranger for good).
fn destination(text: &str) -> Result<Address, ApiError> {
    let bad = |why: &str| invalid(ErrorCode::InvalidDestination, format!("destination {why}"));
    let hex = text.strip_prefix("0x").ok_or_else(|| bad("must start with 0x"))?;
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("must be 0x and 40 hex digits"));
    }
    let address: Address = text.parse().map_err(|_| bad("is not an address"))?;
    let mixed = hex.bytes().any(|b| b.is_ascii_lowercase()) && hex.bytes().any(|b| b.is_ascii_uppercase());
    if mixed && address.to_checksum(None) != text {
        return Err(bad("fails its EIP-55 checksum (a mistyped address?)"));
    }
    if address == Address::ZERO {
        return Err(bad("is the zero address: what is sent there is lost"));
    }
    Ok(address)
}
