//! On random graphs with cycles, dust, caps and both rules, both ways:
//! every unit that left the start ends somewhere (a terminal, or counted
//! as dust), and no edge carries more than its transfer.

use alloy_primitives::{Address, B256, U256};
use coffer_domain::Timestamp;
use proptest::prelude::*;

use crate::{Asset, Direction, MemorySource, NoLabels, Params, Rule, Start, Transfer, TransferId, trace};

fn graph() -> impl Strategy<Value = Vec<Transfer>> {
    prop::collection::vec((0u64..30, 0u8..6, 0u8..6, 0u64..500), 1..60).prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (time, from, to, amount))| Transfer {
                id: TransferId { tx: B256::with_last_byte(i as u8), index: i as u64 },
                block: time,
                seq: i as u64,
                time: Timestamp::from_unix_secs(1_700_000_000 + time),
                from: Address::repeat_byte(from),
                to: Address::repeat_byte(to),
                asset: Asset::Native,
                amount: U256::from(amount),
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn terminals_plus_dust_equal_what_left_the_start(
        transfers in graph(),
        dust in 0u64..60,
        depth in 1u32..6,
        max_addresses in 1usize..8,
        proportional in any::<bool>(),
        backward in any::<bool>(),
    ) {
        let start = Address::repeat_byte(0);
        let direction = if backward { Direction::Backward } else { Direction::Forward };
        let leaving = |t: &&Transfer| t.from != t.to && if backward { t.to == start } else { t.from == start };
        let started = transfers.iter().filter(leaving).fold(U256::ZERO, |sum, t| sum + t.amount);
        let params = Params {
            direction,
            max_depth: depth,
            dust: U256::from(dust),
            token_dust: U256::ZERO,
            rule: if proportional { Rule::Proportional } else { Rule::Fifo },
            max_addresses,
        };
        let mut source = MemorySource::new(transfers.clone(), "random");
        let result = futures_lite(trace(&mut source, &NoLabels, &Start::Addresses(vec![start]), &params));
        let result = result.unwrap();
        let dust_total = result.ignored.dust_amounts.get(&Asset::Native).copied().unwrap_or_default();
        prop_assert_eq!(result.total_at_terminals(Asset::Native) + dust_total, started);
        for edge in &result.edges {
            prop_assert!(edge.traced <= edge.amount && !edge.traced.is_zero());
            prop_assert!(edge.hop <= depth);
        }
        prop_assert!(result.terminals.iter().all(|t| !t.amount.is_zero()));
    }
}

/// The tracer over a memory source never waits: poll it to the end here.
fn futures_lite<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
}
