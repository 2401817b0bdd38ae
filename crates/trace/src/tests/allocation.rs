use alloy_primitives::{Address, B256, U256};
use coffer_domain::Timestamp;
use proptest::prelude::*;

use crate::{Asset, Rule, Transfer, TransferId, allocate};

const OWNER: Address = Address::repeat_byte(0x0a);

fn t(n: u64, from: Address, to: Address, asset: Asset, amount: u64) -> Transfer {
    Transfer {
        id: TransferId { tx: B256::with_last_byte(n as u8), index: n },
        block: n,
        seq: 0,
        time: Timestamp::from_unix_secs(1_700_000_000 + n),
        from,
        to,
        asset,
        amount: U256::from(amount),
    }
}

fn links(history: &[Transfer], rule: Rule) -> Vec<(usize, usize, u64)> {
    allocate(history, OWNER, rule).iter().map(|l| (l.inflow, l.outflow, l.amount.to::<u64>())).collect()
}

#[test]
fn fifo_pays_from_the_oldest_receipt_first_and_never_beyond_the_balance() {
    let (a, b, c) = (Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3));
    // In order of time, not of the slice: the slice is shuffled on purpose.
    let history = vec![
        t(3, OWNER, c, Asset::Native, 70),
        t(1, a, OWNER, Asset::Native, 50),
        t(2, b, OWNER, Asset::Native, 30),
        t(4, OWNER, c, Asset::Native, 40),
    ];
    // 70 = 50 of a + 20 of b; then 40 finds only b's 10 left.
    assert_eq!(links(&history, Rule::Fifo), vec![(1, 0, 50), (2, 0, 20), (2, 3, 10)]);
}

#[test]
fn proportional_pays_from_every_lot_and_adds_up_exactly() {
    let (a, b, c) = (Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3));
    let history =
        vec![t(1, a, OWNER, Asset::Native, 2), t(2, b, OWNER, Asset::Native, 1), t(3, OWNER, c, Asset::Native, 2)];
    // 2 × 2/3 = 1.33 → 1, 2 × 1/3 = 0.67 → 0; the unit left goes to the largest lot.
    assert_eq!(links(&history, Rule::Proportional), vec![(0, 2, 2)]);
    let history =
        vec![t(1, a, OWNER, Asset::Native, 60), t(2, b, OWNER, Asset::Native, 40), t(3, OWNER, c, Asset::Native, 50)];
    assert_eq!(links(&history, Rule::Proportional), vec![(0, 2, 30), (1, 2, 20)]);
}

#[test]
fn assets_are_separate_lots_and_self_transfers_move_nothing() {
    let token = Asset::Token(Address::repeat_byte(0x77));
    let a = Address::repeat_byte(1);
    let history = vec![
        t(1, a, OWNER, token, 100),
        t(2, OWNER, OWNER, Asset::Native, 5),
        t(3, OWNER, a, Asset::Native, 10),
        t(4, OWNER, a, token, 60),
    ];
    assert_eq!(links(&history, Rule::Fifo), vec![(0, 3, 60)], "no ether arrived, so none is explained");
}

fn history_strategy() -> impl Strategy<Value = Vec<Transfer>> {
    prop::collection::vec((any::<bool>(), 1u64..1_000, 0u8..3, 0u8..2), 1..40).prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (incoming, amount, other, asset))| {
                let other = Address::repeat_byte(other + 1);
                let asset = if asset == 0 { Asset::Native } else { Asset::Token(Address::repeat_byte(0x77)) };
                let (from, to) = if incoming { (other, OWNER) } else { (OWNER, other) };
                t(i as u64, from, to, asset, amount)
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn links_never_exceed_their_transfers_and_proportional_draws_what_fifo_draws(history in history_strategy()) {
        let mut drawn = std::collections::BTreeMap::new();
        for rule in [Rule::Fifo, Rule::Proportional] {
            let links = allocate(&history, OWNER, rule);
            let mut out = vec![U256::ZERO; history.len()];
            let mut inn = vec![U256::ZERO; history.len()];
            for l in &links {
                prop_assert_eq!(history[l.inflow].asset, history[l.outflow].asset);
                prop_assert!(history[l.inflow].to == OWNER && history[l.outflow].from == OWNER);
                prop_assert!(history[l.inflow].order() < history[l.outflow].order(), "funded by a later receipt");
                out[l.outflow] += l.amount;
                inn[l.inflow] += l.amount;
            }
            for (i, t) in history.iter().enumerate() {
                prop_assert!(out[i] <= t.amount && inn[i] <= t.amount);
            }
            drawn.insert(rule.as_str(), out);
        }
        // Both rules draw the same amount per payment (the balance bounds it); only the mix differs.
        prop_assert_eq!(&drawn["fifo"], &drawn["proportional"]);
    }
}
