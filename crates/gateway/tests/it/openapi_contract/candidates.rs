#![allow(unreachable_pub)]

//! Values to try in a field: those its schema names (examples, enums,
//! bounds and one past them) and a fixed list of the shapes clients and
//! fuzzers send (numbers as text, URLs, symbols, control characters,
//! wrong types). The same list every run: nothing here is random.

use serde_json::{Map, Value, json};

/// Every value worth trying where `schemas` (a field's schema and its
/// siblings in `oneOf` branches) apply, without repeats, in a fixed order.
pub fn for_field(schemas: &[&Value], ids: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for schema in schemas {
        named(schema, &mut out);
    }
    out.extend(fixed());
    // One id of each kind is enough.
    let mut kinds = std::collections::HashSet::new();
    for id in ids.iter().filter(|id| kinds.insert(id.split('_').next().unwrap_or_default().to_owned())) {
        out.push(json!(id));
        out.push(json!(id.to_uppercase()));
        out.push(json!(&id[..id.len() - 1]));
        out.push(json!(format!("{}g", &id[..id.len() - 1])));
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|v| seen.insert(v.to_string()));
    out
}

/// An example of `schema`, if it gives one.
pub fn example(schema: &Value) -> Option<Value> {
    schema.get("example").cloned().or_else(|| schema["examples"].as_array().and_then(|e| e.first().cloned()))
}

/// The values `schema` itself names, and those just past its bounds.
fn named(schema: &Value, out: &mut Vec<Value>) {
    let examples: Vec<Value> = [schema.get("example"), schema.get("default"), schema.get("const")]
        .into_iter()
        .flatten()
        .chain(schema["examples"].as_array().into_iter().flatten())
        .chain(schema["enum"].as_array().into_iter().flatten())
        .cloned()
        .collect();
    out.extend(examples.iter().cloned());
    for bound in ["minimum", "maximum"] {
        if let Some(n) = schema[bound].as_i64() {
            out.extend([json!(n - 1), json!(n), json!(n + 1)]);
        }
    }
    // Strings at and one past their lengths, grown from the examples so that
    // they keep their shape (a URL stays a URL, an amount an amount).
    let texts: Vec<&str> = examples.iter().filter_map(Value::as_str).collect();
    for length in [schema["minLength"].as_u64(), schema["maxLength"].as_u64()].into_iter().flatten() {
        let length = length as usize;
        for text in texts.iter().copied().chain(["a"]) {
            for n in [length.saturating_sub(1), length, length + 1] {
                out.push(json!(grown(text, n)));
            }
        }
    }
    if let Some(items) = schema.get("items") {
        let values: Vec<Value> = items["enum"].as_array().cloned().unwrap_or_default();
        out.push(json!([]));
        out.extend(values.iter().map(|v| json!([v])));
        if let Some(first) = values.first() {
            out.extend([json!(values), json!([first, first]), json!([first, "bogus"])]);
        }
        out.extend([json!(["bogus"]), json!([1]), json!([null])]);
    }
    if schema.get("maxProperties").is_some() || schema.get("propertyNames").is_some() {
        objects(schema, out);
    }
}

/// Objects at and past a map's limits: key count, key and value lengths,
/// nesting, control characters, and all limits at once.
fn objects(schema: &Value, out: &mut Vec<Value>) {
    let keys = schema["maxProperties"].as_u64().unwrap_or(10) as usize;
    let key = schema["propertyNames"]["maxLength"].as_u64().unwrap_or(40) as usize;
    let value = schema["additionalProperties"]["maxLength"].as_u64().unwrap_or(500) as usize;
    let map = |entries: Vec<(String, Value)>| Value::Object(entries.into_iter().collect::<Map<_, _>>());
    out.push(json!({}));
    out.push(json!({"customer": "42", "note": "line one\nline two\ttabbed", "paid": true, "count": 3, "none": null}));
    for n in [keys, keys + 1] {
        out.push(map((0..n).map(|i| (format!("k{i}"), json!(i))).collect()));
    }
    for n in [key, key + 1] {
        out.push(map(vec![("k".repeat(n), json!(1))]));
    }
    for n in [value, value + 1] {
        out.push(map(vec![("k".into(), json!("v".repeat(n)))]));
    }
    // Every key at its longest with its longest value.
    out.push(map((0..keys).map(|i| (grown(&format!("k{i}"), key), json!("v".repeat(value)))).collect()));
    out.extend([
        json!({"a": {"b": 1}}),
        json!({"a": [1]}),
        json!({"a\u{0}": 1}),
        json!({"a\u{7f}": 1}),
        json!({"a": "x\u{0}y"}),
        json!({"a": "x\u{85}y"}),
        json!({"a": 1.5}),
    ]);
}

