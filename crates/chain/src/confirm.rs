//! Never on one provider's word: with two providers or more, a segment the
//! reader served is reported only once another provider agrees with it.
//!
//! The other provider must hold the segment's last block under the same
//! hash (the hash chains every block of the segment, so it holds all of
//! them, and the same ones); must return the same watched-token `Transfer`
//! logs over the range; must return, read by block hash, the logs of every
//! block that pays us; and must know every native payment as the same
//! transaction in the same block, succeeded. A provider that does not have
//! the blocks yet (behind, or a replica whose index lags) has not agreed:
//! an empty answer is never "no payment" nor "no lie". Providers are asked
//! in order until one agrees; those that disagreed before it are outvoted
//! and passed over. If none agrees, nothing is reported (the watcher
//! retries): two providers catch a lie and stall on it; three outvote it.
//!
//! What a second provider cannot catch here: a native payment the reader
//! hides (its block's transactions are not compared, only the ones that pay
//! us): a payment late or missed, never one credited that was not made.

use std::collections::{HashMap, HashSet};

use alloy_primitives::{B256, Bytes};
use alloy_rpc_types_eth::Log;
use coffer_domain::BlockHeader;

use crate::follow::Follower;
use crate::limits::LogSpan;
use crate::traces::{InternalTransfers, internal_transfers};
use crate::{AddressFilter, ChainError, Transfer};

/// A log as two providers must agree on it.
type LogKey = (B256, u64, B256, alloy_primitives::Address, Vec<B256>, Bytes);

fn key(log: &Log) -> Option<LogKey> {
    Some((
        log.block_hash?,
        log.log_index?,
        log.transaction_hash?,
        log.address(),
        log.topics().to_vec(),
        log.data().data.clone(),
    ))
}

/// What another provider made of a segment.
enum Verdict {
    Agrees,
    /// It does not have (all of) it yet: no verdict.
    Behind(String),
    Differs(String),
}

/// The segment as the reader served it.
pub(crate) struct Served<'a> {
    pub(crate) from: BlockHeader,
    pub(crate) headers: &'a [BlockHeader],
    pub(crate) transfers: &'a [Transfer],
    /// Every watched-token log it returned (by range and by block hash).
    pub(crate) logs: &'a [Log],
}

impl Follower {
    /// Confirms `served` with the other providers (see the module docs);
    /// `Ok` at once with one provider.
    pub(crate) async fn confirm(&mut self, served: Served<'_>, filter: &dyn AddressFilter) -> Result<(), ChainError> {
        if !self.providers.several() || served.headers.is_empty() {
            return Ok(());
        }
        let reader = self.providers.reader_index();
        let mut others: Vec<usize> = (0..self.providers.all().len()).filter(|i| *i != reader).collect();
        // Those not passed over first; the rest may still hold these blocks.
        others.sort_by_key(|i| self.providers.all()[*i].demoted().is_some());
        let mut against = Vec::new();
        let mut unheard = Vec::new();
        for index in others {
            let name = self.providers.all()[index].name.clone();
            match self.verdict(index, &served, filter).await {
                Ok(Verdict::Agrees) => {
                    for (outvoted, why) in against {
                        self.providers.disagreed(outvoted);
                        self.providers.demote(outvoted, format!("outvoted: {why}"));
                    }
                    self.health.confirmed_by(&name);
                    return Ok(());
                }
                Ok(Verdict::Behind(why)) => unheard.push(format!("{name} {why}")),
                Ok(Verdict::Differs(why)) => against.push((index, format!("{name}: {why}"))),
                Err(err) => {
                    if matches!(err, ChainError::Unreachable(_)) {
                        self.providers.demote(index, format!("unreachable: {err}"));
                    }
                    unheard.push(format!("{name}: {err}"));
                }
            }
        }
        let last = served.headers.last().map_or(0, |h| h.number);
        let reader_name = self.providers.all()[reader].name.clone();
        if against.is_empty() {
            return Err(ChainError::Unconfirmed(format!(
                "no other provider confirms blocks up to {last} from {reader_name} yet ({})",
                unheard.join("; ")
            )));
        }
        self.providers.disagreed(reader);
        let said: Vec<String> = against.iter().map(|(_, why)| why.clone()).collect();
        if against.len() >= 2 {
            self.providers.demote(reader, format!("outvoted on blocks up to {last}"));
        }
        tracing::error!(
            reader = reader_name, last, disagree = ?said,
            "providers disagree about the chain: nothing is reported until one agrees"
        );
        Err(ChainError::Disagreement(format!("on blocks up to {last} from {reader_name}: {}", said.join("; "))))
    }

