//! `GET /v1/treasury`: for the operator, per chain and asset, what the
//! books say the deposit addresses, the hot wallet and the cold address
//! hold beside what the chain says the wallets hold (`treasury.rs`).

use axum::Json;
use axum::extract::State;
use coffer_domain::{Amount, AssetBook, AssetId, U256};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Operator;
use crate::error::ApiError;
use crate::routes::errors::error_responses;
use crate::state::AppState;
use crate::treasury::{ChainReading, TreasuryLine};

/// An amount as a decimal string and in base units.
#[derive(Serialize, ToSchema)]
pub(crate) struct Figure {
    /// In the asset's unit; `null` if the asset is no longer configured.
    #[schema(example = "12.5")]
    amount: Option<String>,
    /// In base units.
    #[schema(example = "12500000")]
    units: String,
}

impl Figure {
    fn of(assets: &AssetBook, asset: AssetId, units: U256) -> Self {
        let amount = Amount::from_units(asset, units);
        Self { amount: assets.get(asset).map(|a| a.format_amount(&amount)), units: units.to_string() }
    }
}

/// What the chain says a wallet holds.
#[derive(Serialize, ToSchema)]
pub(crate) struct Reading {
    /// `holds`, `unconfigured` (no address in the configuration) or `unreadable` (the node did not answer).
    #[schema(example = "holds")]
    state: &'static str,
    /// What it holds, when read.
    holds: Option<Figure>,
    /// Why it could not be read.
    error: Option<String>,
}

/// One asset on one chain.
#[derive(Serialize, ToSchema)]
pub(crate) struct TreasuryLineView {
    /// Asset symbol.
    #[schema(example = "USDT")]
    asset: String,
    /// EVM chain id.
    #[schema(example = 31337)]
    chain_id: u64,
    /// What the deposit addresses hold, by the books.
    deposits: Figure,
    /// What the hot wallet holds, by the books; `null`: below zero (a breach).
    hot: Option<Figure>,
    /// What the cold address holds, by the books; `null`: below zero (a breach).
    cold: Option<Figure>,
    /// Reserved for merchants' payouts not yet confirmed or failed.
    reserved: Figure,
    /// Payouts sent and not yet confirmed.
    payouts_in_flight: Figure,
    /// Sweeps asked for and not yet confirmed.
    sweeps_in_flight: Figure,
    /// Network fees booked in this asset (the chain's native coin).
    network_fees: Figure,
    /// The chain's hot balance.
    chain_hot: Reading,
    /// The chain's cold balance.
    chain_cold: Reading,
    /// Whether the chain's wallets and the books agree within what is in
    /// flight; `null` when no wallet could be read.
    agrees: Option<bool>,
}

/// The treasury.
#[derive(Serialize, ToSchema)]
pub(crate) struct TreasuryView {
    data: Vec<TreasuryLineView>,
}

fn reading(assets: &AssetBook, asset: AssetId, reading: &ChainReading) -> Reading {
    match reading {
        ChainReading::Unconfigured => Reading { state: "unconfigured", holds: None, error: None },
        ChainReading::Holds(units) => {
            Reading { state: "holds", holds: Some(Figure::of(assets, asset, *units)), error: None }
        }
        ChainReading::Unreadable(error) => Reading { state: "unreadable", holds: None, error: Some(error.clone()) },
    }
}

pub(crate) fn view(assets: &AssetBook, line: &TreasuryLine) -> TreasuryLineView {
    let b = &line.books;
    let figure = |units| Figure::of(assets, b.asset, units);
    TreasuryLineView {
        asset: b.asset.symbol.to_string(),
        chain_id: b.asset.chain_id.0,
        deposits: figure(b.deposits),
        hot: b.hot.map(figure),
        cold: b.cold.map(figure),
        reserved: figure(b.reserved),
        payouts_in_flight: figure(b.payouts_in_flight),
        sweeps_in_flight: figure(b.sweeps_in_flight),
        network_fees: figure(b.network_fees),
        chain_hot: reading(assets, b.asset, &line.chain_hot),
        chain_cold: reading(assets, b.asset, &line.chain_cold),
        agrees: line.agrees,
    }
}

error_responses!(
    /// What `GET /v1/treasury` refuses: a missing or wrong operator token,
    /// the database down. (Where it is not served it answers 404, as an
    /// unknown route does, and the description there leaves it out.)
    TreasuryErrors = [&[Unauthorized, Unavailable]]
);

/// The treasury beside the books, for the operator (`Authorization: Bearer`
/// the operator token whose SHA-256 is `operator_token_sha256`). Served on
/// the operator listener when one is configured, else beside the API;
/// without an operator token configured it answers 404 (and this document
/// leaves it out).
#[utoipa::path(get, path = "/v1/treasury", tag = "treasury", operation_id = "get_treasury",
    security(("operator_token" = [])),
    responses((status = 200, description = "Each asset on each chain: the books and the wallets", body = TreasuryView),
        TreasuryErrors))]
pub(crate) async fn get(State(state): State<AppState>, _operator: Operator) -> Result<Json<TreasuryView>, ApiError> {
    let lines = crate::treasury::lines(&*state.store, &state.assets, &state.treasury).await?;
    Ok(Json(TreasuryView { data: lines.iter().map(|line| view(&state.assets, line)).collect() }))
}
