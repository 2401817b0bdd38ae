//! Rows of the webhook tables, shared by both backends.

use coffer_domain::{DeliveryId, EventId, EventType, InvoiceId, MerchantId, Timestamp, WebhookId};
use uuid::Uuid;

use crate::StoreError;
use crate::webhooks::{Delivery, DeliveryState, DueDelivery, WebhookEndpoint};

/// Event types as stored: space-separated names.
pub(crate) fn events_text(events: &[EventType]) -> String {
    events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(" ")
}

pub(crate) fn parse_events(text: &str) -> Result<Vec<EventType>, StoreError> {
    text.split_whitespace().map(|name| name.parse().map_err(|e| StoreError::corrupt("webhook_endpoints", e))).collect()
}

fn event_type(table: &'static str, text: &str) -> Result<EventType, StoreError> {
    text.parse().map_err(|e| StoreError::corrupt(table, e))
}

fn count(table: &'static str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::corrupt(table, format!("count {value} out of range")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct EndpointRow {
    id: Uuid,
    merchant_id: Uuid,
    url: String,
    events: String,
    secret: String,
    created_at: i64,
}

impl TryFrom<EndpointRow> for WebhookEndpoint {
    type Error = StoreError;

    fn try_from(row: EndpointRow) -> Result<Self, StoreError> {
        Ok(WebhookEndpoint {
            id: WebhookId::from_uuid(row.id),
            merchant_id: MerchantId::from_uuid(row.merchant_id),
            url: row.url,
            events: parse_events(&row.events)?,
            secret: row.secret,
            created_at: Timestamp::from_millis(row.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: Uuid,
    endpoint_id: Uuid,
    event_id: Uuid,
    event_type: String,
    invoice_id: Option<Uuid>,
    state: String,
    attempts: i64,
    next_attempt_at: Option<i64>,
    last_attempt_at: Option<i64>,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    delivered_at: Option<i64>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        const T: &str = "webhook_deliveries";
        Ok(Delivery {
            id: DeliveryId::from_uuid(row.id),
            endpoint_id: WebhookId::from_uuid(row.endpoint_id),
            event_id: EventId::from_uuid(row.event_id),
            event_type: event_type(T, &row.event_type)?,
            invoice_id: row.invoice_id.map(InvoiceId::from_uuid),
            state: DeliveryState::parse(&row.state).ok_or_else(|| StoreError::corrupt(T, "unknown state"))?,
            attempts: count(T, row.attempts)?,
            next_attempt_at: row.next_attempt_at.map(Timestamp::from_millis),
            last_attempt_at: row.last_attempt_at.map(Timestamp::from_millis),
            last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: row.last_error,
            created_at: Timestamp::from_millis(row.created_at),
            delivered_at: row.delivered_at.map(Timestamp::from_millis),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DueRow {
    id: Uuid,
    endpoint_id: Uuid,
    merchant_id: Uuid,
    url: String,
    secret: String,
    event_id: Uuid,
    event_type: String,
    invoice_id: Option<Uuid>,
    payload: String,
    attempts: i64,
    next_attempt_at: i64,
}

impl TryFrom<DueRow> for DueDelivery {
    type Error = StoreError;

    fn try_from(row: DueRow) -> Result<Self, StoreError> {
        const T: &str = "webhook_deliveries";
        Ok(DueDelivery {
            id: DeliveryId::from_uuid(row.id),
            endpoint_id: WebhookId::from_uuid(row.endpoint_id),
            merchant_id: MerchantId::from_uuid(row.merchant_id),
            url: row.url,
            secret: row.secret,
            event_id: EventId::from_uuid(row.event_id),
            event_type: event_type(T, &row.event_type)?,
            invoice_id: row.invoice_id.map(InvoiceId::from_uuid),
            payload: row.payload,
            attempts: count(T, row.attempts)?,
            leased_until: Timestamp::from_millis(row.next_attempt_at),
        })
    }
}
