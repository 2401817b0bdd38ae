//! What merchants may send: metadata within Stripe-like limits, and text
//! free of control characters, refused alike on both backends.

#![allow(clippy::unwrap_used)]

use coffer_domain::{
    Address, Amount, AssetId, AssetSymbol, ChainId, DepositAddress, DerivationIndex, Exceptions, Invoice, InvoiceId,
    InvoiceStatus, Timestamp, U256,
};
use coffer_gateway::{ApiError, ErrorCode, admin};
use coffer_store::testing::Kind;
use coffer_store::{NewInvoice, StoreError, on_both_backends};
use serde_json::{Map, Value, json};

use crate::helpers::{assert_error, spawn_app};

on_both_backends!(
    metadata_is_limited_in_keys_lengths_size_and_shape,
    control_characters_are_refused_before_the_database,
    a_value_the_database_refuses_is_a_bug_not_an_outage,
);

fn object(pairs: impl IntoIterator<Item = (String, Value)>) -> Value {
    Value::Object(pairs.into_iter().collect::<Map<_, _>>())
}

async fn metadata_is_limited_in_keys_lengths_size_and_shape(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let invoice = |metadata: Value| json!({"amount": "1", "asset": "USDT", "metadata": metadata});
    let at_the_limits = [
        object((0..50).map(|i| (format!("k{i}"), json!(i)))),
        object([("k".repeat(40), json!("v".repeat(500)))]),
        // Characters, not bytes: 500 two-byte characters are 1,000 bytes.
        object([("é".repeat(40), json!("é".repeat(500)))]),
        object([
            ("s".into(), json!("text")),
            ("n".into(), json!(1.5)),
            ("b".into(), json!(true)),
            ("z".into(), json!(null)),
        ]),
        // 15 values of 500 characters: about 7.8 KiB serialised, under 8 KiB.
        object((0..15).map(|i| (format!("k{i}"), json!("v".repeat(500))))),
    ];
    for metadata in at_the_limits {
        let created = app.create_ok(invoice(metadata.clone())).await;
        assert_eq!(created["metadata"], metadata, "returned as given");
    }
    let stored = app.all_invoices().await.len();

    let refused = [
        (object((0..51).map(|i| (format!("k{i}"), json!(i)))), "metadata_too_many_keys"),
        (object([("k".repeat(41), json!(1))]), "metadata_key_too_long"),
        (object([("note".into(), json!("v".repeat(501)))]), "metadata_value_too_long"),
        (object([("cart".into(), json!({"items": [1, 2]}))]), "metadata_not_flat"),
        (object([("tags".into(), json!(["a", "b"]))]), "metadata_not_flat"),
        (object((0..17).map(|i| (format!("k{i}"), json!("v".repeat(500))))), "metadata_too_large"),
    ];
    for (metadata, code) in refused {
        let message = assert_error(app.create(invoice(metadata)).await, 422, code).await;
        assert!(message.contains("metadata"), "{code}: {message}");
    }
    assert_eq!(app.all_invoices().await.len(), stored, "nothing refused was stored");

    // The limits are in the API description, and so are their codes.
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    let fields = &schemas["CreateInvoice"]["properties"];
    let metadata = &fields["metadata"];
    assert_eq!(
        (
            &metadata["maxProperties"],
            &metadata["propertyNames"]["maxLength"],
            &metadata["additionalProperties"]["maxLength"]
        ),
        (&json!(50), &json!(40), &json!(500)),
        "{metadata}"
    );
    assert!(metadata["description"].as_str().unwrap().contains("8192 bytes"), "{metadata}");
    assert_eq!(fields["order_id"]["maxLength"], 200);
    let codes = schemas["ErrorCode"]["enum"].as_array().unwrap();
    for code in [
        "metadata_too_many_keys",
        "metadata_key_too_long",
        "metadata_value_too_long",
        "metadata_not_flat",
        "metadata_too_large",
        "control_character",
    ] {
        assert!(codes.contains(&json!(code)), "{code} undocumented");
    }
}

