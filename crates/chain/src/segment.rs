//! Reading a segment of blocks from the node: what it says, not yet
//! checked (the follower checks it, see `follow.rs`).

use std::collections::VecDeque;

use alloy_rpc_types_eth::{Filter, Log};
use serde::de::IgnoredAny;

use crate::ChainError;
use crate::node::{Requests, RpcBlock, RpcTransaction};
use crate::task::Task;

/// Blocks per batch request: small enough for nodes that cap batches.
const BLOCK_BATCH: usize = 100;
/// Header batches in flight at once, beside the logs query. A node serves
/// them on several cores, and we parse the answers on several; a range read
/// one batch after another took twice as long (10,000 headers from anvil:
/// 175 ms one at a time, 85 ms two at a time). Whole blocks (read for
/// native transfers) are large: those go one batch at a time.
pub(crate) const READS_IN_FLIGHT: usize = 4;

/// A block as read: its header fields, and its transactions if they were asked for.
pub(crate) type ReadBlock = (RpcBlock, Option<Vec<RpcTransaction>>);

/// The blocks after `from` up to `last` in order, and the logs `logs` selects over them.
#[derive(Debug, Default)]
pub(crate) struct RawSegment {
    pub(crate) blocks: Vec<ReadBlock>,
    pub(crate) logs: Vec<Log>,
}

/// What to read.
#[derive(Clone, Debug)]
pub(crate) struct SegmentRead {
    /// The blocks after this height…
    pub(crate) from: u64,
    /// …up to this one.
    pub(crate) last: u64,
    /// The logs query over them, if any token is watched.
    pub(crate) logs: Option<Filter>,
    /// Most blocks one logs query spans: the range is queried in pieces.
    pub(crate) log_span: u64,
    /// Whole blocks (for native transfers), else headers only.
    pub(crate) full: bool,
    /// Header batches at once (whole blocks always go one at a time).
    pub(crate) in_flight: usize,
}

/// Starts reading on its own task: the batches `in_flight` at a time, the
/// logs beside them.
pub(crate) fn fetch(requests: Requests, read: SegmentRead) -> Task<RawSegment> {
    Task::spawn(async move {
        let SegmentRead { from, last, logs, log_span, full, in_flight } = read;
        if last <= from {
            return Ok(RawSegment::default());
        }
        let logs = logs.map(|query| {
            let requests = requests.clone();
            Task::spawn(async move {
                // One piece after another: a provider that caps a query caps
                // what it serves at once too.
                let mut logs = Vec::new();
                let span = log_span.max(1);
                let mut start = from + 1;
                while start <= last {
                    let end = last.min(start.saturating_add(span - 1));
                    logs.extend(requests.logs(&query.clone().from_block(start).to_block(end)).await?);
                    start = end + 1;
                }
                Ok(logs)
            })
        });
        let in_flight = if full { 1 } else { in_flight.max(1) };
        let mut unread =
            (from + 1..=last).step_by(BLOCK_BATCH).map(move |start| start..=last.min(start + BLOCK_BATCH as u64 - 1));
        let mut reads = VecDeque::with_capacity(in_flight);
        let mut blocks = Vec::with_capacity((last - from) as usize);
        loop {
            while reads.len() < in_flight
                && let Some(numbers) = unread.next()
            {
                reads.push_back(Task::spawn(read_blocks(requests.clone(), numbers.collect(), full)));
            }
            let Some(read) = reads.pop_front() else { break };
            blocks.extend(read.await?);
        }
        let logs = match logs {
            Some(read) => read.await?,
            None => Vec::new(),
        };
        Ok(RawSegment { blocks, logs })
    })
}

/// Blocks at `numbers`, with their transactions if `full`.
async fn read_blocks(requests: Requests, numbers: Vec<u64>, full: bool) -> Result<Vec<ReadBlock>, ChainError> {
    if full {
        let blocks = requests.blocks::<RpcTransaction>(&numbers).await?;
        Ok(blocks
            .into_iter()
            .map(|block| {
                let (header, transactions) = block.split();
                (header, Some(transactions))
            })
            .collect())
    } else {
        let headers = requests.blocks::<IgnoredAny>(&numbers).await?;
        Ok(headers.into_iter().map(|header| (header, None)).collect())
    }
}
