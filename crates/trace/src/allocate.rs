//! Which of an address's receipts paid for each of its payments: the rule
//! that turns "money arrived, money left" into "this money went there".
//!
//! Per asset, in time order, receipts form lots and payments draw on them:
//! - **FIFO**: a payment draws on the oldest lots first (the rule courts
//!   and most tracing tools use: money leaves in the order it came).
//! - **Proportional**: a payment draws on every lot present in proportion
//!   to what is left of it (a "haircut": each payment is a mix of all the
//!   address held). Integer shares, rounded down; the units left over go to
//!   the largest lot, so the parts always add up to what was drawn.
//!
//! A payment larger than the lots present is drawn only as far as they go:
//! the rest came from before the range read, and is nobody's here.

use alloy_primitives::{Address, U256};
use serde::{Deserialize, Serialize};

use crate::Transfer;

/// How a payment is matched to the receipts that funded it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// First in, first out.
    #[default]
    Fifo,
    /// Every lot in proportion to its size.
    Proportional,
}

impl Rule {
    /// As the command line and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fifo => "fifo",
            Self::Proportional => "proportional",
        }
    }

    /// [`Rule::as_str`]'s text back.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Fifo, Self::Proportional].into_iter().find(|r| r.as_str() == text)
    }
}

/// Part of receipt `inflow` that paid for payment `outflow` (indexes into
/// the history given to [`allocate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// The receipt.
    pub inflow: usize,
    /// The payment.
    pub outflow: usize,
    /// How much of it, in base units of their asset.
    pub amount: U256,
}

/// The links of `owner`'s history (its receipts and payments, any order,
/// any assets). Transfers from `owner` to itself move nothing.
pub fn allocate(history: &[Transfer], owner: Address, rule: Rule) -> Vec<Link> {
    let mut order: Vec<usize> = (0..history.len()).collect();
    order.sort_by_key(|&i| history[i].order());
    let mut lots: Vec<(crate::Asset, Vec<(usize, U256)>)> = Vec::new();
    let mut links = Vec::new();
    for i in order {
        let t = &history[i];
        if t.from == t.to || t.amount.is_zero() {
            continue;
        }
        let position = match lots.iter().position(|(asset, _)| *asset == t.asset) {
            Some(p) => p,
            None => {
                lots.push((t.asset, Vec::new()));
                lots.len() - 1
            }
        };
        let queue = &mut lots[position].1;
        if t.to == owner {
            queue.push((i, t.amount));
        } else if t.from == owner {
            match rule {
                Rule::Fifo => fifo(queue, i, t.amount, &mut links),
                Rule::Proportional => proportional(queue, i, t.amount, &mut links),
            }
            queue.retain(|(_, left)| !left.is_zero());
        }
    }
    links
}

fn fifo(queue: &mut [(usize, U256)], outflow: usize, amount: U256, links: &mut Vec<Link>) {
    let mut due = amount;
    for (inflow, left) in queue.iter_mut() {
        if due.is_zero() {
            break;
        }
        let take = due.min(*left);
        if !take.is_zero() {
            *left -= take;
            due -= take;
            links.push(Link { inflow: *inflow, outflow, amount: take });
        }
    }
}

fn proportional(queue: &mut [(usize, U256)], outflow: usize, amount: U256, links: &mut Vec<Link>) {
    let total = queue.iter().fold(U256::ZERO, |sum, (_, left)| sum.saturating_add(*left));
    if total.is_zero() {
        return;
    }
    let drawn = amount.min(total);
    let mut shares: Vec<U256> = queue.iter().map(|(_, left)| share(drawn, *left, total)).collect();
    let given = shares.iter().fold(U256::ZERO, |sum, s| sum + *s);
    // Rounding down leaves at most one unit per lot; the largest lot with
    // room takes them (it can: every share is at most its lot).
    let mut rest = drawn - given;
    let mut by_size: Vec<usize> = (0..queue.len()).collect();
    by_size.sort_by(|&a, &b| queue[b].1.cmp(&queue[a].1));
    for i in by_size {
        if rest.is_zero() {
            break;
        }
        let room = queue[i].1 - shares[i];
        let more = rest.min(room);
        shares[i] += more;
        rest -= more;
    }
    for ((inflow, left), part) in queue.iter_mut().zip(shares) {
        if !part.is_zero() {
            *left -= part;
            links.push(Link { inflow: *inflow, outflow, amount: part });
        }
    }
}

/// `amount × part / whole`, rounded down, without overflow for any U256
/// (512-bit product).
pub(crate) fn share(amount: U256, part: U256, whole: U256) -> U256 {
    if whole.is_zero() {
        return U256::ZERO;
    }
    if part == whole {
        return amount;
    }
    if let Some(product) = amount.checked_mul(part) {
        return product / whole;
    }
    let product: alloy_primitives::U512 = amount.widening_mul(part);
    let quotient = product / alloy_primitives::U512::from_limbs_slice(whole.as_limbs());
    // At most `amount`, since part < whole: it fits.
    U256::from_limbs_slice(&quotient.as_limbs()[..4])
}
