//! Money: integer amounts in an asset's base units, tied to that asset.
//!
//! There is no float anywhere in this module, and no way to build an
//! [`Amount`] from one. The API speaks decimal strings; [`Asset::parse_amount`]
//! and [`Asset::format_amount`] are the only bridges between those strings and
//! base units, and they are exact.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use alloy_primitives::{Address, U256};

use crate::ChainId;

/// The longest decimal string [`Asset::parse_amount`] looks at. U256 has 78
/// digits; a decimal point and up to 77 decimals fit comfortably.
const MAX_DECIMAL_LEN: usize = 160;

/// The most decimals an asset may declare: 10^77 is the largest power of ten
/// that fits in a U256.
pub const MAX_DECIMALS: u8 = 77;

/// An asset's ticker symbol, such as `ETH` or `USDT`: 1 to 12 ASCII letters
/// and digits, stored upper-case and inline so that amounts stay `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssetSymbol {
    len: u8,
    bytes: [u8; 12],
}

/// Why a string is not an asset symbol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an asset symbol is 1 to 12 ASCII letters or digits, not {0:?}")]
pub struct InvalidSymbol(pub String);

impl AssetSymbol {
    /// The symbol as text, upper-case.
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics are ever stored, so this cannot fail.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl FromStr for AssetSymbol {
    type Err = InvalidSymbol;

    /// Parses a symbol case-insensitively: `usdt` and `USDT` are the same asset.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(InvalidSymbol(s.chars().take(40).collect()));
        }
        let mut bytes = [0u8; 12];
        for (dst, src) in bytes.iter_mut().zip(s.bytes()) {
            *dst = src.to_ascii_uppercase();
        }
        Ok(Self { len: s.len() as u8, bytes })
    }
}

impl fmt::Display for AssetSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AssetSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AssetSymbol({})", self.as_str())
    }
}

/// Names one asset: a symbol on a chain. USDT on chain 1 and USDT on chain
/// 137 are different assets and never add up.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct AssetId {
    /// The chain the asset lives on.
    pub chain_id: ChainId,
    /// Its ticker symbol there.
    pub symbol: AssetSymbol,
}

impl fmt::Display for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.symbol, self.chain_id)
    }
}

/// How an asset moves on its chain.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AssetKind {
    /// The chain's own coin (ETH on Ethereum), moved by plain transactions.
    Native,
    /// An ERC-20 token, moved by `transfer` and seen through `Transfer` logs.
    Erc20 {
        /// The token contract.
        contract: Address,
    },
}

/// A configured asset: what it is called, where it lives, how it moves and
/// how many decimals its base unit has.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Asset {
    /// Chain and symbol.
    pub id: AssetId,
    /// Native coin or ERC-20 token.
    pub kind: AssetKind,
    /// Decimals of the base unit (18 for ETH, 6 for USDT), at most [`MAX_DECIMALS`].
    pub decimals: u8,
}

/// An amount of one asset, in that asset's base units (wei for ETH).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Amount {
    asset: AssetId,
    units: U256,
}

/// Why a decimal string is not an amount of an asset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The string was empty.
    #[error("the amount is empty")]
    Empty,
    /// The string started with a minus sign.
    #[error("the amount is negative")]
    Negative,
    /// The string was not plain digits with at most one decimal point.
    #[error("the amount must be a decimal string such as \"12.50\"")]
    Malformed,
    /// More digits after the point than the asset has decimals.
    #[error("{symbol} has {decimals} decimals; the amount has more")]
    TooPrecise {
        /// The asset's symbol.
        symbol: AssetSymbol,
        /// How many decimals it allows.
        decimals: u8,
    },
    /// The value does not fit in 256 bits of base units.
    #[error("the amount is too large")]
    Overflow,
}

/// Arithmetic that would mix assets or leave the range of base units.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The two amounts are of different assets.
    #[error("cannot combine {0} with {1}")]
    AssetMismatch(AssetId, AssetId),
    /// The result would not fit in a U256.
    #[error("amount overflow")]
    Overflow,
    /// The result would be negative.
    #[error("amount underflow")]
    Underflow,
}

impl Amount {
    /// An amount of `units` base units of `asset`.
    pub fn from_units(asset: AssetId, units: U256) -> Self {
        Self { asset, units }
    }

