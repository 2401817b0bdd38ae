//! Addresses no payout may go to, parsed from the lists the signer reads
//! (OFAC's digital-currency addresses and the like). Parsing only: the
//! signer reads the files and decides which to load.
//!
//! A list may mix chains (0xB10C's USDT list holds EVM, TRON and Bitcoin
//! addresses). A line that is not an EVM address is counted as skipped and
//! reported, never guessed at; a line that starts like an EVM address and is
//! not one (a wrong length, a bad EIP-55 checksum, 40 hex digits without
//! `0x`) is an error naming its line, since a list that silently loses
//! entries screens nothing.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::Arc;

use coffer_domain::Address;

/// How much of a bad line an error quotes.
const QUOTE_CHARS: usize = 60;

/// Where a denylisted address came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The list's name, as the signer gave it (a file name).
    pub name: Arc<str>,
    /// The line it is on, from 1.
    pub line: usize,
}

/// What one parsed list held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceReport {
    /// The list's name.
    pub name: String,
    /// Distinct EVM addresses it added.
    pub addresses: usize,
    /// Lines that were not EVM addresses (TRON, Bitcoin, …), skipped.
    pub skipped_non_evm: usize,
}

/// A set of addresses, each with where it came from; lookups are O(1).
#[derive(Clone, Debug, Default)]
pub struct Denylist {
    entries: HashMap<Address, Source>,
    reports: Vec<SourceReport>,
}

/// A list that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{list} line {line}: {kind}")]
pub struct DenylistError {
    /// The list's name.
    pub list: String,
    /// The line, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub kind: DenylistErrorKind,
}

/// What is wrong with a line: stable, for tooling to match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DenylistErrorKind {
    /// Starts with `0x` but is not 40 hex digits after it, or is 40 hex
    /// digits after another two-character prefix.
    Malformed(String),
    /// Mixed case, and not the address's EIP-55 checksum: a mistyped address.
    Checksum(String),
    /// 40 hex digits without `0x`.
    MissingPrefix(String),
    /// The CSV header has no such column.
    NoColumn(String),
    /// A CSV row with fewer fields than the address column needs.
    ShortRow,
}

impl fmt::Display for DenylistErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(text) => write!(f, "{text:?} is not an EVM address (0x and 40 hex digits)"),
            Self::Checksum(text) => write!(f, "{text:?} is in mixed case and its EIP-55 checksum is wrong"),
            Self::MissingPrefix(text) => write!(f, "{text:?} looks like an EVM address without its 0x prefix"),
            Self::NoColumn(column) => write!(f, "the header has no column {column:?}"),
            Self::ShortRow => f.write_str("the row has no address column"),
        }
    }
}

enum Line {
    Evm(Address),
    NotEvm,
}

impl Denylist {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a plain list: one address per line, `#` starts a comment,
    /// blank lines are ignored. EVM addresses may be checksummed (EIP-55) or
    /// in one case; other lines are counted in [`SourceReport::skipped_non_evm`].
    pub fn parse(source_name: &str, text: &str) -> Result<Self, DenylistError> {
        let mut parser = Parser::new(source_name);
        for (i, raw) in text.lines().enumerate() {
            let content = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
            if !content.is_empty() {
                parser.take(i + 1, content)?;
            }
        }
        Ok(parser.finish())
    }

