-- A redelivery is refused while a delivery of the same event to the same
-- endpoint is pending: this finds it without reading the endpoint's history.
CREATE INDEX webhook_deliveries_pending_by_event ON webhook_deliveries (event_id, endpoint_id) WHERE state = 'pending';
