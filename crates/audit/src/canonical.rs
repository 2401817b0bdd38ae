//! The one byte string an entry's `detail` hashes as.
//!
//! A JSON value has many spellings (key order, spaces, escapes), and which
//! one serde_json writes depends on its features: with `preserve_order`
//! (which any crate in a build can switch on, for every crate in it) an
//! object keeps insertion order instead of sorting its keys. A hash over
//! "whatever serde_json writes" would then change with the build. So the
//! spelling is fixed here, in full:
//!
//! - objects: keys sorted by their UTF-8 bytes, `{"k":v,…}`, no spaces;
//! - arrays: in order, `[a,b]`;
//! - strings: `"` and `\` escaped, `\b \f \n \r \t` as such, other
//!   characters below U+0020 as `\u00xx` (lower-case hex), everything else
//!   as its UTF-8 bytes;
//! - numbers: as serde_json writes them (integers in decimal; others in
//!   their shortest round-trip form), which parsing gives back exactly.
//!   Amounts belong in strings anyway (decimal text, as everywhere in Coffer);
//! - `true`, `false`, `null`.
//!
//! This is also what serde_json writes without `preserve_order`, so the
//! stored text parses back to a value whose canonical form is the same.

use serde_json::Value;

/// `value` in canonical form (see the module docs).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map.iter()),
    }
}

/// Sorted here, whatever order the map keeps (see the module docs).
fn write_object<'a>(out: &mut String, fields: impl Iterator<Item = (&'a String, &'a Value)>) {
    let mut fields: Vec<(&String, &Value)> = fields.collect();
    fields.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push('{');
    for (i, (key, item)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, item);
    }
    out.push('}');
}

fn write_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let byte = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[byte >> 4]));
                out.push(char::from(HEX[byte & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_are_sorted_whatever_order_the_map_keeps() {
        // Handed over in insertion order, as a map with serde_json's
        // `preserve_order` would; sorted by bytes ("Z" < "a" < "é").
        let (z, a, upper, accented) = ("z".to_owned(), "a".to_owned(), "Z".to_owned(), "é".to_owned());
        let nested = json!({"y": [true, null, "x"], "b": 1});
        let fields = [(&z, &nested), (&accented, &json!(2)), (&a, &json!(-2.5)), (&upper, &json!("u"))];
        let mut out = String::new();
        write_object(&mut out, fields.iter().map(|(k, v)| (*k, *v)));
        assert_eq!(out, r#"{"Z":"u","a":-2.5,"z":{"b":1,"y":[true,null,"x"]},"é":2}"#);
    }

    #[test]
    fn strings_escape_quotes_backslashes_and_control_characters_only() {
        let text = "q\"b\\n\nt\tc\u{01}\u{1f}é€😀\u{7f}";
        assert_eq!(canonical_json(&json!(text)), "\"q\\\"b\\\\n\\nt\\tc\\u0001\\u001fé€😀\u{7f}\"");
        assert_eq!(canonical_json(&json!("\u{08}\u{0c}\r")), r#""\b\f\r""#);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The stored text parses back to the same value and the same text:
        /// a log read back from the database or an export hashes as written.
        #[test]
        fn canonical_text_parses_back_to_itself(value in json_value()) {
            let text = canonical_json(&value);
            let parsed: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&parsed, &value);
            prop_assert_eq!(canonical_json(&parsed), text.clone());
            // And it is what serde_json writes (no preserve_order here).
            prop_assert_eq!(serde_json::to_string(&value).unwrap(), text);
        }
    }
}
