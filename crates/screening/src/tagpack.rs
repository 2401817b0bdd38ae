//! GraphSense TagPack YAML, the subset TagPacks use: `key: value` header
//! fields, then `tags:` and a list of tags (`- address: …` and indented
//! `key: value` fields, a field's own list as indented `- item`s). Header
//! fields are each tag's defaults. Anything else (anchors, flow style,
//! multi-line strings, deeper nesting) is refused with its line rather
//! than half-read: a TagPack that needs a full YAML parser is not one this
//! crate pretends to understand.

use std::collections::HashMap;

use crate::address::ChainAddress;
use crate::formats::Builder;
use crate::{Category, ParseError};

/// One tag's fields, and its line.
struct Tag {
    line: usize,
    fields: HashMap<String, String>,
    concepts: Vec<String>,
}

pub(crate) fn read(list: &mut Builder, text: &str) -> Result<(), ParseError> {
    let mut header: HashMap<String, String> = HashMap::new();
    let mut tags: Vec<Tag> = Vec::new();
    let mut in_tags = false;
    let mut last_key: Option<String> = None;
    let mut item_indent: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.trim_end();
        if content.trim().is_empty() || content.trim_start().starts_with('#') {
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        let body = content.trim_start();
        if !in_tags {
            let (key, value) =
                key_value(body).ok_or_else(|| list.error(line, "expected `key: value` in the header"))?;
            if indent != 0 {
                return Err(list.error(line, "the header is not indented"));
            }
            if key == "tags" && value.is_empty() {
                in_tags = true;
            } else {
                header.insert(key, value);
            }
            continue;
        }
        // The tags' list may be indented (`    - address:`): the first tag
        // sets where items start, and fields sit two columns further in.
        let item = *item_indent.get_or_insert(indent);
        match (indent.checked_sub(item), body.strip_prefix("- ")) {
            (Some(0), Some(entry)) => {
                let (key, value) = key_value(entry).ok_or_else(|| list.error(line, "a tag starts `- key: value`"))?;
                let mut fields = HashMap::new();
                fields.insert(key.clone(), value);
                tags.push(Tag { line, fields, concepts: Vec::new() });
                last_key = Some(key);
            }
            (Some(2), None) => {
                let tag = tags.last_mut().ok_or_else(|| list.error(line, "a field before any tag"))?;
                let (key, value) = key_value(body).ok_or_else(|| list.error(line, "expected a tag's `key: value`"))?;
                tag.fields.insert(key.clone(), value);
                last_key = Some(key);
            }
            (Some(2 | 4), Some(entry)) if last_key.as_deref() == Some("concepts") => {
                let tag = tags.last_mut().ok_or_else(|| list.error(line, "an item before any tag"))?;
                tag.concepts.push(unquote(entry));
            }
            _ => return Err(list.error(line, "not a TagPack line this reader understands (tags are `- address: …`)")),
        }
    }
    list.version = header.get("lastmod").cloned();
    for tag in tags {
        let field = |key: &str| tag.fields.get(key).or_else(|| header.get(key)).map(String::as_str);
        let address = field("address").ok_or_else(|| list.error(tag.line, "a tag without an address"))?;
        let currency = field("currency").unwrap_or("").to_ascii_uppercase();
        let parsed = list.address(tag.line, address)?;
        let parsed = match (currency.as_str(), parsed) {
            ("ETH" | "BSC" | "POLYGON" | "ARB" | "OP", evm @ ChainAddress::Evm(_)) => evm,
            ("ETH" | "BSC" | "POLYGON" | "ARB" | "OP", _) => {
                return Err(list.error(tag.line, format!("currency {currency} but {address:?} is not an EVM address")));
            }
            (_, ChainAddress::Other { text, .. }) if !currency.is_empty() => {
                ChainAddress::Other { chain: currency.to_ascii_lowercase(), text }
            }
            (_, other) => other,
        };
        let category = category(field("abuse"), field("category"), &tag.concepts);
        list.push_address(tag.line, parsed, category, field("label"), tag.fields.get("lastmod").map(String::as_str));
    }
    Ok(())
}

/// A tag's category: an abuse (sanction, scam, …) first, then what the
/// entity is (an exchange, a mixing service, …).
fn category(abuse: Option<&str>, category: Option<&str>, concepts: &[String]) -> Category {
    let of = |word: &str| match word {
        "sanction" => Some(Category::Sanction),
        "ransomware" | "extortion" | "scam" | "ponzi_scheme" => Some(Category::Scam),
        "phishing" => Some(Category::Phishing),
        "hacker" | "hack" | "heist" => Some(Category::Heist),
        "exploit" => Some(Category::Exploit),
        "perpetrator" => Some(Category::Perpetrator),
        "exchange" => Some(Category::Exchange),
        "mixing_service" | "mixer" | "coinjoin" => Some(Category::Mixer),
        "bridge" => Some(Category::Bridge),
        _ => None,
    };
    abuse
        .and_then(of)
        .or_else(|| category.and_then(of))
        .or_else(|| concepts.iter().find_map(|c| of(c)))
        .unwrap_or(Category::Other)
}

/// `key: value` (a value may be empty, quoted with `'` or `"`).
fn key_value(text: &str) -> Option<(String, String)> {
    let (key, value) = text.split_once(':')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return None;
    }
    Some((key.to_owned(), unquote(value)))
}

fn unquote(value: &str) -> String {
    let value = value.trim();
    for quote in ['\'', '"'] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return inner.to_owned();
        }
    }
    value.to_owned()
}
