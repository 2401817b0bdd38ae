//! An address as a list writes it, on whichever chain.
//!
//! EVM addresses may be EIP-55 checksummed or in one case; mixed case with
//! a wrong checksum is a mistyped address, an error. Text that starts like
//! an EVM address and is not one (a wrong length, 40 hex digits without
//! `0x`, an `Ox` typo) is an error too, never another chain's address.
//! Bitcoin (base58 `1…`/`3…`, bech32 `bc1…`) and TRON (`T…`, 34 base58
//! characters) are recognised by their shape; anything else is kept as
//! `unknown`, counted and reported.

use std::fmt;

use coffer_domain::Address;

/// How much of a bad address an error quotes.
const QUOTE_CHARS: usize = 60;

/// An address on its chain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ChainAddress {
    /// Any EVM chain's (the same key on Ethereum, BSC, Polygon, …).
    Evm(Address),
    /// Bitcoin's, as written.
    Bitcoin(String),
    /// TRON's, as written.
    Tron(String),
    /// Another chain's, as written.
    Other {
        /// The chain, as the list names it, or `unknown`.
        chain: String,
        /// The address.
        text: String,
    },
}

impl ChainAddress {
    /// The chain's name as reports count them: `evm`, `bitcoin`, `tron`, or the other chain's.
    pub fn chain(&self) -> &str {
        match self {
            Self::Evm(_) => "evm",
            Self::Bitcoin(_) => "bitcoin",
            Self::Tron(_) => "tron",
            Self::Other { chain, .. } => chain,
        }
    }

    /// The address as text (EVM ones checksummed).
    pub fn text(&self) -> String {
        match self {
            Self::Evm(address) => address.to_checksum(None),
            Self::Bitcoin(text) | Self::Tron(text) | Self::Other { text, .. } => text.clone(),
        }
    }
}

impl fmt::Display for ChainAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.text(), self.chain())
    }
}

/// Why text is not a usable address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Starts with `0x` but is not 40 hex digits after it, or is 40 hex
    /// digits after another two-character prefix.
    #[error("{0:?} is not an EVM address (0x and 40 hex digits)")]
    Malformed(String),
    /// Mixed case, and not the address's EIP-55 checksum.
    #[error("{0:?} is in mixed case and its EIP-55 checksum is wrong")]
    Checksum(String),
    /// 40 hex digits without `0x`.
    #[error("{0:?} looks like an EVM address without its 0x prefix")]
    MissingPrefix(String),
}

/// Reads `text` as an address: EVM if it looks like one (and must then be
/// one), else Bitcoin or TRON by shape, else `unknown`.
pub fn classify(text: &str) -> Result<ChainAddress, AddressError> {
    let quoted = || text.chars().take(QUOTE_CHARS).collect::<String>();
    let is_hex40 = |s: &str| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) else {
        return if is_hex40(text) {
            Err(AddressError::MissingPrefix(quoted()))
        } else if text.len() == 42 && text.get(2..).is_some_and(is_hex40) {
            // "Ox…", "0×…": a mistyped prefix, not another chain's address.
            Err(AddressError::Malformed(quoted()))
        } else {
            Ok(not_evm(text))
        };
    };
    if !is_hex40(hex) {
        return Err(AddressError::Malformed(quoted()));
    }
    let lower = format!("0x{}", hex.to_ascii_lowercase());
    let address: Address = lower.parse().map_err(|_| AddressError::Malformed(quoted()))?;
    let has_lower = hex.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = hex.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper && Address::parse_checksummed(format!("0x{hex}"), None).is_err() {
        return Err(AddressError::Checksum(quoted()));
    }
    Ok(ChainAddress::Evm(address))
}

fn not_evm(text: &str) -> ChainAddress {
    const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let base58 = |s: &str| s.chars().all(|c| BASE58.contains(c));
    let bech32 = |s: &str| s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if text.len() == 34 && text.starts_with('T') && base58(text) {
        ChainAddress::Tron(text.to_owned())
    } else if (25..=35).contains(&text.len()) && (text.starts_with('1') || text.starts_with('3')) && base58(text)
        || (14..=74).contains(&text.len()) && text.starts_with("bc1") && bech32(text)
    {
        ChainAddress::Bitcoin(text.to_owned())
    } else {
        ChainAddress::Other { chain: "unknown".to_owned(), text: text.to_owned() }
    }
}
