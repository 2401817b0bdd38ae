//! The HTTP routes and the OpenAPI document generated from them.

pub(crate) mod balances;
pub(crate) mod document;
mod errors;
pub(crate) mod holds;
pub(crate) mod invoices;
pub(crate) mod operator;
mod page;
pub(crate) mod payouts;
mod schemas;
pub(crate) mod system;
pub(crate) mod trace;
pub(crate) mod treasury;
pub(crate) mod webhooks;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Coffer API", description = "Invoices for crypto payments. Authenticate with `Authorization: Bearer coffer_sk_…`."),
    modifiers(&BearerAuth),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorCode)),
    tags(
        (name = "invoices", description = "Create, read and invalidate invoices"),
        (name = "balances", description = "What the merchant is owed"),
        (name = "webhooks", description = "Signed notifications: endpoints, delivery log, redelivery"),
        (name = "payouts", description = "Payouts and refunds: money out of the merchant's balance, through the signer"),
        (name = "treasury", description = "For the operator: the treasury's wallets beside the books"),
        (name = "operator", description = "For the operator: approvals carried to the signer, and the signer's controls"),
        (name = "system", description = "Health and metrics")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("coffer_sk_…").build(),
            ),
        );
        components.add_security_scheme(
            "operator_token",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("coffer_op_…").build(),
            ),
        );
    }
}

/// The routes behind the operator's token, served on the operator listener
/// when there is one (and answering 404 beside the API then), as templates.
pub(crate) const OPERATOR_PATHS: [&str; 9] = [
    "/v1/treasury",
    "/v1/operator/payouts/{id}",
    "/v1/payouts/{id}/approvals",
    "/v1/signer",
    "/v1/operator/signer/control",
    "/v1/operator/holds",
    "/v1/operator/payments/{id}/release",
    "/v1/operator/payments/{id}/reject",
    "/v1/trace",
];

/// Every documented route, with its OpenAPI description.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(invoices::create, invoices::list))
        .routes(routes!(invoices::get))
        .routes(routes!(invoices::invalidate))
        .routes(routes!(invoices::expire))
        .routes(routes!(balances::list))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(payouts::create, payouts::list))
        .routes(routes!(payouts::get))
        .routes(routes!(treasury::get))
        .routes(routes!(operator::payout))
        .routes(routes!(operator::approve))
        .routes(routes!(operator::signer))
        .routes(routes!(operator::control))
        .routes(routes!(holds::list))
        .routes(routes!(holds::release))
        .routes(routes!(holds::reject))
        .routes(routes!(trace::get))
        .routes(routes!(system::healthz))
}
