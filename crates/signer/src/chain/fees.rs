//! What to pay for gas (EIP-1559), and how much more a replacement pays.

/// A fee offer per unit of gas, in wei of the chain's native coin.
///
/// Invariant kept by every constructor here: the tip is never above the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FeeSuggestion {
    /// The most the sender pays per gas, base fee and tip together.
    pub(crate) max_fee_per_gas: u128,
    /// The most of that which goes to the block's proposer.
    pub(crate) max_priority_fee_per_gas: u128,
}

impl FeeSuggestion {
    /// An offer from the latest base fee and a tip: twice the base fee plus
    /// the tip. The base fee can rise by at most 12.5% a block, so twice it
    /// stays enough through six full blocks in a row; what is not needed is
    /// not charged (the sender pays the base fee of its block plus the tip).
    pub(crate) fn from_base_fee(base_fee: u128, tip: u128) -> Self {
        let max_fee_per_gas = base_fee.saturating_mul(2).saturating_add(tip);
        Self { max_fee_per_gas, max_priority_fee_per_gas: tip.min(max_fee_per_gas) }
    }

    /// The higher of each field: a replacement must outbid the transaction
    /// it replaces and still pay what the market asks now.
    pub(crate) fn at_least(self, other: FeeSuggestion) -> Self {
        Self {
            max_fee_per_gas: self.max_fee_per_gas.max(other.max_fee_per_gas),
            max_priority_fee_per_gas: self.max_priority_fee_per_gas.max(other.max_priority_fee_per_gas),
        }
    }
}

/// The fees of a replacement: both fields +12.5%, rounded up, and at least
/// +1 wei. Geth (and reth) replace a pooled transaction only for +10% on
/// both the cap and the tip; anvil for any higher cap. 12.5% clears either
/// with room for the pools' integer rounding.
pub(crate) fn bumped(fees: FeeSuggestion) -> FeeSuggestion {
    // x ↦ x + ⌈x/8⌉ (at least 1) is monotone, so the tip stays under the cap.
    let bump = |wei: u128| wei.saturating_add(wei.div_ceil(8).max(1));
    FeeSuggestion {
        max_fee_per_gas: bump(fees.max_fee_per_gas),
        max_priority_fee_per_gas: bump(fees.max_priority_fee_per_gas),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fees(max: u128, tip: u128) -> FeeSuggestion {
        FeeSuggestion { max_fee_per_gas: max, max_priority_fee_per_gas: tip }
    }

    #[test]
    fn an_offer_is_twice_the_base_fee_plus_the_tip() {
        assert_eq!(FeeSuggestion::from_base_fee(7, 3), fees(17, 3));
        assert_eq!(FeeSuggestion::from_base_fee(0, 0), fees(0, 0));
        assert_eq!(FeeSuggestion::from_base_fee(u128::MAX, 1), fees(u128::MAX, 1));
    }

    #[test]
    fn a_bump_is_an_eighth_rounded_up_and_at_least_one_wei() {
        assert_eq!(bumped(fees(0, 0)), fees(1, 1));
        assert_eq!(bumped(fees(8, 1)), fees(9, 2));
        assert_eq!(bumped(fees(9, 16)), fees(11, 18));
        assert_eq!(bumped(fees(2_000_000_000, 1_000_000_000)), fees(2_250_000_000, 1_125_000_000));
        assert_eq!(bumped(fees(u128::MAX, u128::MAX)), fees(u128::MAX, u128::MAX));
    }

    #[test]
    fn a_bump_clears_geths_ten_percent_rule_and_keeps_the_tip_under_the_cap() {
        // geth's legacypool: the replacement must be strictly higher, and at
        // least old × 110 / 100 (integer division), on both fields.
        let geth_accepts = |old: u128, new: u128| new > old && new >= old * 110 / 100;
        for old in (0..5_000u128).chain([999_999_999, 1_000_000_007, 30_000_000_001]) {
            let new = bumped(fees(old, old / 3));
            assert!(geth_accepts(old, new.max_fee_per_gas), "cap {old} -> {}", new.max_fee_per_gas);
            assert!(
                geth_accepts(old / 3, new.max_priority_fee_per_gas),
                "tip {} -> {}",
                old / 3,
                new.max_priority_fee_per_gas
            );
            assert!(new.max_priority_fee_per_gas <= new.max_fee_per_gas, "{new:?}");
        }
    }

    #[test]
    fn at_least_takes_the_higher_of_each_field() {
        assert_eq!(fees(10, 2).at_least(fees(8, 5)), fees(10, 5));
        assert_eq!(fees(10, 2).at_least(fees(12, 1)), fees(12, 2));
    }
}
