//! Each list format into [`Entry`]s. What each column means, and the
//! category each list's words map to, is written here once.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::address::{AddressError, ChainAddress, classify};
use crate::csv::{Table, fields};
use crate::{Category, Entry, Format, ListMeta, ParseError, ParsedList};

/// Parses list `name` from its bytes, in `format` (or the one its name and
/// header say, see [`Format::detect`]).
pub fn parse_list(name: &str, bytes: &[u8], format: Option<Format>) -> Result<ParsedList, ParseError> {
    let error = |line, message: String| ParseError { list: name.to_owned(), line, message };
    let text = std::str::from_utf8(bytes).map_err(|e| error(0, format!("not UTF-8 text: {e}")))?;
    let format = match format.or_else(|| Format::detect(name, text)) {
        Some(format) => format,
        None => {
            return Err(error(0, "cannot tell the format from the name or the header; say it with --format".into()));
        }
    };
    let mut list = Builder { name: name.into(), entries: Vec::new(), version: None, warnings: Vec::new() };
    match format {
        Format::Plain => plain(&mut list, text)?,
        Format::OfacCsv => ofac(&mut list, text)?,
        Format::LabelledCsv => labelled(&mut list, text)?,
        Format::ContractsCsv => contracts(&mut list, text)?,
        Format::IncidentCsv => incidents(&mut list, text)?,
        Format::TagPack => crate::tagpack::read(&mut list, text)?,
    }
    Ok(list.finish(format, bytes))
}

/// A list being read.
pub(crate) struct Builder {
    pub(crate) name: Arc<str>,
    pub(crate) entries: Vec<Entry>,
    pub(crate) version: Option<String>,
    pub(crate) warnings: Vec<String>,
}

impl Builder {
    pub(crate) fn error(&self, line: usize, message: impl Into<String>) -> ParseError {
        ParseError { list: self.name.to_string(), line, message: message.into() }
    }

    /// Adds the address `text` at `line`; an address that is malformed is an error.
    pub(crate) fn push(
        &mut self,
        line: usize,
        text: &str,
        category: Category,
        label: Option<&str>,
        date: Option<&str>,
    ) -> Result<(), ParseError> {
        let address = self.address(line, text)?;
        self.push_address(line, address, category, label, date);
        Ok(())
    }

    /// `text` as an address. A mixed-case EVM address whose EIP-55 checksum
    /// is wrong still names exactly one address (case never changes the
    /// bytes): it is kept, and the line is reported in
    /// [`ListMeta::warnings`]. Any other malformed address is an error.
    pub(crate) fn address(&mut self, line: usize, text: &str) -> Result<ChainAddress, ParseError> {
        match classify(text.trim()) {
            Ok(address) => Ok(address),
            Err(AddressError::Checksum(quoted)) => {
                self.warnings.push(format!("line {line}: {}", AddressError::Checksum(quoted)));
                let lower = text.trim().to_ascii_lowercase();
                classify(&lower).map_err(|e| self.error(line, e.to_string()))
            }
            Err(err) => Err(self.error(line, err.to_string())),
        }
    }

    pub(crate) fn push_address(
        &mut self,
        line: usize,
        address: ChainAddress,
        category: Category,
        label: Option<&str>,
        date: Option<&str>,
    ) {
        let non_empty = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        self.entries.push(Entry {
            address,
            category,
            label: non_empty(label),
            list: self.name.clone(),
            line,
            date: non_empty(date),
        });
    }

    fn finish(self, format: Format, bytes: &[u8]) -> ParsedList {
        let mut non_evm_by_chain = BTreeMap::new();
        for entry in self.entries.iter().filter(|e| !matches!(e.address, ChainAddress::Evm(_))) {
            *non_evm_by_chain.entry(entry.address.chain().to_owned()).or_insert(0) += 1;
        }
        let non_evm = non_evm_by_chain.values().sum();
        let meta = ListMeta {
            name: self.name.to_string(),
            format,
            version: self.version,
            sha256: hex::encode(Sha256::digest(bytes)),
            entries: self.entries.len(),
            evm: self.entries.len() - non_evm,
            non_evm,
            non_evm_by_chain,
            warnings: self.warnings,
        };
        ParsedList { meta, entries: self.entries }
    }
}

/// One address a line; `#` starts a comment. OFAC's lists: sanctions.
fn plain(list: &mut Builder, text: &str) -> Result<(), ParseError> {
    for (i, raw) in text.lines().enumerate() {
        let content = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
        if !content.is_empty() {
            list.push(i + 1, content, Category::Sanction, None, None)?;
        }
    }
    Ok(())
}

/// A CSV list's rows: (line, fields) each.
type Rows = Vec<(usize, Vec<String>)>;