    /// Parses a CSV list with a header row, reading the addresses of
    /// `column` (such as ultrasoundmoney's `address,name`). Quoted fields may
    /// hold commas; a field may not span lines. Empty cells and non-EVM
    /// addresses are skipped and counted.
    pub fn parse_csv(source_name: &str, text: &str, column: &str) -> Result<Self, DenylistError> {
        let mut parser = Parser::new(source_name);
        let mut lines = text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty());
        let error = |line, kind| DenylistError { list: source_name.to_owned(), line, kind };
        let Some((header_line, header)) = lines.next() else { return Ok(parser.finish()) };
        let index = csv_fields(header)
            .iter()
            .position(|name| name.eq_ignore_ascii_case(column))
            .ok_or_else(|| error(header_line + 1, DenylistErrorKind::NoColumn(column.to_owned())))?;
        for (i, row) in lines {
            let fields = csv_fields(row);
            let cell = fields.get(index).ok_or_else(|| error(i + 1, DenylistErrorKind::ShortRow))?;
            if cell.is_empty() {
                parser.skipped += 1;
            } else {
                parser.take(i + 1, cell)?;
            }
        }
        Ok(parser.finish())
    }

    /// Adds every address of `other`; an address on both keeps its first source.
    pub fn extend(&mut self, other: Denylist) {
        for (address, source) in other.entries {
            self.entries.entry(address).or_insert(source);
        }
        self.reports.extend(other.reports);
    }

    /// Where `address` is denylisted, if it is.
    pub fn contains(&self, address: &Address) -> Option<&Source> {
        self.entries.get(address)
    }

    /// Distinct addresses.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no address is listed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lines skipped as not EVM addresses, over every list.
    pub fn skipped_non_evm(&self) -> usize {
        self.reports.iter().map(|r| r.skipped_non_evm).sum()
    }

    /// What each list parsed into this one held, in the order they came.
    pub fn sources(&self) -> &[SourceReport] {
        &self.reports
    }
}

struct Parser {
    name: Arc<str>,
    entries: HashMap<Address, Source>,
    skipped: usize,
}

impl Parser {
    fn new(name: &str) -> Self {
        Self { name: name.into(), entries: HashMap::new(), skipped: 0 }
    }

    fn take(&mut self, line: usize, text: &str) -> Result<(), DenylistError> {
        let kind = match classify(text) {
            Ok(Line::Evm(address)) => {
                if let Entry::Vacant(entry) = self.entries.entry(address) {
                    entry.insert(Source { name: self.name.clone(), line });
                }
                return Ok(());
            }
            Ok(Line::NotEvm) => {
                self.skipped += 1;
                return Ok(());
            }
            Err(kind) => kind,
        };
        Err(DenylistError { list: self.name.to_string(), line, kind })
    }

    fn finish(self) -> Denylist {
        let report =
            SourceReport { name: self.name.to_string(), addresses: self.entries.len(), skipped_non_evm: self.skipped };
        Denylist { entries: self.entries, reports: vec![report] }
    }
}

fn classify(text: &str) -> Result<Line, DenylistErrorKind> {
    let quoted = || text.chars().take(QUOTE_CHARS).collect::<String>();
    let is_hex40 = |s: &str| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) else {
        return if is_hex40(text) {
            Err(DenylistErrorKind::MissingPrefix(quoted()))
        } else if text.len() == 42 && text.get(2..).is_some_and(is_hex40) {
            // "Ox…", "0×…": a mistyped prefix, not another chain's address.
            Err(DenylistErrorKind::Malformed(quoted()))
        } else {
            Ok(Line::NotEvm)
        };
    };
    if !is_hex40(hex) {
        return Err(DenylistErrorKind::Malformed(quoted()));
    }
    let lower = format!("0x{}", hex.to_ascii_lowercase());
    let address: Address = lower.parse().map_err(|_| DenylistErrorKind::Malformed(quoted()))?;
    let has_lower = hex.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = hex.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper && Address::parse_checksummed(format!("0x{hex}"), None).is_err() {
        return Err(DenylistErrorKind::Checksum(quoted()));
    }
    Ok(Line::Evm(address))
}

/// The fields of one CSV line, unquoted and trimmed (commas inside quotes do not split).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            // A doubled quote inside a quoted field toggles twice: the split
            // stays right, and only the address cell's text is ever used.
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field).trim().to_owned()),
            _ => field.push(c),
        }
    }
    fields.push(field.trim().to_owned());
    fields
}
