//! The follower: from the remembered tip to the node's head, one
//! [`ChainUpdate`] at a time (see the crate docs).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use alloy_primitives::{Address, B256, keccak256};
use alloy_rpc_types_eth::Filter;
use coffer_domain::BlockHeader;

use crate::confirm::Served;
use crate::extract::{PartialTransfer, TRANSFER_TOPIC, erc20_transfer, native_transfer};
use crate::limits::LogSpan;
use crate::node::{Node, RpcTransaction};
use crate::providers::Providers;
use crate::segment::{READS_IN_FLIGHT, RawSegment, SegmentRead, fetch};
use crate::task::Task;
use crate::traces::{InternalTransfers, internal_transfers};
use crate::{AddressFilter, ChainError, ChainHealth, ChainSpec, ChainUpdate, Transfer};

/// Refusals for size in a row that one read may meet before it gives up
/// (each one at least halves the span).
const MAX_REFUSALS: usize = 24;

/// A segment as read: its headers, the transfers in it, and every
/// watched-token log the provider returned (for `confirm.rs`).
type ReadSegment = (Vec<BlockHeader>, Vec<Transfer>, Vec<alloy_rpc_types_eth::Log>);

/// Follows one chain. See the crate docs for the protocol.
#[derive(Debug)]
pub struct Follower {
    pub(crate) spec: ChainSpec,
    /// The providers, and which one is read from.
    pub(crate) providers: Providers,
    /// Recent canonical headers, ascending; the last is the tip.
    window: VecDeque<BlockHeader>,
    pub(crate) health: Arc<ChainHealth>,
    /// The watched tokens' `Transfer` logs, as a query.
    pub(crate) token_filter: Filter,
    /// What a bloom must admit for a block to hold a watched transfer:
    /// the `Transfer` topic and the token addresses, hashed once here.
    transfer_bloom: (B256, Vec<B256>),
    /// Header batches read at once: back to one after the node failed to
    /// answer (a provider limiting its rate, say), doubling again with each
    /// segment read whole.
    in_flight: usize,
    /// The next range, being read while the caller persists this one: the
    /// block it starts after (by hash), its last height, and the read.
    prefetched: Option<(B256, u64, Task<RawSegment>)>,
    /// Blocks one `eth_getLogs` may span now (see `limits.rs`).
    pub(crate) log_span: LogSpan,
    /// On a fresh database: the first cursor must be before this time (the
    /// first invoice on the chain, or when the caller looked for one).
    start_before: Option<coffer_domain::Timestamp>,
}

impl Follower {
    /// A follower resuming from `remembered` (what the caller persisted;
    /// empty on a fresh database).
    pub fn new(spec: ChainSpec, remembered: Vec<BlockHeader>, health: Arc<ChainHealth>) -> Self {
        let providers = Providers::new(&spec);
        let tokens: Vec<Address> = spec.tokens.keys().copied().collect();
        let transfer_bloom = (keccak256(TRANSFER_TOPIC), tokens.iter().map(keccak256).collect());
        let token_filter = Filter::new().address(tokens).event_signature(TRANSFER_TOPIC);
        let spec_log_range = spec.log_range;
        health.set_providers(&providers);
        Self {
            spec,
            providers,
            window: remembered.into(),
            health,
            token_filter,
            transfer_bloom,
            in_flight: READS_IN_FLIGHT,
            prefetched: None,
            log_span: LogSpan::new(spec_log_range),
            start_before: None,
        }
    }

    /// On a fresh database (no tip yet): the first cursor is to be a block
    /// stamped before `time` (the first invoice on the chain, or now), so
    /// that no payment to an invoice created while the node could not be
    /// reached is skipped. Without it the first cursor is the head.
    pub fn start_before(&mut self, time: coffer_domain::Timestamp) {
        self.start_before = Some(time);
    }

    /// The provider read from now.
    pub(crate) fn node(&mut self) -> &mut Node {
        &mut self.providers.reader().node
    }

    /// The remembered window of canonical headers, ascending.
    pub(crate) fn window(&self) -> &VecDeque<BlockHeader> {
        &self.window
    }

    /// The last block processed.
    pub fn tip(&self) -> Option<BlockHeader> {
        self.window.back().copied()
    }

    /// Starts over from what the caller has persisted (after another
    /// writer moved the cursor, say).
    pub fn reset(&mut self, remembered: Vec<BlockHeader>) {
        self.window = remembered.into();
        self.prefetched = None;
    }

