//! `/v1/balances`: what the merchant is owed, per asset.

use axum::Json;
use axum::extract::State;
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
/// credit them. Assets with nothing are left out.
#[utoipa::path(get, path = "/v1/balances", tag = "balances", operation_id = "list_balances",
    security(("api_key" = ["balances:read"])),
    responses((status = 200, description = "The merchant's balances", body = Balances), BalancesErrors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    CanReadBalances(caller): CanReadBalances,
) -> Result<Json<Balances>, ApiError> {
    let amounts = state.store.merchant_balances(caller.merchant_id).await?;
    let data = amounts
        .into_iter()
        .map(|amount| BalanceView {
            asset: amount.asset().symbol.to_string(),
            chain_id: amount.asset().chain_id.0,
            available: state.assets.get(amount.asset()).map(|a| a.format_amount(&amount)),
            available_units: amount.units().to_string(),
        })
        .collect();
    Ok(Json(Balances { data }))
}