/// The rows of a CSV list with its required columns' indexes, each row's
/// fields checked to reach them.
fn rows(list: &Builder, text: &str, columns: &[&str]) -> Result<(Vec<usize>, Rows), ParseError> {
    let table = match Table::new(text) {
        None => return Ok((Vec::new(), Vec::new())),
        Some(Err(line)) => return Err(list.error(line, "the header's quotes do not close")),
        Some(Ok(table)) => table,
    };
    let mut indexes = Vec::new();
    for column in columns {
        let index =
            table.column(column).ok_or_else(|| list.error(table.header_line, format!("no column {column:?}")))?;
        indexes.push(index);
    }
    let need = indexes.iter().max().map_or(0, |m| m + 1);
    let mut out = Vec::new();
    for (line, row) in table.rows {
        let cells = fields(row).ok_or_else(|| list.error(line, "a quoted field does not close on its line"))?;
        if cells.len() < need {
            return Err(list.error(line, format!("{} fields, the header names {need} or more", cells.len())));
        }
        out.push((line, cells));
    }
    Ok((indexes, out))
}

/// `address,name`: OFAC's SDN entries, the entity as the label.
fn ofac(list: &mut Builder, text: &str) -> Result<(), ParseError> {
    let (c, rows) = rows(list, text, &["address", "name"])?;
    for (line, cells) in rows {
        list.push(line, &cells[c[0]], Category::Sanction, Some(&cells[c[1]]), None)?;
    }
    Ok(())
}

/// An Etherscan label list's name (`etherscan-phish-hack-list`, `phish-hack`, …) as a category.
fn etherscan_category(text: &str) -> Category {
    let text = text.to_ascii_lowercase();
    if text.contains("phish") {
        Category::Phishing
    } else if text.contains("heist") {
        Category::Heist
    } else if text.contains("exploit") {
        Category::Exploit
    } else if text.contains("scam") {
        Category::Scam
    } else {
        Category::Other
    }
}

/// `banned_address,wallet_tag,data_source`: Forta's Etherscan labels.
fn labelled(list: &mut Builder, text: &str) -> Result<(), ParseError> {
    let (c, rows) = rows(list, text, &["banned_address", "wallet_tag", "data_source"])?;
    for (line, cells) in rows {
        let category = etherscan_category(&cells[c[2]]);
        list.push(line, &cells[c[0]], category, Some(&cells[c[1]]), None)?;
    }
    Ok(())
}

/// Forta's malicious contracts: each contract, and its creator, as entries
/// of the category its creator's Etherscan label gives (a contract without
/// one is still a malicious contract: `scam`).
fn contracts(list: &mut Builder, text: &str) -> Result<(), ParseError> {
    let columns = ["contract_address", "contract_tag", "contract_creator", "contract_creator_tag"];
    let (c, rows) = rows(list, text, &[columns.as_slice(), &["contract_creator_etherscan_label"]].concat())?;
    for (line, cells) in rows {
        let category = match etherscan_category(&cells[c[4]]) {
            Category::Other => Category::Scam,
            known => known,
        };
        list.push(line, &cells[c[0]], category, Some(&cells[c[1]]), None)?;
        if !cells[c[2]].is_empty() {
            let label = if cells[c[3]].is_empty() { &cells[c[1]] } else { &cells[c[3]] };
            list.push(line, &cells[c[2]], category, Some(label), None)?;
        }
    }
    Ok(())
}

/// The curated incident CSV: every row is a theft's address (the thief's,
/// or one its proceeds were laundered through), labelled with the incident.
/// Its `chain` says which kind of address it is (`ETH+BSC`: one EVM key on
/// both); an EVM chain's address must be one.
fn incidents(list: &mut Builder, text: &str) -> Result<(), ParseError> {
    let (c, rows) = rows(list, text, &["incident", "incident_date", "chain", "address", "role"])?;
    for (line, cells) in rows {
        let (incident, date, chain, text) = (&cells[c[0]], &cells[c[1]], &cells[c[2]], &cells[c[3]]);
        let evm = chain.split('+').all(|part| {
            matches!(
                part.trim().to_ascii_uppercase().as_str(),
                "ETH" | "BSC" | "POLYGON" | "ARB" | "OP" | "BASE" | "AVAX"
            )
        });
        let address = list.address(line, text)?;
        let address = match (evm, address) {
            (true, address @ ChainAddress::Evm(_)) => address,
            (true, _) => return Err(list.error(line, format!("chain {chain} but {text:?} is not an EVM address"))),
            (false, ChainAddress::Evm(_)) => {
                return Err(list.error(line, format!("chain {chain} but {text:?} is an EVM address")));
            }
            (false, ChainAddress::Other { text, .. }) => {
                ChainAddress::Other { chain: chain.to_ascii_lowercase(), text }
            }
            (false, other) => other,
        };
        let category =
            if cells[c[4]].to_ascii_lowercase().contains("ofac") { Category::Sanction } else { Category::Heist };
        list.push_address(line, address, category, Some(incident), Some(date));
    }
    Ok(())
}