    /// Records that `update` was persisted: its blocks become the tip.
    pub fn commit(&mut self, update: &ChainUpdate) {
        if let Some(fork) = update.reverted_above {
            while self.window.back().is_some_and(|b| b.number > fork) {
                self.window.pop_back();
            }
        }
        for block in &update.blocks {
            while self.window.back().is_some_and(|b| b.number >= block.number) {
                self.window.pop_back();
            }
            self.window.push_back(*block);
        }
        let keep_from = self.tip().map_or(0, |tip| tip.number.saturating_sub(self.spec.reorg_window));
        while self.window.front().is_some_and(|b| b.number < keep_from) && self.window.len() > 1 {
            self.window.pop_front();
        }
    }

    /// Waits until the chain moved and returns how. `filter` says which
    /// addresses' transfers to report.
    pub async fn next(&mut self, filter: &dyn AddressFilter) -> Result<ChainUpdate, ChainError> {
        loop {
            if let Some(update) = self.next_within(filter, std::time::Duration::MAX).await? {
                return Ok(update);
            }
        }
    }

    /// [`Follower::next`], but `None` once the follower has waited at the
    /// head for `idle` without the chain moving, so that its caller can do
    /// other work between blocks (a read is never cut short for it).
    pub async fn next_within(
        &mut self,
        filter: &dyn AddressFilter,
        idle: std::time::Duration,
    ) -> Result<Option<ChainUpdate>, ChainError> {
        if self.providers.choose() {
            // What was read ahead came from the provider passed over.
            self.prefetched = None;
        }
        let next = self.follow(filter, idle).await;
        self.providers.reader_did(&next);
        self.health.set_providers(&self.providers);
        match next {
            Ok(next) => Ok(next),
            Err(err) => {
                // After a failure, however long it lasts, read afresh: what was read
                // ahead may no longer be what the node holds.
                self.prefetched = None;
                Err(err.said_by(&self.providers.all()[self.providers.reader_index()].name))
            }
        }
    }

    async fn follow(
        &mut self,
        filter: &dyn AddressFilter,
        idle: std::time::Duration,
    ) -> Result<Option<ChainUpdate>, ChainError> {
        let started = std::time::Instant::now();
        if !self.providers.reader().checked {
            let requests = self.node().requests().await?;
            let checked = crate::checks::check(&requests, &self.spec).await;
            self.node().failed(checked)?;
            self.providers.reader().checked = true;
        }
        let Some(tip) = self.tip() else { return self.start().await.map(Some) };
        loop {
            let head = self.node().head_number().await?;
            self.providers.reader_head(head)?;
            let subscribed = self.node().subscribed();
            self.health.saw_head(head, subscribed);
            if head > tip.number {
                return if head - tip.number > self.spec.reorg_window {
                    self.range(tip, head, filter).await.map(Some)
                } else {
                    self.next_blocks(tip, head, filter).await.map(Some)
                };
            }
            // At the head, or the node reports a lower one: is our tip still canonical?
            // (A lagging replica behind a load balancer still has our tip.)
            // Only another hash at a height we processed is a reorganisation.
            // No block at our tip's height means a node (or a load-balanced
            // replica) behind us: wait; a shorter fork shows itself by a
            // different hash at its own head, a longer one by its blocks' parents.
            let height = head.min(tip.number);
            let ours = self.window.iter().rev().find(|b| b.number == height).map(|b| b.hash);
            let theirs = self.node().header(height).await?.map(|h| h.hash);
            if ours.is_some() && theirs.is_some() && ours != theirs {
                return self.reorg(tip, head, filter).await.map(Some);
            }
            self.providers.probe().await?;
            self.health.idle();
            let waited = started.elapsed();
            if waited >= idle {
                return Ok(None);
            }
            let wait = self.spec.poll_interval.min(idle - waited);
            self.node().next_head(wait).await;
        }
    }

    /// The first update on a fresh database: the block before the first
    /// one to scan becomes the tip. That is the block before `start_block`
    /// or the head, and never after the last block stamped before
    /// [`Follower::start_before`] (less a margin for clocks).
    async fn start(&mut self) -> Result<ChainUpdate, ChainError> {
        let head = self.node().head_number().await?;
        let subscribed = self.node().subscribed();
        self.health.saw_head(head, subscribed);
        let first = self.spec.start_block.map_or(head.saturating_add(1), |start| start.min(head.saturating_add(1)));
        let mut cursor = first.saturating_sub(1);
        if let Some(before) = self.start_before {
            cursor = cursor.min(self.last_block_before(before.minus(crate::history::CLOCK_MARGIN), head).await?);
        }
        let header = self.node().header(cursor).await?.ok_or(ChainError::MissingBlock(cursor))?;
        tracing::info!(chain = %self.spec.chain_id, block = cursor, "no cursor yet: following from the next block");
        Ok(ChainUpdate { parent: None, reverted_above: None, blocks: vec![header], transfers: Vec::new() })
    }

