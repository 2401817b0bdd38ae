//! Limits on what merchants may store through the API.
//!
//! **Metadata** is flat, as Stripe's is: at most 50 keys of up to 40
//! characters, each value a string of up to 500 characters, a number, a
//! boolean or null, and at most 8 KiB as compact JSON. Flat, because nesting
//! is what lets a small body become a large tree in memory: every invoice
//! is kept parsed in caches and watch lists, and 6,300 tiny keys once cost
//! 860 kB an invoice. With these limits an invoice's metadata stays within
//! a few tens of kilobytes, whatever is sent.
//!
//! **Text** that reaches the database holds no control character (Unicode
//! category Cc: U+0000–U+001F, U+007F–U+009F). PostgreSQL refuses NUL, and
//! the others have no business in an identifier, a log or a terminal; the
//! same refusal on both backends. Metadata *values* may hold tab, line feed
//! and carriage return: a note or a postal address has lines.
//!
//! **Whole numbers** (`chain_id`, `expires_in_secs`) are JSON numbers with
//! no fraction, written `900` or `900.0`: what JSON Schema calls an
//! `integer`, so that a request the API description admits is read as it
//! is described (serde alone refuses `900.0` for a `u64`).

use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

use crate::error::{ApiError, ErrorCode};

/// Most keys in an invoice's metadata.
pub(crate) const MAX_METADATA_KEYS: usize = 50;
/// Longest metadata key, in characters.
pub(crate) const MAX_METADATA_KEY_CHARS: usize = 40;
/// Longest metadata string value, in characters.
pub(crate) const MAX_METADATA_VALUE_CHARS: usize = 500;
/// Largest metadata object, in bytes of compact JSON.
pub(crate) const MAX_METADATA_BYTES: usize = 8 * 1024;

/// [`plain_text`] as a JSON Schema pattern: no Unicode Cc character.
pub(crate) const PRINTABLE: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";
/// A metadata string value's pattern: no Cc character but tab, line feed and carriage return.
const PRINTABLE_LINES: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";

/// The first control character in `text`, unless it is one of `allowed`.
fn control_character(text: &str, allowed: &[char]) -> Option<char> {
    text.chars().find(|c| c.is_control() && !allowed.contains(c))
}

fn refuse_control(field: &str, text: &str, allowed: &[char]) -> Result<(), ApiError> {
    match control_character(text, allowed) {
        None => Ok(()),
        Some(c) => Err(ApiError::new(
            ErrorCode::ControlCharacter,
            format!("{field} contains the control character U+{:04X}; send printable text", u32::from(c)),
        )),
    }
}

/// Refuses any control character in a merchant's text (an order id).
pub(crate) fn plain_text(field: &str, text: &str) -> Result<(), ApiError> {
    refuse_control(field, text, &[])
}

/// Whether a name or label for people is free of control characters.
pub(crate) fn is_printable(text: &str) -> bool {
    control_character(text, &[]).is_none()
}

/// Reads an optional whole number (see the module's doc); for `#[serde(default, deserialize_with)]`.
pub(crate) fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    use serde::Deserialize;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else { return Ok(None) };
    if let Some(whole) = number.as_u64() {
        return Ok(Some(whole));
    }
    // 2^64 as a float: the first value past u64::MAX.
    const LIMIT: f64 = 18_446_744_073_709_551_616.0;
    match number.as_f64() {
        Some(float) if float.fract() == 0.0 && (0.0..LIMIT).contains(&float) => Ok(Some(float as u64)),
        _ => Err(serde::de::Error::custom(format!("{number} is not a whole number from 0 to {}", u64::MAX))),
    }
}

