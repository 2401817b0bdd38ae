//! `/v1/balances`: what the merchant is owed, per asset.

use axum::Json;
use axum::extract::State;
use coffer_domain::{Amount, AssetId};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::CanReadBalances;
use crate::error::ApiError;
use crate::routes::errors::error_responses;
use crate::state::AppState;

/// One asset's balance.
#[derive(Serialize, ToSchema)]
pub(crate) struct BalanceView {
    /// Asset symbol.
    #[schema(example = "USDT")]
    asset: String,
    /// EVM chain id.
    #[schema(example = 31337)]
    chain_id: u64,
    /// Decimal string in the asset's unit; `null` if the asset was removed from the configuration.
    #[schema(example = "12.5")]
    available: Option<String>,
    /// Base units.
    #[schema(example = "12500000")]
    available_units: String,
    /// Set aside for payouts not yet confirmed or failed (no longer
    /// available), as a decimal string; `null` as for `available`.
    #[schema(example = "0")]
    reserved: Option<String>,
    /// The same in base units.
    #[schema(example = "0")]
    reserved_units: String,
}

/// The merchant's balances.
#[derive(Serialize, ToSchema)]
pub(crate) struct Balances {
    data: Vec<BalanceView>,
}

error_responses!(
    /// What `GET /v1/balances` refuses.
    BalancesErrors = [AUTHENTICATED]
);

/// The merchant's balances, derived from the ledger: settled invoices
/// credit them, payouts reserve from them. Assets with nothing available
/// and nothing reserved are left out.
#[utoipa::path(get, path = "/v1/balances", tag = "balances", operation_id = "list_balances",
    security(("api_key" = ["balances:read"])),
    responses((status = 200, description = "The merchant's balances", body = Balances), BalancesErrors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    CanReadBalances(caller): CanReadBalances,
) -> Result<Json<Balances>, ApiError> {
    let available = state.store.merchant_balances(caller.merchant_id).await?;
    let reserved = state.store.merchant_reserved(caller.merchant_id).await?;
    let mut assets: Vec<AssetId> = available.iter().chain(&reserved).map(Amount::asset).collect();
    assets.sort();
    assets.dedup();
    let of = |amounts: &[Amount], asset| {
        amounts.iter().find(|a| a.asset() == asset).copied().unwrap_or_else(|| Amount::zero(asset))
    };
    let format = |amount: Amount| state.assets.get(amount.asset()).map(|a| a.format_amount(&amount));
    let data = assets
        .into_iter()
        .map(|asset| (of(&available, asset), of(&reserved, asset)))
        .filter(|(available, reserved)| !available.is_zero() || !reserved.is_zero())
        .map(|(available, reserved)| BalanceView {
            asset: available.asset().symbol.to_string(),
            chain_id: available.asset().chain_id.0,
            available: format(available),
            available_units: available.units().to_string(),
            reserved: format(reserved),
            reserved_units: reserved.units().to_string(),
        })
        .collect();
    Ok(Json(Balances { data }))
}
