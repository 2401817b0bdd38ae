//! Reading back: the block stamped just before a time, and the transfers to
//! some addresses in blocks already followed (an invoice the watcher learnt
//! of late, whose payment may already lie behind the tip).

use coffer_domain::{BlockHeader, Timestamp};

use crate::{AddressFilter, ChainError, Follower, Transfer};

/// Block times and the gateway's clock differ (a node's clock, a chain's
/// rules for timestamps, the hosts' clocks): a block is taken to be before a
/// time only if it is stamped this much earlier.
pub const CLOCK_MARGIN: std::time::Duration = std::time::Duration::from_secs(120);

/// Most blocks read back in one segment.
const BACK_SEGMENT: u64 = 1000;

impl Follower {
    /// The highest block at or below `highest` stamped before `time` (block 0
    /// if none is): from the remembered window when it reaches back that
    /// far, else by bisecting the node's headers.
    pub async fn last_block_before(&mut self, time: Timestamp, highest: u64) -> Result<u64, ChainError> {
        let window: Vec<BlockHeader> = self.window().iter().filter(|h| h.number <= highest).copied().collect();
        match window.iter().rev().position(|h| h.time() < time) {
            // The tip itself is before: later blocks, not read yet, may be too.
            Some(0) => self.bisect(time, window[window.len() - 1].number, highest).await,
            Some(from_back) => Ok(window[window.len() - 1 - from_back].number),
            None => {
                let below = window.first().map_or(highest, |front| front.number);
                self.bisect(time, 0, below).await
            }
        }
    }

    /// The highest block in `[low, high]` stamped before `time`, or `low`.
    async fn bisect(&mut self, time: Timestamp, mut low: u64, mut high: u64) -> Result<u64, ChainError> {
        let stamped = |header: Option<BlockHeader>, number: u64| header.ok_or(ChainError::MissingBlock(number));
        if stamped(self.node().header(high).await?, high)?.time() < time {
            return Ok(high);
        }
        // Invariant: `high` is not before `time`; `low` is, or is the floor.
        while high > low + 1 {
            let middle = low + (high - low) / 2;
            if stamped(self.node().header(middle).await?, middle)?.time() < time {
                low = middle;
            } else {
                high = middle;
            }
        }
        Ok(low)
    }

    /// Every transfer to an address `filter` watches in the blocks after
    /// `after` up to the tip, read as any segment is read (headers chained,
    /// logs checked against them, blooms asked about). Every header read
    /// must be the one the follower remembers at its height, and the last
    /// the tip: otherwise the chain moved ([`ChainError::Moved`]), and the
    /// caller asks again after its next update.
    pub async fn rescan(&mut self, filter: &dyn AddressFilter, after: u64) -> Result<Vec<Transfer>, ChainError> {
        let Some(tip) = self.tip() else { return Ok(Vec::new()) };
        if after >= tip.number {
            return Ok(Vec::new());
        }
        let mut from = match self.window().iter().find(|h| h.number == after).copied() {
            Some(header) => header,
            None => self.node().header(after).await?.ok_or(ChainError::MissingBlock(after))?,
        };
        let mut found = Vec::new();
        while from.number < tip.number {
            let last = tip.number.min(from.number.saturating_add(BACK_SEGMENT.min(self.log_span.blocks().max(1))));
            let Some((headers, transfers)) = self.segment(from, last, filter).await? else {
                return Err(ChainError::Moved(format!("block {} is no longer where it was", from.number)));
            };
            for header in &headers {
                let remembered = self.window().iter().find(|h| h.number == header.number);
                if remembered.is_some_and(|h| h.hash != header.hash) {
                    return Err(ChainError::Moved(format!("block {} changed while reading back", header.number)));
                }
            }
            found.extend(transfers);
            from = *headers.last().ok_or(ChainError::MissingBlock(last))?;
        }
        if from.hash != tip.hash {
            return Err(ChainError::Moved(format!("the tip {} changed while reading back", tip.number)));
        }
        Ok(found)
    }
}
