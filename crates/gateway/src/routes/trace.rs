//! `GET /v1/trace`: the operator console's fund tracing, the same walk as
//! `coffer trace` (coffer-trace), over the configured chain's node, with
//! the gateway's screening lists as labels. JSON by default; `format=csv`
//! for evidence, `format=svg` for the picture.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use coffer_domain::{Address, B256, U256};
use coffer_trace::{Direction, Params, RpcSource, Rule, Start, Units};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Operator;
use crate::error::{ApiError, ErrorCode};
use crate::extract::ApiQuery;
use crate::routes::errors::error_responses;
use crate::state::AppState;

/// Addresses a trace reads at most through the API (a trace into a busy
/// service would read forever, and this runs on the gateway's node).
const MAX_ADDRESSES: usize = 500;

/// The largest block number a JSON reader keeps exact.
const MAX_BLOCK: u64 = (1 << 53) - 1;

error_responses!(
    /// What `GET /v1/trace` answers besides 200.
    TraceErrors = [&[Unauthorized, Unavailable, InvalidRequest, UnknownChain]],
    beyond_schema = [UnknownChain]
);

/// What to trace.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TraceQuery {
    /// An address (or several, comma-separated), or a transaction hash.
    #[param(
        example = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96",
        pattern = "^(0x[0-9a-fA-F]{64}|0x[0-9a-fA-F]{40}(,0x[0-9a-fA-F]{40}){0,19})$"
    )]
    start: String,
    /// `forward` (where did it go, the default) or `backward` (where did it come from).
    #[param(pattern = "^(forward|backward)$")]
    direction: Option<String>,
    /// Hops at most (default 5, at most 12).
    #[param(minimum = 1, maximum = 12)]
    depth: Option<u32>,
    /// Ether transfers carrying less than this many wei of the funds are not followed (default 10^15, 0.001 ETH).
    #[param(pattern = "^[0-9]{1,77}$")]
    dust_wei: Option<String>,
    /// The same for tokens, in base units (default 1000).
    #[param(pattern = "^[0-9]{1,77}$")]
    token_dust: Option<String>,
    /// `fifo` (the default) or `proportional`.
    #[param(pattern = "^(fifo|proportional)$")]
    rule: Option<String>,
    /// The chain (default: the first configured).
    chain_id: Option<u64>,
    /// First block read (default 0).
    #[param(maximum = 9_007_199_254_740_991_i64)]
    from_block: Option<u64>,
    /// Last block read (default: the node's head).
    #[param(maximum = 9_007_199_254_740_991_i64)]
    to_block: Option<u64>,
    /// `json` (the default), `csv` or `svg`.
    #[param(pattern = "^(json|csv|svg)$")]
    format: Option<String>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message)
}

fn units(text: Option<&str>, default: u64, name: &str) -> Result<U256, ApiError> {
    let Some(text) = text else { return Ok(U256::from(default)) };
    let digits = (1..=77).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    let parsed = digits.then(|| U256::from_str_radix(text, 10).ok()).flatten();
    parsed.ok_or_else(|| invalid(format!("{name} must be a whole number of base units (1 to 77 digits)")))
}

impl TraceQuery {
    fn start(&self) -> Result<Start, ApiError> {
        let text = self.start.trim();
        // As the description says: 0x and hex digits, nothing looser.
        let hex = |t: &str, len: usize| {
            t.len() == len && t.starts_with("0x") && t[2..].bytes().all(|b| b.is_ascii_hexdigit())
        };
        if text.split(',').any(|t| !hex(t, 42)) && !hex(text, 66) {
            return Err(invalid("start must be 0x-prefixed addresses (comma-separated) or one transaction hash"));
        }
        if text.len() == 66 {
            return text
                .parse::<B256>()
                .map(Start::Transaction)
                .map_err(|_| invalid("start is not a transaction hash"));
        }
        if text.split(',').count() > 20 {
            return Err(invalid("start names at most 20 addresses"));
        }
        let addresses = text
            .split(',')
            .map(|a| a.trim().parse::<Address>().map_err(|_| invalid(format!("start: {a:?} is not an address"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Start::Addresses(addresses))
    }

    fn params(&self) -> Result<Params, ApiError> {
        let direction = match self.direction.as_deref() {
            None | Some("forward") => Direction::Forward,
            Some("backward") => Direction::Backward,
            Some(_) => return Err(invalid("direction must be forward or backward")),
        };
        let rule = Rule::parse(self.rule.as_deref().unwrap_or("fifo"))
            .ok_or_else(|| invalid("rule must be fifo or proportional"))?;
        let depth = self.depth.unwrap_or(5);
        if !(1..=12).contains(&depth) {
            return Err(invalid("depth must be 1 to 12"));
        }
        Ok(Params {
            direction,
            max_depth: depth,
            dust: units(self.dust_wei.as_deref(), 1_000_000_000_000_000, "dust_wei")?,
            token_dust: units(self.token_dust.as_deref(), 1_000, "token_dust")?,
            rule,
            max_addresses: MAX_ADDRESSES,
        })
    }
}

/// Follows funds hop by hop from an address or a transaction: where the
/// money is now, the graph, and how native transfers were found.
#[utoipa::path(get, path = "/v1/trace", tag = "operator", operation_id = "trace_funds",
    params(TraceQuery),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The trace: terminals, nodes, edges (JSON); or its edges as CSV, or its picture as SVG",
            content(
                (serde_json::Value = "application/json"),
                (String = "text/csv"),
                (String = "image/svg+xml"),
            )),
        TraceErrors))]
pub(crate) async fn get(
    State(state): State<AppState>,
    _operator: Operator,
    ApiQuery(query): ApiQuery<TraceQuery>,
) -> Result<Response, ApiError> {
    let start = query.start()?;
    if query.from_block.into_iter().chain(query.to_block).any(|b| b > MAX_BLOCK) {
        return Err(invalid("from_block and to_block are at most 2^53 - 1"));
    }
    let params = query.params()?;
    let format = query.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv" | "svg") {
        return Err(invalid("format must be json, csv or svg"));
    }
    let chain = match query.chain_id {
        Some(id) => state.treasury.chains.iter().find(|c| c.spec.chain_id.0 == id),
        None => state.treasury.chains.first(),
    }
    .ok_or_else(|| ApiError::new(ErrorCode::UnknownChain, "no such chain is configured"))?;
    let url = chain.spec.rpc_url.clone();
    if !url.starts_with("http") {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            "tracing reads the chain over HTTP; this chain's rpc_url is not",
        ));
    }
    let unavailable = |e: coffer_trace::SourceError| ApiError::new(ErrorCode::Unavailable, format!("the node: {e}"));
    let to = match query.to_block {
        Some(to) => to,
        None => RpcSource::head(&url).await.map_err(unavailable)?,
    };
    let mut source = RpcSource::new(&url, query.from_block.unwrap_or(0), to, Vec::new()).map_err(unavailable)?;
    let labels = state.screening.set();
    let trace = coffer_trace::trace(&mut source, &*labels, &start, &params).await.map_err(unavailable)?;
    Ok(match format {
        "csv" => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], trace.to_csv()).into_response(),
        "svg" => ([(header::CONTENT_TYPE, "image/svg+xml")], trace.to_svg(&Units::new())).into_response(),
        _ => axum::Json(trace.to_json()).into_response(),
    })
}