/// Checks an invoice's metadata against the limits above.
pub(crate) fn metadata(metadata: &Map<String, Value>) -> Result<(), ApiError> {
    let refuse = |code, message: String| Err(ApiError::new(code, message));
    if metadata.len() > MAX_METADATA_KEYS {
        return refuse(
            ErrorCode::MetadataTooManyKeys,
            format!("metadata has {} keys; at most {MAX_METADATA_KEYS} are allowed", metadata.len()),
        );
    }
    for (key, value) in metadata {
        refuse_control("a metadata key", key, &[])?;
        if key.chars().count() > MAX_METADATA_KEY_CHARS {
            return refuse(
                ErrorCode::MetadataKeyTooLong,
                format!("metadata key {key:?} is longer than {MAX_METADATA_KEY_CHARS} characters"),
            );
        }
        match value {
            Value::String(text) => {
                refuse_control(&format!("metadata.{key}"), text, &['\t', '\n', '\r'])?;
                if text.chars().count() > MAX_METADATA_VALUE_CHARS {
                    return refuse(
                        ErrorCode::MetadataValueTooLong,
                        format!("metadata.{key} is longer than {MAX_METADATA_VALUE_CHARS} characters"),
                    );
                }
            }
            Value::Object(_) | Value::Array(_) => {
                return refuse(
                    ErrorCode::MetadataNotFlat,
                    format!("metadata.{key} is an object or an array; values are strings, numbers, booleans or null"),
                );
            }
            Value::Number(_) | Value::Bool(_) | Value::Null => {}
        }
    }
    let size = serialised_size(metadata);
    if size > MAX_METADATA_BYTES {
        return refuse(
            ErrorCode::MetadataTooLarge,
            format!("metadata is {size} bytes as compact JSON; at most {MAX_METADATA_BYTES} are allowed"),
        );
    }
    Ok(())
}

/// Bytes of compact JSON, counted without building the text.
fn serialised_size(metadata: &Map<String, Value>) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, and a map of JSON values always serialises.
    let _ = serde_json::to_writer(&mut count, metadata);
    count.0
}

/// The OpenAPI schema of `metadata`, with the limits above.
pub(crate) fn metadata_schema() -> impl Into<RefOr<Schema>> {
    let value = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Number, Type::Boolean, Type::Null]))
        .max_length(Some(MAX_METADATA_VALUE_CHARS))
        .pattern(Some(PRINTABLE_LINES));
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_METADATA_KEY_CHARS))
        .pattern(Some(PRINTABLE));
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(format!(
            "Your own data, returned as given: a flat object of at most {MAX_METADATA_KEYS} keys of up to \
             {MAX_METADATA_KEY_CHARS} characters, each value a string of up to {MAX_METADATA_VALUE_CHARS} \
             characters, a number, a boolean or null; at most {MAX_METADATA_BYTES} bytes as compact JSON (a limit \
             JSON Schema cannot state: checked beyond this schema). No \
             control characters, except tab, line feed and carriage return in string values. Each limit has its \
             own error code (`metadata_too_many_keys`, `metadata_key_too_long`, `metadata_value_too_long`, \
             `metadata_not_flat`, `metadata_too_large`, `control_character`)."
        )))
        .examples([serde_json::json!({"customer": "42"})])
        .max_properties(Some(MAX_METADATA_KEYS))
        .property_names(Some(key))
        .additional_properties(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_counted_is_the_compact_json_length() {
        let metadata: Map<String, Value> =
            serde_json::from_str(r#"{ "a" : "é\n", "b" : [1, 2], "c" : null }"#).unwrap_or_default();
        assert_eq!(serialised_size(&metadata), serde_json::to_string(&metadata).unwrap_or_default().len());
    }

    #[test]
    fn whole_numbers_may_be_written_as_floats_without_a_fraction() {
        #[derive(serde::Deserialize)]
        struct Field {
            #[serde(default, deserialize_with = "whole_number")]
            n: Option<u64>,
        }
        let read = |json: &str| serde_json::from_str::<Field>(json).map(|f| f.n).map_err(|e| e.to_string());
        assert_eq!(read(r#"{"n": 900}"#), Ok(Some(900)));
        assert_eq!(read(r#"{"n": 900.0}"#), Ok(Some(900)));
        assert_eq!(read(r#"{"n": 9e2}"#), Ok(Some(900)));
        assert_eq!(read(r#"{"n": null}"#), Ok(None));
        assert_eq!(read("{}"), Ok(None));
        for refused in
            [r#"{"n": 900.5}"#, r#"{"n": -1}"#, r#"{"n": -1.0}"#, r#"{"n": 1.8446744073709552e19}"#, r#"{"n": "9"}"#]
        {
            assert!(read(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn control_characters_are_found_but_allowed_ones_pass() {
        assert_eq!(control_character("a\u{0}b", &[]), Some('\u{0}'));
        assert_eq!(control_character("a\u{9f}", &[]), Some('\u{9f}'));
        assert_eq!(control_character("a\nb\tc", &['\t', '\n', '\r']), None);
        assert_eq!(control_character("Zoë \u{200b} 🎉", &[]), None, "format characters are not control characters");
    }
}