    /// Far behind: one `eth_getLogs` over a range that is deeper than the
    /// window below the head, so no reorganisation can touch it. Read as a
    /// segment (headers chained by parent hash, every log checked against
    /// them, blooms asked about blocks the range left unanswered): a
    /// load-balanced replica that has not reached the range's end answers
    /// the logs query only up to its own head, silently, and that must not
    /// hide a payment. Only the last header is kept: nothing this deep can
    /// be reorganised.
    async fn range(
        &mut self,
        tip: BlockHeader,
        head: u64,
        filter: &dyn AddressFilter,
    ) -> Result<ChainUpdate, ChainError> {
        let deepest = head - self.spec.reorg_window;
        let to = match &self.prefetched {
            // The range read ahead, if it starts at our tip and is still deep enough.
            Some((after, last, _)) if *after == tip.hash && *last <= deepest => *last,
            _ => self.range_end(tip.number, deepest),
        };
        match self.segment(tip, to, filter).await? {
            Some((headers, transfers)) => {
                let end = *headers.last().ok_or(ChainError::MissingBlock(to))?;
                // Read the next range while our caller persists this one. It is
                // checked like any other read when it is used, and only if our
                // tip is then the block it starts after.
                let next = self.range_end(end.number, deepest);
                if next > end.number
                    && let Ok(requests) = self.node().requests().await
                {
                    self.prefetched = Some((end.hash, next, fetch(requests, self.segment_read(end.number, next))));
                }
                Ok(ChainUpdate { parent: Some(tip.block_ref()), reverted_above: None, blocks: vec![end], transfers })
            }
            None => self.reorg(tip, head, filter).await,
        }
    }

    /// Where a range after `after` ends: `log_range` blocks on, never
    /// nearer the head than `deepest`. One rule for the range read and the
    /// one read ahead, or the read ahead would never be the range asked for.
    fn range_end(&self, after: u64, deepest: u64) -> u64 {
        after.saturating_add(self.log_span.blocks()).min(deepest)
    }

    /// The transfers to watched addresses among watched tokens' logs.
    fn token_transfers(&self, logs: &[alloy_rpc_types_eth::Log], filter: &dyn AddressFilter) -> Vec<PartialTransfer> {
        logs.iter().filter_map(|log| erc20_transfer(log, *self.spec.tokens.get(&log.address())?, filter)).collect()
    }

    /// Whether a block's bloom admits a Transfer log of a watched token.
    pub(crate) fn may_hold_transfers(&self, bloom: &alloy_primitives::Bloom) -> bool {
        use alloy_primitives::BloomInput;
        let (topic, tokens) = &self.transfer_bloom;
        bloom.contains_input(BloomInput::Hash(*topic))
            && tokens.iter().any(|t| bloom.contains_input(BloomInput::Hash(*t)))
    }

    /// Near the head: the blocks after our tip up to `head` (a window at
    /// most), if the first one's parent is our tip.
    async fn next_blocks(
        &mut self,
        tip: BlockHeader,
        head: u64,
        filter: &dyn AddressFilter,
    ) -> Result<ChainUpdate, ChainError> {
        let last = head.min(tip.number.saturating_add(self.spec.reorg_window.max(1)));
        match self.segment(tip, last, filter).await? {
            Some((blocks, transfers)) => {
                Ok(ChainUpdate { parent: Some(tip.block_ref()), reverted_above: None, blocks, transfers })
            }
            None => self.reorg(tip, head, filter).await,
        }
    }

    /// The canonical blocks after `from` up to `last`, with their transfers:
    /// the blocks in concurrent batch requests (chained by parent hash from
    /// `from`), and beside them the logs over their range (each log's block
    /// hash checked against the block read). `None` if the first block's
    /// parent is not `from`: the chain was reorganised under it.
    pub(crate) async fn segment(
        &mut self,
        from: BlockHeader,
        last: u64,
        filter: &dyn AddressFilter,
    ) -> Result<Option<(Vec<BlockHeader>, Vec<Transfer>)>, ChainError> {
        let read = self.read_segment(from, last, filter).await;
        self.in_flight = match &read {
            Err(ChainError::Unreachable(_)) => 1,
            _ => (self.in_flight * 2).min(READS_IN_FLIGHT),
        };
        let Some((headers, transfers, logs)) = read? else { return Ok(None) };
        self.confirm(Served { from, headers: &headers, transfers: &transfers, logs: &logs }, filter).await?;
        Ok(Some((headers, transfers)))
    }