    /// Nothing of `asset`.
    pub fn zero(asset: AssetId) -> Self {
        Self::from_units(asset, U256::ZERO)
    }

    /// The asset this amount is of.
    pub fn asset(&self) -> AssetId {
        self.asset
    }

    /// The amount in base units.
    pub fn units(&self) -> U256 {
        self.units
    }

    /// Whether this is nothing at all.
    pub fn is_zero(&self) -> bool {
        self.units.is_zero()
    }

    fn same_asset(&self, other: &Self) -> Result<(), MoneyError> {
        if self.asset == other.asset { Ok(()) } else { Err(MoneyError::AssetMismatch(self.asset, other.asset)) }
    }

    /// `self + other`, refusing to mix assets or overflow.
    pub fn checked_add(&self, other: &Self) -> Result<Self, MoneyError> {
        self.same_asset(other)?;
        let units = self.units.checked_add(other.units).ok_or(MoneyError::Overflow)?;
        Ok(Self::from_units(self.asset, units))
    }

    /// `self - other`, refusing to mix assets or go below zero.
    pub fn checked_sub(&self, other: &Self) -> Result<Self, MoneyError> {
        self.same_asset(other)?;
        let units = self.units.checked_sub(other.units).ok_or(MoneyError::Underflow)?;
        Ok(Self::from_units(self.asset, units))
    }

    /// Orders two amounts of the same asset.
    pub fn compare(&self, other: &Self) -> Result<Ordering, MoneyError> {
        self.same_asset(other)?;
        Ok(self.units.cmp(&other.units))
    }
}

impl Asset {
    /// Parses a decimal string such as `"12.50"` into base units of this
    /// asset, exactly. Rejects signs, exponents, spaces, a bare or trailing
    /// point, and more fraction digits than the asset has decimals.
    pub fn parse_amount(&self, text: &str) -> Result<Amount, AmountError> {
        Ok(Amount::from_units(self.id, parse_units(text, self.decimals, self.id.symbol)?))
    }

    /// Formats an amount of this asset as a decimal string with no trailing
    /// fraction zeros: 12.5 USDT is `"12.5"`, 12 USDT is `"12"`.
    ///
    /// # Panics
    /// Never in practice; an amount of another asset is a programming error
    /// and is caught by a debug assertion.
    pub fn format_amount(&self, amount: &Amount) -> String {
        debug_assert_eq!(amount.asset, self.id, "formatting an amount with another asset's decimals");
        format_units(amount.units, self.decimals)
    }
}

/// Base units from a decimal string with at most `decimals` fraction digits.
fn parse_units(text: &str, decimals: u8, symbol: AssetSymbol) -> Result<U256, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if text.starts_with('-') {
        return Err(AmountError::Negative);
    }
    if text.len() > MAX_DECIMAL_LEN {
        return Err(AmountError::Overflow);
    }
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return Err(AmountError::Malformed);
    }
    if text.ends_with('.') {
        return Err(AmountError::Malformed);
    }
    if fraction.len() > usize::from(decimals) {
        return Err(AmountError::TooPrecise { symbol, decimals });
    }
    let ten = U256::from(10u8);
    let mut units = U256::ZERO;
    let padding = usize::from(decimals) - fraction.len();
    let digits = whole.bytes().chain(fraction.bytes()).chain(std::iter::repeat_n(b'0', padding));
    for digit in digits {
        units = units
            .checked_mul(ten)
            .and_then(|u| u.checked_add(U256::from(digit - b'0')))
            .ok_or(AmountError::Overflow)?;
    }
    Ok(units)
}

