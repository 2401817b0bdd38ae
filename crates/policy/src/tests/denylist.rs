//! Parsing address lists: EVM kept, other chains counted, malformed lines named.

use coffer_domain::Address;

use crate::{Denylist, DenylistError, DenylistErrorKind};

/// A mixed-case address and its EIP-55 spelling.
fn checksummed(byte: u8) -> (Address, String) {
    let address = Address::repeat_byte(byte);
    let text = address.to_checksum(None);
    assert!(text.bytes().any(|b| b.is_ascii_uppercase()) && text.bytes().any(|b| b.is_ascii_lowercase()));
    (address, text)
}

/// The first letter of `text` after `0x` in the other case: a broken checksum.
fn flip_one(text: &str) -> String {
    let position = text[2..].find(|c: char| c.is_ascii_alphabetic()).unwrap() + 2;
    let mut bytes = text.as_bytes().to_vec();
    bytes[position] ^= 0x20;
    String::from_utf8(bytes).unwrap()
}

fn error(name: &str, text: &str) -> DenylistError {
    Denylist::parse(name, text).expect_err("the list should be refused")
}

#[test]
fn a_plain_list_keeps_evm_addresses_and_counts_the_rest() {
    let (a, a_text) = checksummed(0xab);
    let b = Address::repeat_byte(0xcd);
    let text = format!(
        "# OFAC, USDT\n\n{a_text}\n  {}  # trailing comment\n{}\nTEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR\n16iWn2J1McqjToYLHSsAyS6En3QA8YQ91H\nbc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh\r\n{}\n",
        b.to_string().to_lowercase(),
        b.to_string().to_uppercase().replacen("0X", "0x", 1),
        a_text.to_lowercase(),
    );
    let list = Denylist::parse("sdn_usdt.txt", &text).unwrap();
    assert_eq!(list.len(), 2);
    let source = list.contains(&a).unwrap();
    assert_eq!((&*source.name, source.line), ("sdn_usdt.txt", 3));
    assert_eq!(list.contains(&b).unwrap().line, 4, "the first line an address is on");
    assert_eq!(list.contains(&Address::repeat_byte(0x01)), None);
    assert_eq!(list.skipped_non_evm(), 3);
    assert_eq!(list.sources()[0].addresses, 2);
}

#[test]
fn a_malformed_evm_line_is_an_error_naming_its_line() {
    let (_, good) = checksummed(0xab);
    let cases = [
        ("0x1234".to_owned(), "is not an EVM address (0x and 40 hex digits)"),
        (format!("{good}00"), "is not an EVM address"),
        (format!("{good},\"LAZARUS GROUP\""), "is not an EVM address"),
        (good.replacen('0', "O", 1), "is not an EVM address"),
        (flip_one(&good), "is in mixed case and its EIP-55 checksum is wrong"),
        (good[2..].to_owned(), "looks like an EVM address without its 0x prefix"),
    ];
    for (line, phrase) in cases {
        let error = error("list.txt", &format!("# list\n{line}\n"));
        assert_eq!((error.list.as_str(), error.line), ("list.txt", 2), "{error}");
        assert!(error.to_string().starts_with("list.txt line 2: \""), "{error}");
        assert!(error.to_string().contains(phrase), "{error} should say {phrase:?}");
    }
    assert_eq!(error("l", "0x1234").to_string(), "l line 1: \"0x1234\" is not an EVM address (0x and 40 hex digits)");
    assert!(matches!(error("l", &flip_one(&good)).kind, DenylistErrorKind::Checksum(_)));
}

#[test]
fn an_upper_case_0x_prefix_is_an_evm_address_too() {
    let address = Address::repeat_byte(0xef);
    let text = address.to_string().to_lowercase().replacen("0x", "0X", 1);
    assert!(Denylist::parse("l", &text).unwrap().contains(&address).is_some());
}

#[test]
fn lists_extend_and_keep_the_first_source() {
    let a = Address::repeat_byte(0xa1);
    let b = Address::repeat_byte(0xb2);
    let mut list = Denylist::parse("eth.txt", &format!("{a}\n")).unwrap();
    list.extend(Denylist::parse("usdt.txt", &format!("{b}\n{a}\nTRBACioxdrdsYEZHvJWiUDZcMdBPpEe5Ub\n")).unwrap());
    assert_eq!(list.len(), 2);
    assert_eq!(&*list.contains(&a).unwrap().name, "eth.txt");
    assert_eq!(&*list.contains(&b).unwrap().name, "usdt.txt");
    assert_eq!(list.skipped_non_evm(), 1);
    let names: Vec<_> = list.sources().iter().map(|s| (s.name.as_str(), s.addresses, s.skipped_non_evm)).collect();
    assert_eq!(names, [("eth.txt", 1, 0), ("usdt.txt", 2, 1)]);
    assert!(Denylist::new().is_empty());
}

#[test]
fn a_csv_column_is_read_with_quoted_fields() {
    let (a, a_text) = checksummed(0x5a);
    let b = Address::repeat_byte(0x6b);
    let text = format!(
        "Name,Address\n\"LAZARUS GROUP, a.k.a. \"\"APT38\"\"\",{a_text}\n\"X\",\"{b}\"\nempty,\ntron,TTUDyVhhpCC1xJoPmWzdjLAzeoPwbSABdr\n"
    );
    let list = Denylist::parse_csv("ofac.csv", &text, "address").unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.contains(&a).unwrap().line, 2);
    assert_eq!(list.contains(&b).unwrap().line, 3);
    assert_eq!(list.skipped_non_evm(), 2);
    let missing = Denylist::parse_csv("ofac.csv", &text, "wallet").unwrap_err();
    assert_eq!(missing.to_string(), "ofac.csv line 1: the header has no column \"wallet\"");
    let short = Denylist::parse_csv("ofac.csv", "name,address\nonly-a-name\n", "address").unwrap_err();
    assert_eq!((short.line, short.kind), (2, DenylistErrorKind::ShortRow));
    let bad = Denylist::parse_csv("ofac.csv", &format!("address\n{}\n", flip_one(&a_text)), "address").unwrap_err();
    assert_eq!(bad.line, 2);
    assert!(Denylist::parse_csv("empty.csv", "", "address").unwrap().is_empty());
}
