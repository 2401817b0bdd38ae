//! What a cached invoice costs in memory, estimated from what it holds.
//!
//! Parsed JSON costs far more than its text, by a ratio that depends on its
//! shape, so no factor on the serialised length bounds it. Measured with a
//! counting allocator (serde_json 1.0.154, glibc's chunk sizes): 6,300 keys
//! `"k0000":0` are 63 kB of text and 887 kB parsed (×14), an array of
//! 30,000 zeroes 60 kB and 1.05 MB (×17.5), one 60 kB string 60 kB (×1),
//! `{"cart":{"items":[1,2],"note":"ünïcode"}}` 43 bytes and 1,552 (×36).
//! Walking the value instead counts what each part owns: a B-tree leaf per
//! map and ~110 bytes a map entry, a `Value` (32 bytes) per slot of an
//! array's capacity, and each heap block as malloc rounds it (16-byte
//! steps, 32 bytes at least). The walk is linear in the metadata, as
//! parsing it was.

use std::mem::size_of;

use coffer_domain::{Invoice, InvoiceId};
use serde_json::{Map, Value};

/// A map entry's share of its B-tree: key and value, twice (nodes of 11
/// slots hold 5 to 11 entries, about 6 when filled in key order).
const MAP_ENTRY: usize = 2 * (size_of::<String>() + size_of::<Value>());
/// A B-tree leaf (11 keys and values, a parent link, two counts): a map of
/// a few entries holds one whole.
const LEAF_NODE: usize = 11 * (size_of::<String>() + size_of::<Value>()) + 16;

/// The estimated heap bytes of one cache entry: its slot in a generation's
/// hash map (counted twice: a table is between half and seven eighths full),
/// its order id, its checkout token and return URLs, and its metadata.
pub(super) fn entry_bytes(invoice: &Invoice) -> usize {
    let checkout = &invoice.checkout;
    let urls = [&checkout.success_url, &checkout.cancel_url];
    2 * size_of::<(InvoiceId, Invoice, usize)>()
        + invoice.order_id.as_ref().map_or(0, |o| allocation(o.capacity()))
        + allocation(checkout.token.as_str().len())
        + checkout.description.as_ref().map_or(0, |d| allocation(d.capacity()))
        + urls.iter().map(|u| u.as_ref().map_or(0, |u| allocation(u.as_str().len()))).sum::<usize>()
        + map_bytes(&invoice.metadata)
}

fn map_bytes(map: &Map<String, Value>) -> usize {
    let first_leaf = if map.is_empty() { 0 } else { allocation(LEAF_NODE) };
    first_leaf
        + map.iter().map(|(key, value)| MAP_ENTRY + allocation(key.capacity()) + value_bytes(value)).sum::<usize>()
}

fn value_bytes(value: &Value) -> usize {
    match value {
        // Held in the `Value` itself (numbers are, without `arbitrary_precision`).
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(text) => allocation(text.capacity()),
        Value::Array(items) => {
            allocation(items.capacity() * size_of::<Value>()) + items.iter().map(value_bytes).sum::<usize>()
        }
        Value::Object(map) => map_bytes(map),
    }
}

/// What malloc takes for a block of `bytes`: an 8-byte header, 16-byte steps, 32 bytes at least.
fn allocation(bytes: usize) -> usize {
    if bytes == 0 { 0 } else { (bytes + 8).next_multiple_of(16).max(32) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    /// The shapes measured with a counting allocator (module docs): the
    /// estimate is at least what they took, and not far above.
    #[test]
    fn the_estimate_covers_the_measured_heap_of_parsed_metadata() {
        let keys: Vec<String> = (0..6300).map(|i| format!("\"k{i:04}\":0")).collect();
        let zeroes = vec!["0"; 30_000].join(",");
        let long = "x".repeat(60_000);
        for (text, measured) in [
            (format!("{{{}}}", keys.join(",")), 887_264),
            (format!("{{\"a\":[{zeroes}]}}"), 1_049_264),
            (format!("{{\"a\":\"{long}\"}}"), 60_688),
            (r#"{"cart":{"items":[1,2],"note":"ünïcode"}}"#.to_owned(), 1_552),
        ] {
            let estimate = map_bytes(&metadata(&text));
            assert!(
                (measured..measured + measured / 4).contains(&estimate),
                "estimated {estimate} bytes for what measured {measured}"
            );
        }
    }
}