    /// What provider `index` makes of `served`.
    async fn verdict(
        &mut self,
        index: usize,
        served: &Served<'_>,
        filter: &dyn AddressFilter,
    ) -> Result<Verdict, ChainError> {
        let Some(last) = served.headers.last().copied() else { return Ok(Verdict::Agrees) };
        if !self.providers.get(index).checked {
            let requests = self.providers.get(index).node.requests().await?;
            crate::checks::check(&requests, &self.spec).await?;
            self.providers.get(index).checked = true;
        }
        let node = &mut self.providers.get(index).node;
        match node.header(last.number).await? {
            None => return Ok(Verdict::Behind(format!("has no block {} yet", last.number))),
            Some(theirs) if theirs.hash != last.hash => {
                return Ok(Verdict::Differs(format!(
                    "block {} is {} there, {} here",
                    last.number, theirs.hash, last.hash
                )));
            }
            Some(_) => {}
        }
        if !self.spec.tokens.is_empty()
            && let Some(verdict) = self.compare_logs(index, served).await?
        {
            return Ok(verdict);
        }
        self.compare_native(index, served, filter).await
    }

    /// The watched tokens' logs over the range, and by block hash for each
    /// block that pays us; `None` if they agree.
    async fn compare_logs(&mut self, index: usize, served: &Served<'_>) -> Result<Option<Verdict>, ChainError> {
        let ours: HashSet<LogKey> = served.logs.iter().filter_map(key).collect();
        let hashes: HashSet<B256> = served.headers.iter().map(|h| h.hash).collect();
        let last = served.headers.last().map_or(served.from.number, |h| h.number);
        let logs = self.logs_over(index, served.from.number + 1, last).await?;
        let mut theirs = HashSet::new();
        for log in &logs {
            let Some(k) = key(log) else { continue };
            if log.removed {
                continue;
            }
            if !hashes.contains(&k.0) {
                return Ok(Some(Verdict::Behind("answered logs from another fork (a replica behind?)".into())));
            }
            if !ours.contains(&k) {
                return Ok(Some(Verdict::Differs(format!(
                    "a Transfer log in transaction {} (block {}) that the reader did not return",
                    k.2,
                    log.block_number.unwrap_or_default()
                ))));
            }
            theirs.insert(k);
        }
        // The blocks that pay us, by hash: that answer is for exactly that
        // block. So is one for a block the range left out (an index behind).
        let mut asked: Vec<B256> =
            served.transfers.iter().filter(|t| t.log_index.is_some()).map(|t| t.block.hash).collect();
        asked.extend(ours.difference(&theirs).map(|k| k.0));
        asked.sort_unstable();
        asked.dedup();
        let query = self.token_filter.clone();
        for hash in asked {
            let by_hash = self.providers.get(index).node.logs(&query.clone().at_block_hash(hash)).await?;
            let found: HashSet<LogKey> = by_hash.iter().filter(|l| !l.removed).filter_map(key).collect();
            let wanted: HashSet<&LogKey> = ours.iter().filter(|k| k.0 == hash).collect();
            if found.is_empty() && !wanted.is_empty() {
                // Nothing at all: not indexed yet, or nothing there. The
                // block's bloom (its own, under a hash both agree on) says which.
                let bloom = self.providers.get(index).node.bloom(hash).await?;
                if bloom.is_some_and(|b| !self.may_hold_transfers(&b)) {
                    let k = wanted.iter().next().map(|k| k.2).unwrap_or_default();
                    return Ok(Some(Verdict::Differs(format!(
                        "block {hash} holds no watched Transfer there (its bloom), yet transaction {k} was served"
                    ))));
                }
                return Ok(Some(Verdict::Behind(format!("returns no logs for block {hash} yet"))));
            }
            if let Some(extra) = found.iter().find(|k| !ours.contains(*k)) {
                return Ok(Some(Verdict::Differs(format!("block {hash} has a log of transaction {} there", extra.2))));
            }
            if let Some(missing) = wanted.iter().find(|k| !found.contains(**k)) {
                return Ok(Some(Verdict::Differs(format!(
                    "block {hash} has no log {} of transaction {} there",
                    missing.1, missing.2
                ))));
            }
        }
        Ok(None)
    }