    /// What reading the blocks after `from` up to `last` takes.
    fn segment_read(&self, from: u64, last: u64) -> SegmentRead {
        let logs = (!self.spec.tokens.is_empty()).then(|| self.token_filter.clone());
        SegmentRead {
            from,
            last,
            logs,
            log_span: self.log_span.blocks(),
            full: self.spec.native.is_some(),
            in_flight: self.in_flight,
        }
    }

    /// The raw read of the blocks after `from` up to `last`: the one started
    /// ahead if it is this one, else a new one; refused for its log span, it
    /// is read again at once with smaller spans.
    async fn raw_segment(&mut self, from: BlockHeader, last: u64) -> Result<RawSegment, ChainError> {
        // A read ahead of another range is dropped (and so aborted); one that
        // failed is read again now: the node may be back.
        if let Some((after, until, read)) = self.prefetched.take()
            && after == from.hash
            && until == last
            && let Ok(raw) = read.await
        {
            self.log_span.went_through();
            return Ok(raw);
        }
        for _ in 0..MAX_REFUSALS {
            let asked = self.log_span.blocks();
            let read = fetch(self.node().requests().await?, self.segment_read(from.number, last));
            match self.node().failed(read.await) {
                Ok(raw) => {
                    self.log_span.went_through();
                    return Ok(raw);
                }
                Err(ChainError::LogLimit { message, suggested }) => {
                    if !self.log_span.refused(asked, suggested) {
                        return Err(ChainError::Node(format!("eth_getLogs refused even for one block: {message}")));
                    }
                    tracing::info!(
                        chain = %self.spec.chain_id, refused = asked, now = self.log_span.blocks(), message,
                        "the node refused a log range for its size; reading smaller ranges"
                    );
                }
                Err(err) => return Err(err),
            }
        }
        Err(ChainError::Node(format!("eth_getLogs refused {MAX_REFUSALS} times in a row for its size")))
    }

    /// [`Follower::segment`]: the read (the one started ahead, if it is this
    /// one), then every check.
    async fn read_segment(
        &mut self,
        from: BlockHeader,
        last: u64,
        filter: &dyn AddressFilter,
    ) -> Result<Option<ReadSegment>, ChainError> {
        if last <= from.number {
            return Ok(Some((Vec::new(), Vec::new(), Vec::new())));
        }
        let raw = self.raw_segment(from, last).await?;
        // Everything added to the filter before now is matched against this read.
        filter.refresh().await.map_err(ChainError::Filter)?;
        let RawSegment { blocks, mut logs } = raw;
        let mut headers = Vec::with_capacity(blocks.len());
        let mut blooms = Vec::with_capacity(blocks.len());
        let mut partial = Vec::new();
        for (block, transactions) in blocks {
            let header = BlockHeader::from(&block);
            let parent = headers.last().copied().unwrap_or(from);
            if header.parent_hash != parent.hash {
                if headers.is_empty() {
                    return Ok(None);
                }
                return Err(ChainError::Moved(format!(
                    "block {} does not follow block {}",
                    header.number, parent.number
                )));
            }
            if let Some(asset) = self.spec.native {
                // Never read as "no transactions": that would hide ETH payments.
                let Some(transactions) = transactions else {
                    return Err(ChainError::Config(format!(
                        "block {} was read without its transactions",
                        header.number
                    )));
                };
                partial.extend(self.native_of(&transactions, &header, asset, filter).await?);
            }
            headers.push(header);
            blooms.push(block.logs_bloom);
        }
        let hashes: HashMap<u64, B256> = headers.iter().map(|h| (h.number, h.hash)).collect();
        // Every log is checked, not only those paying us: a log from another
        // fork at one of these heights (a load-balanced node answering from
        // another replica) would otherwise count the block as answered, and
        // the block we read, which may pay us, would go unasked.
        let mut answered = HashSet::new();
        for log in &logs {
            let (Some(number), Some(hash)) = (log.block_number, log.block_hash) else { continue };
            if hashes.get(&number) != Some(&hash) {
                return Err(ChainError::Moved(format!("a log of block {number} is from another block")));
            }
            answered.insert(number);
        }
        partial.extend(self.token_transfers(&logs, filter));
        if let Some(asset) = self.spec.native
            && self.spec.internal_transfers != InternalTransfers::Off
        {
            let requests = self.node().requests().await?;
            let found = internal_transfers(&requests, self.spec.internal_transfers, &headers, asset, filter).await;
            partial.extend(self.node().failed(found)?);
        }
        // A range query answered by a node (or replica) that has not indexed a
        // block's logs yet returns nothing for it, silently. Where the block's
        // bloom says it may hold a watched token's Transfer and the range gave
        // none, ask by block hash: that answer is for exactly this block.
        for (header, bloom) in headers.iter().zip(&blooms) {
            if !answered.contains(&header.number) && bloom.is_some_and(|b| self.may_hold_transfers(&b)) {
                let query = self.token_filter.clone().at_block_hash(header.hash);
                let by_hash = self.node().logs(&query).await?;
                partial.extend(self.token_transfers(&by_hash, filter));
                logs.extend(by_hash);
            }
        }
        let times: HashMap<B256, u64> = headers.iter().map(|h| (h.hash, h.timestamp)).collect();
        let mut transfers: Vec<Transfer> = partial
            .into_iter()
            .map(|t| {
                let time = times.get(&t.block.hash).copied().unwrap_or_default();
                t.complete(time)
            })
            .collect();
        transfers.sort_by_key(|t| t.block.number); // stable: within a block, native then logs in order
        Ok(Some((headers, transfers, logs)))
    }