async fn control_characters_are_refused_before_the_database(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let refused = [
        json!({"amount": "1", "asset": "USDT", "order_id": "A-1\u{0}"}),
        json!({"amount": "1", "asset": "USDT", "order_id": "A-1\nforged"}),
        json!({"amount": "1", "asset": "USDT", "metadata": {"key\u{0}": "v"}}),
        json!({"amount": "1", "asset": "USDT", "metadata": {"k": "v\u{0}"}}),
        json!({"amount": "1", "asset": "USDT", "metadata": {"k": "\u{1b}[31mred"}}),
        json!({"amount": "1", "asset": "USDT", "metadata": {"k": "next\u{85}line"}}),
        json!({"amount": "1", "asset": "USDT", "metadata": {"line\nbreak": "v"}}),
    ];
    for body in refused {
        let message = assert_error(app.create(body.clone()).await, 422, "control_character").await;
        assert!(message.contains("U+"), "the message names the character: {message}");
    }
    assert!(app.all_invoices().await.is_empty(), "nothing refused was stored");
    // Text whitespace is fine in a value (an address, a note), and so is Unicode.
    let note = json!({"address": "1 Main St\nSpringfield", "tsv": "a\tb", "name": "Zoë 🎉"});
    let created = app.create_ok(json!({"amount": "1", "asset": "USDT", "order_id": "Ünï-1", "metadata": note})).await;
    assert_eq!(created["metadata"], note);

    // The operator commands refuse them in a merchant name and a key label too.
    assert!(matches!(admin::create_merchant(&*app.store, "Evil\u{0}Shop").await, Err(admin::AdminError::BadName)));
    assert!(matches!(admin::create_merchant(&*app.store, "Shop\u{1b}[2J").await, Err(admin::AdminError::BadName)));
    let scopes = "invoices:read".parse().unwrap();
    let label = admin::create_api_key(&*app.store, app.merchant, scopes, "shop\u{7}backend").await;
    assert!(matches!(label, Err(admin::AdminError::BadLabel)), "{label:?}");
    assert_eq!(app.store.api_keys(app.merchant).await.unwrap().len(), 1, "only the test's own key");
}

/// Validation keeps such values out; should one slip through, PostgreSQL's
/// refusal (a data exception, SQLSTATE class 22) must read as the bug it
/// is, not as "database unavailable" (503, logged as an outage).
async fn a_value_the_database_refuses_is_a_bug_not_an_outage(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let usdt = AssetId { chain_id: ChainId(31337), symbol: "USDT".parse::<AssetSymbol>().unwrap() };
    let invoice = Invoice {
        id: InvoiceId::new(),
        merchant_id: app.merchant,
        status: InvoiceStatus::New,
        exceptions: Exceptions::default(),
        amount: Amount::from_units(usdt, U256::from(1u64)),
        deposit: DepositAddress {
            index: DerivationIndex::try_from(2_000_000_000u64).unwrap(),
            address: Address::repeat_byte(0x11),
        },
        order_id: Some("nul\u{0}".into()),
        metadata: Map::new(),
        created_at: Timestamp::now(),
        expires_at: Timestamp::now().plus_secs(900),
        checkout: coffer_domain::Checkout::random().unwrap(),
    };
    match app.store.insert_invoice(NewInvoice { invoice, idempotency: None }).await {
        // SQLite stores a NUL like any other character.
        Ok(_) => assert_eq!(kind, Kind::Sqlite),
        Err(err) => {
            assert_eq!(kind, Kind::Postgres, "{err}");
            assert!(!matches!(err, StoreError::Unavailable(_) | StoreError::Closed), "an outage? {err:?}");
            assert_eq!(ApiError::from(err).code(), ErrorCode::Internal, "a 500 with the request id, not a 503");
        }
    }
}