    /// The watched tokens' logs from `from` to `last` from provider
    /// `index`, in spans it accepts.
    async fn logs_over(&mut self, index: usize, from: u64, last: u64) -> Result<Vec<Log>, ChainError> {
        let mut span = LogSpan::new(self.log_span.blocks());
        let query = self.token_filter.clone();
        let mut logs = Vec::new();
        let mut start = from;
        while start <= last {
            let end = last.min(start.saturating_add(span.blocks() - 1));
            let node = &mut self.providers.get(index).node;
            match node.logs(&query.clone().from_block(start).to_block(end)).await {
                Ok(found) => {
                    logs.extend(found);
                    start = end + 1;
                }
                Err(ChainError::LogLimit { message, suggested }) => {
                    if !span.refused(end - start + 1, suggested) {
                        return Err(ChainError::Node(format!("eth_getLogs refused even for one block: {message}")));
                    }
                }
                Err(err) => return Err(err),
            }
        }
        Ok(logs)
    }

    /// Every native payment served: the same transaction in the same
    /// block, succeeded, there too; a contract's (through traces), found
    /// by the same trace there.
    async fn compare_native(
        &mut self,
        index: usize,
        served: &Served<'_>,
        filter: &dyn AddressFilter,
    ) -> Result<Verdict, ChainError> {
        let mut traced: HashMap<B256, BlockHeader> = HashMap::new();
        for transfer in served.transfers.iter().filter(|t| t.log_index.is_none()) {
            if transfer.call_path.is_some() {
                if let Some(header) = served.headers.iter().find(|h| h.hash == transfer.block.hash) {
                    traced.insert(header.hash, *header);
                }
                continue;
            }
            let node = &mut self.providers.get(index).node;
            let tx = transfer.tx_hash;
            let Some((found, in_block)) = node.transaction(tx).await? else {
                return Ok(Verdict::Behind(format!("does not know transaction {tx} yet")));
            };
            if in_block != Some(transfer.block.hash) {
                return Ok(Verdict::Differs(format!(
                    "transaction {tx} is not in block {} there",
                    transfer.block.number
                )));
            }
            if found.to != Some(transfer.to) || found.from != transfer.from || found.value != transfer.value {
                return Ok(Verdict::Differs(format!("transaction {tx} pays someone else or another amount there")));
            }
            match node.receipt(tx).await? {
                Some((true, block)) if block == transfer.block.hash => {}
                Some((false, _)) => return Ok(Verdict::Differs(format!("transaction {tx} reverted there"))),
                _ => return Ok(Verdict::Behind(format!("has no receipt of {tx} yet"))),
            }
        }
        if traced.is_empty() || self.spec.internal_transfers == InternalTransfers::Off {
            return Ok(Verdict::Agrees);
        }
        let headers: Vec<BlockHeader> = traced.into_values().collect();
        let Some(asset) = self.spec.native else { return Ok(Verdict::Agrees) };
        let requests = self.providers.get(index).node.requests().await?;
        let found = internal_transfers(&requests, self.spec.internal_transfers, &headers, asset, filter).await?;
        let theirs: HashSet<_> = found.into_iter().map(|t| (t.tx_hash, t.call_path, t.to, t.value)).collect();
        for transfer in served.transfers.iter().filter(|t| t.call_path.is_some()) {
            if !theirs.contains(&(transfer.tx_hash, transfer.call_path.clone(), transfer.to, transfer.value)) {
                return Ok(Verdict::Differs(format!(
                    "no internal transfer at {} in transaction {} there",
                    transfer.call_path.as_deref().unwrap_or_default(),
                    transfer.tx_hash
                )));
            }
        }
        Ok(Verdict::Agrees)
    }
}