/// The decimal string of `units` base units with `decimals` decimals.
pub fn format_units(units: U256, decimals: u8) -> String {
    let digits = units.to_string();
    let decimals = usize::from(decimals);
    if decimals == 0 {
        return digits;
    }
    let padded =
        if digits.len() <= decimals { format!("{}{digits}", "0".repeat(decimals + 1 - digits.len())) } else { digits };
    let (whole, fraction) = padded.split_at(padded.len() - decimals);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() { whole.to_owned() } else { format!("{whole}.{fraction}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usdt() -> Asset {
        Asset {
            id: AssetId { chain_id: ChainId(1), symbol: "USDT".parse().unwrap() },
            kind: AssetKind::Erc20 { contract: Address::ZERO },
            decimals: 6,
        }
    }

    fn eth() -> Asset {
        Asset {
            id: AssetId { chain_id: ChainId(1), symbol: "ETH".parse().unwrap() },
            kind: AssetKind::Native,
            decimals: 18,
        }
    }

    #[test]
    fn parses_exact_base_units() {
        let usdt = usdt();
        assert_eq!(usdt.parse_amount("12.50").unwrap().units(), U256::from(12_500_000u64));
        assert_eq!(usdt.parse_amount("12").unwrap().units(), U256::from(12_000_000u64));
        assert_eq!(usdt.parse_amount("0.000001").unwrap().units(), U256::from(1u64));
        assert_eq!(usdt.parse_amount("0").unwrap().units(), U256::ZERO);
        assert_eq!(eth().parse_amount("1.5").unwrap().units(), U256::from(1_500_000_000_000_000_000u128));
    }

    #[test]
    fn rejects_what_is_not_a_plain_decimal() {
        let usdt = usdt();
        assert_eq!(usdt.parse_amount(""), Err(AmountError::Empty));
        assert_eq!(usdt.parse_amount("-1"), Err(AmountError::Negative));
        for bad in ["+1", "1e6", " 1", "1 ", ".5", "5.", "1.2.3", "0x10", "١", "1_000", "NaN", "1,5"] {
            assert_eq!(usdt.parse_amount(bad), Err(AmountError::Malformed), "{bad:?}");
        }
        assert!(matches!(usdt.parse_amount("0.0000001"), Err(AmountError::TooPrecise { decimals: 6, .. })));
        assert_eq!(usdt.parse_amount(&"9".repeat(100)), Err(AmountError::Overflow));
        assert_eq!(usdt.parse_amount(&"9".repeat(1000)), Err(AmountError::Overflow));
    }

    #[test]
    fn the_largest_u256_round_trips_and_one_more_overflows() {
        let max = U256::MAX.to_string();
        let zero_decimals = Asset { decimals: 0, ..usdt() };
        assert_eq!(zero_decimals.parse_amount(&max).unwrap().units(), U256::MAX);
        let one_more = format!("{}{}", &max[..max.len() - 1], (max.as_bytes()[max.len() - 1] - b'0' + 1));
        assert_eq!(zero_decimals.parse_amount(&one_more), Err(AmountError::Overflow));
    }

    #[test]
    fn formats_without_trailing_zeros() {
        let usdt = usdt();
        let fmt = |s: &str| usdt.format_amount(&usdt.parse_amount(s).unwrap());
        assert_eq!(fmt("12.50"), "12.5");
        assert_eq!(fmt("12.000000"), "12");
        assert_eq!(fmt("0.000001"), "0.000001");
        assert_eq!(fmt("0"), "0");
        assert_eq!(fmt("1000000"), "1000000");
    }

    #[test]
    fn arithmetic_refuses_to_mix_assets() {
        let a = usdt().parse_amount("1").unwrap();
        let b = eth().parse_amount("1").unwrap();
        assert!(matches!(a.checked_add(&b), Err(MoneyError::AssetMismatch(..))));
        assert!(matches!(a.compare(&b), Err(MoneyError::AssetMismatch(..))));
        assert_eq!(a.checked_sub(&a.checked_add(&a).unwrap()), Err(MoneyError::Underflow));
        assert_eq!(a.checked_add(&a).unwrap().units(), U256::from(2_000_000u64));
    }

    #[test]
    fn symbols_are_case_insensitive_and_bounded() {
        assert_eq!("usdt".parse::<AssetSymbol>().unwrap(), "USDT".parse().unwrap());
        assert_eq!("usdt".parse::<AssetSymbol>().unwrap().as_str(), "USDT");
        assert!("".parse::<AssetSymbol>().is_err());
        assert!("US-DT".parse::<AssetSymbol>().is_err());
        assert!("ABCDEFGHIJKLM".parse::<AssetSymbol>().is_err());
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(units in any::<[u64; 4]>(), decimals in 0u8..=MAX_DECIMALS) {
            let units = U256::from_limbs(units);
            let asset = Asset { decimals, ..usdt() };
            let text = format_units(units, decimals);
            prop_assert_eq!(asset.parse_amount(&text).unwrap().units(), units);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,200}") {
            let _ = usdt().parse_amount(&text);
        }
    }
}