/// `text` cut or grown (its last character repeated) to `n` characters.
fn grown(text: &str, n: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let last = chars.last().copied().unwrap_or('a');
    chars.iter().copied().chain(std::iter::repeat(last)).take(n).collect()
}

/// The shapes that clients and fuzzers send, whatever the field.
fn fixed() -> Vec<Value> {
    let mut values = vec![
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1),
        json!(1.5),
        // Whole numbers written as JSON Schema allows, which serde alone refuses for integers.
        json!(60.0),
        json!(900.0),
        json!(31337.0),
        json!(1e3),
        json!(-0.0),
        json!(59),
        json!(60),
        json!(100),
        json!(101),
        json!(137),
        json!(900),
        json!(31337),
        json!(4_294_967_296u64),
        json!(u64::MAX),
        json!(-4_294_967_296i64),
        json!({}),
        json!([]),
        json!(["invoice.settled"]),
        json!({"k": "v"}),
    ];
    let texts = [
        // Text.
        "",
        " ",
        "a",
        "A-1",
        "é",
        "🎉",
        "zero\u{200b}width",
        "\u{0}",
        "a\u{0}b",
        "a\nb",
        "a\tb",
        "a\u{7f}",
        "a\u{85}",
        // Numbers as text: the amount's format and its edges.
        "0",
        "00",
        "0.0",
        "1",
        "12.50",
        "0.000001",
        "0.0000001",
        "1.123456",
        "1.1234567",
        "007.5",
        "1.",
        ".5",
        "-1",
        "+1",
        "1e3",
        " 1",
        "1 ",
        "1,5",
        "0x10",
        "１",
        "1.000000000000000001",
        // One past the largest signed 64-bit number, where the database's integers end.
        "9223372036854775808",
        "1.0000000000000000001",
        "20",
        "abc",
        // Symbols.
        "USDT",
        "usdt",
        "uSdT",
        "ETH",
        "eth",
        "USDC",
        "BTC",
        "US-DT",
        "USDT ",
        "USDTUSDTUSDTX",
        // URLs, good and bad, public and not; no host name, so nothing is resolved.
        "https://93.184.215.14/hooks",
        "http://93.184.215.14:8080/a/b?c=d&e=%20",
        "HTTPS://93.184.215.14/UP",
        "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/h",
        "ftp://93.184.215.14/",
        "https://user:pw@93.184.215.14/",
        "https://93.184.215.14/#frag",
        "https://93.184.215.14:99999/",
        "https://93.184.215.14:0/",
        "https://999.1.1.1/",
        "https://1.2.3/",
        "https://93.184.215.14/a b",
        "https://93.184.215.14/a\\b",
        "https:93.184.215.14/",
        "https://",
        "not a url",
        "//93.184.215.14/",
        "http://127.0.0.1/hooks",
        "http://10.0.0.7/hooks",
        "http://[::1]/hooks",
        "http://0.0.0.0/",
        "http://169.254.169.254/latest",
        // Event types and invoice states, near misses included.
        "invoice.settled",
        "invoice.stolen",
        "INVOICE.SETTLED",
        "invoice.settled ",
        "new",
        "settled",
        "NEW",
        "bogus",
        // Payout destinations: lowercase, checksummed, a bad checksum, the zero address, near misses.
        "0xdac17f958d2ee523a2206206994597c13d831ec7",
        "0xdAC17F958D2ee523a2206206994597C13D831ec7",
        "0xdAC17F958D2ee523a2206206994597C13D831eC7",
        "0xDAC17F958D2EE523A2206206994597C13D831EC7",
        "0x0000000000000000000000000000000000000000",
        "0X1111111111111111111111111111111111111111",
        "0x111111111111111111111111111111111111111",
        "0x11111111111111111111111111111111111111111",
        "0x111111111111111111111111111111111111111g",
        "1111111111111111111111111111111111111111",
        // Payout states, near misses included.
        "pending",
        "pending_cooldown",
        "PENDING",
        // Ids of every kind, well-formed and unknown, and near misses.
        "inv_0190f2a1b2c37d4e8f9a0b1c2d3e4f50",
        "wh_0190f2a1b2c37d4e8f9a0b1c2d3e4f50",
        "whd_0190f2a1b2c37d4e8f9a0b1c2d3e4f50",
        "po_0190f2a1b2c37d4e8f9a0b1c2d3e4f50",
        "po_0190f2a1b2c37d4e8f9a0b1c2d3e4f5",
        "inv_0190F2A1B2C37D4E8F9A0B1C2D3E4F50",
        "inv_",
        "inv_123",
        "inv_0190f2a1b2c37d4e8f9a0b1c2d3e4f5g",
        "a/b",
        "..",
    ];
    values.extend(texts.iter().map(|t| json!(t)));
    values.extend([json!("9".repeat(78)), json!(format!("1{}", "0".repeat(70))), json!("0".repeat(161))]);
    values
}
