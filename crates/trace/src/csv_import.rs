//! Transfers from a CSV export, so an investigator can trace without a
//! node: the columns `block_time,from,to,total_eth` (a Dune export, as in
//! dspytdao's Lazarus dataset), addresses as `\x…` or `0x…`, amounts in
//! ETH as decimal text (parsed exactly to wei, never through a float).
//!
//! Such rows name no transaction: each gets a stable id, the SHA-256 of
//! the file's name, the line and the row, and its line as its index, so
//! the evidence points back at the row.

use alloy_primitives::{Address, B256, U256};
use coffer_domain::Timestamp;
use sha2::{Digest, Sha256};

use crate::{Asset, Transfer, TransferId};

/// A row that does not parse, and where.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}: {message}")]
pub struct CsvError {
    /// The file.
    pub file: String,
    /// The line, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

const COLUMNS: [&str; 4] = ["block_time", "from", "to", "total_eth"];

/// The transfers of `text`, a CSV export named `file`.
pub fn parse_transfers_csv(file: &str, text: &str) -> Result<Vec<Transfer>, CsvError> {
    let error = |line: usize, message: String| CsvError { file: file.to_owned(), line, message };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((header_index, header)) = lines.next() else { return Ok(Vec::new()) };
    let names: Vec<&str> = header.split(',').map(|c| c.trim().trim_matches('"')).collect();
    let mut at = [0usize; 4];
    for (slot, column) in at.iter_mut().zip(COLUMNS) {
        *slot = names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(column))
            .ok_or_else(|| error(header_index + 1, format!("no column {column:?} (the header has {names:?})")))?;
    }
    let mut transfers = Vec::new();
    for (index, row) in lines {
        let line = index + 1;
        let cells: Vec<&str> = row.split(',').map(|c| c.trim().trim_matches('"')).collect();
        let cell = |i: usize| cells.get(at[i]).copied().ok_or_else(|| error(line, format!("no {} field", COLUMNS[i])));
        let time = parse_time(cell(0)?).map_err(|m| error(line, m))?;
        let from = parse_address(cell(1)?).map_err(|m| error(line, format!("from: {m}")))?;
        let to = parse_address(cell(2)?).map_err(|m| error(line, format!("to: {m}")))?;
        let amount = parse_ether(cell(3)?).map_err(|m| error(line, format!("total_eth: {m}")))?;
        let digest = Sha256::new().chain_update(file).chain_update(line.to_string()).chain_update(row).finalize();
        transfers.push(Transfer {
            id: TransferId { tx: B256::from_slice(&digest), index: line as u64 },
            block: 0,
            seq: line as u64,
            time,
            from,
            to,
            asset: Asset::Native,
            amount,
        });
    }
    Ok(transfers)
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("block_time {text:?} is not RFC 3339: {e}"))?;
    let millis = parsed.unix_timestamp_nanos() / 1_000_000;
    Ok(Timestamp::from_millis(i64::try_from(millis).map_err(|_| format!("block_time {text:?} is out of range"))?))
}

fn parse_address(text: &str) -> Result<Address, String> {
    let hex = text
        .strip_prefix("\\x")
        .or_else(|| text.strip_prefix("0x"))
        .ok_or_else(|| format!("{text:?} is not \\x… or 0x…"))?;
    if hex.len() != 40 {
        return Err(format!("{text:?} is not 20 bytes"));
    }
    format!("0x{hex}").parse().map_err(|_| format!("{text:?} is not hexadecimal"))
}

/// `1234.5678` (or `1e-05`, as exporters print small floats) ETH as wei,
/// exactly: the text's digits are shifted, never converted to a float.
pub fn parse_ether(text: &str) -> Result<U256, String> {
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().map_err(|_| format!("{text:?} has no whole exponent"))?),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
        return Err(format!("{text:?} is not a decimal amount"));
    }
    // The amount is `all × 10^(exponent − fraction digits)` ether.
    let all = format!("{whole}{fraction}");
    let shift = 18 + i64::from(exponent) - fraction.len() as i64;
    if shift < 0 {
        let (kept, dropped) = all.split_at(all.len().saturating_sub(shift.unsigned_abs() as usize));
        if dropped.chars().any(|c| c != '0') {
            return Err(format!("{text:?} has more than 18 decimals (finer than a wei)"));
        }
        return U256::from_str_radix(if kept.is_empty() { "0" } else { kept }, 10)
            .map_err(|e| format!("{text:?}: {e}"));
    }
    if shift > 60 {
        return Err(format!("{text:?} is out of range"));
    }
    U256::from_str_radix(&format!("{all}{}", "0".repeat(shift as usize)), 10).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::parse_ether;
    use alloy_primitives::U256;

    #[test]
    fn ether_text_is_read_exactly() {
        let wei = |n: u128| U256::from(n);
        assert_eq!(parse_ether("0.0"), Ok(wei(0)));
        assert_eq!(parse_ether("1"), Ok(wei(1_000_000_000_000_000_000)));
        assert_eq!(parse_ether("1e-05"), Ok(wei(10_000_000_000_000)));
        assert_eq!(parse_ether("2.5E+3"), Ok(wei(2_500 * 1_000_000_000_000_000_000)));
        assert_eq!(parse_ether("0.000000000000000001"), Ok(wei(1)));
        assert_eq!(parse_ether("1.10e-18"), Err("\"1.10e-18\" has more than 18 decimals (finer than a wei)".into()));
        assert_eq!(parse_ether("1.00e-18"), Ok(wei(1)));
        assert!(parse_ether("-1").is_err() && parse_ether("1,5").is_err() && parse_ether("").is_err());
    }
}