    /// Native transfers to watched addresses in `block` that succeeded.
    async fn native_of(
        &mut self,
        transactions: &[RpcTransaction],
        header: &BlockHeader,
        asset: coffer_domain::AssetId,
        filter: &dyn AddressFilter,
    ) -> Result<Vec<PartialTransfer>, ChainError> {
        let mut found = Vec::new();
        for tx in transactions {
            let Some(transfer) = native_transfer(tx, asset, header, filter) else { continue };
            // A reverted transaction moved no value. Only matches are checked: few.
            match self.node().receipt(tx.hash).await? {
                Some((succeeded, in_block)) if in_block == header.hash => {
                    if succeeded {
                        found.push(transfer);
                    }
                }
                // No receipt yet (a replica behind), or one from another block:
                // never skip a payment on a doubt; read the block again later.
                _ => {
                    return Err(ChainError::Moved(format!("no receipt of {} in block {} yet", tx.hash, header.number)));
                }
            }
        }
        Ok(found)
    }

    /// The tip is no longer canonical: find the newest remembered block that
    /// still is, and read the new canonical blocks above it (at most a window).
    async fn reorg(
        &mut self,
        tip: BlockHeader,
        head: u64,
        filter: &dyn AddressFilter,
    ) -> Result<ChainUpdate, ChainError> {
        // Heights above the node's head cannot be compared: the fork is at or below it.
        let remembered: Vec<BlockHeader> = self.window.iter().rev().filter(|b| b.number <= head).copied().collect();
        if remembered.is_empty() {
            return Err(ChainError::Moved(format!(
                "the node's head {head} is below every block we remember (behind?)"
            )));
        }
        let mut fork = None;
        for block in remembered {
            match self.node().header(block.number).await? {
                Some(h) if h.hash == block.hash => {
                    fork = Some(block);
                    break;
                }
                Some(_) => {} // replaced: the fork is lower
                // A node without a block we processed is behind, not reorganised:
                // orphaning on its word could un-see settled payments.
                None => return Err(ChainError::Moved(format!("the node has no block {} (behind?)", block.number))),
            }
        }
        let Some(fork) = fork else {
            let oldest = self.window.front().map_or(tip.number, |b| b.number);
            return Err(ChainError::DeepReorg { window: self.spec.reorg_window, oldest });
        };
        let last = head.min(fork.number.saturating_add(self.spec.reorg_window));
        let (mut blocks, transfers) = match self.segment(fork, last, filter).await? {
            Some(segment) => segment,
            None => return Err(ChainError::Moved(format!("block {} changed while reading after it", fork.number))),
        };
        let new_tip = blocks.last().map_or(fork.number, |b| b.number);
        if blocks.is_empty() {
            blocks.push(fork);
        }
        tracing::warn!(
            chain = %self.spec.chain_id,
            fork = fork.number,
            old_tip = tip.number,
            new_tip,
            "chain reorganisation: blocks above the fork are no longer canonical"
        );
        Ok(ChainUpdate { parent: Some(tip.block_ref()), reverted_above: Some(fork.number), blocks, transfers })
    }
}
