//! Native transfers that contracts make: a payment forwarded by a smart
//! wallet or a router (an internal call with value), or a contract's
//! balance sent on self-destruct. A transaction's own value shows in the
//! block's transactions; these show only in the node's trace API, which
//! not every node serves, so reading them is a per-chain setting.
//!
//! Two trace APIs exist: the Parity one (`trace_block`: Reth, Erigon,
//! Nethermind, anvil), a flat list with each call's position as a
//! `traceAddress`; and Geth's (`debug_traceBlockByHash` with the
//! `callTracer`: Geth and anvil), a tree of calls. A call that failed, or
//! sits under one that failed, moved nothing; only plain `CALL`s carry
//! value to their target (a `DELEGATECALL`'s value stays with the caller,
//! a `CALLCODE` runs the target's code on the caller).

use std::collections::HashSet;

use alloy_primitives::{Address, B256, U256};
use coffer_domain::{AssetId, BlockHeader};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::extract::PartialTransfer;
use crate::node::Requests;
use crate::{AddressFilter, ChainError};

/// Whether and how a chain's contract-made native transfers are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InternalTransfers {
    /// Not read: ETH a contract sends to a deposit address is not seen.
    #[default]
    Off,
    /// Through the Parity trace API (`trace_block`).
    TraceBlock,
    /// Through Geth's `debug_traceBlockByHash` with the `callTracer`.
    DebugTrace,
}

impl InternalTransfers {
    /// As the configuration and `/healthz` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::TraceBlock => "trace_block",
            Self::DebugTrace => "debug_trace",
        }
    }

    /// Parses [`InternalTransfers::as_str`]'s text.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Off, Self::TraceBlock, Self::DebugTrace].into_iter().find(|m| m.as_str() == text)
    }
}

/// Blocks traced per batch request.
const TRACE_BATCH: usize = 20;

/// The contract-made native transfers to watched addresses in `headers`.
pub(crate) async fn internal_transfers(
    requests: &Requests,
    how: InternalTransfers,
    headers: &[BlockHeader],
    asset: AssetId,
    filter: &dyn AddressFilter,
) -> Result<Vec<PartialTransfer>, ChainError> {
    let mut found = Vec::new();
    for chunk in headers.chunks(TRACE_BATCH) {
        match how {
            InternalTransfers::Off => return Ok(found),
            InternalTransfers::TraceBlock => {
                let params: Vec<Value> = chunk.iter().map(|h| json!([format!("0x{:x}", h.number)])).collect();
                let blocks: Vec<Option<Vec<ParityTrace>>> =
                    requests.batch("trace_block", &params).await.map_err(unsupported(how))?;
                for (header, traces) in chunk.iter().zip(blocks) {
                    let traces = traces.ok_or(ChainError::MissingBlock(header.number))?;
                    found.extend(parity(header, &traces, asset, filter)?);
                }
            }
            InternalTransfers::DebugTrace => {
                let params: Vec<Value> = chunk.iter().map(|h| json!([h.hash, {"tracer": "callTracer"}])).collect();
                let blocks: Vec<Vec<GethTxTrace>> =
                    requests.batch("debug_traceBlockByHash", &params).await.map_err(unsupported(how))?;
                for (header, traces) in chunk.iter().zip(blocks) {
                    found.extend(geth(header, &traces, asset, filter)?);
                }
            }
        }
    }
    Ok(found)
}

/// A node that refuses the trace method outright cannot give what the
/// configuration asks for: that is for a person, not a retry.
fn unsupported(how: InternalTransfers) -> impl Fn(ChainError) -> ChainError {
    move |err| match err {
        ChainError::Node(text)
            if text.contains("not found") || text.contains("not supported") || text.contains("-32601") =>
        {
            ChainError::Config(format!(
                "internal_transfers = \"{}\", but the node does not serve it ({text}); use a node with that trace API \
                 or set internal_transfers = \"off\"",
                how.as_str()
            ))
        }
        other => other,
    }
}

/// One entry of `trace_block`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ParityTrace {
    #[serde(rename = "type")]
    kind: String,
    action: Value,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    trace_address: Vec<u32>,
    #[serde(default)]
    transaction_hash: Option<B256>,
    #[serde(default)]
    block_hash: Option<B256>,
}

fn address_at(value: &Value, key: &str) -> Option<Address> {
    value.get(key)?.as_str()?.parse().ok()
}

fn wei_at(value: &Value, key: &str) -> U256 {
    value.get(key).and_then(Value::as_str).and_then(|v| v.parse().ok()).unwrap_or_default()
}

fn path_text(path: &[u32]) -> String {
    path.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

fn parity(
    header: &BlockHeader,
    traces: &[ParityTrace],
    asset: AssetId,
    filter: &dyn AddressFilter,
) -> Result<Vec<PartialTransfer>, ChainError> {
    // A failed call undoes everything under it: (transaction, path) of each failure.
    let failed: HashSet<(Option<B256>, &[u32])> =
        traces.iter().filter(|t| t.error.is_some()).map(|t| (t.transaction_hash, t.trace_address.as_slice())).collect();
    let mut found = Vec::new();
    for trace in traces {
        if trace.block_hash.is_some_and(|hash| hash != header.hash) {
            return Err(ChainError::Moved(format!("traces of block {} are from another block", header.number)));
        }
        // The transaction's own value is read from the block; rewards have no transaction.
        let Some(tx_hash) = trace.transaction_hash else { continue };
        if trace.trace_address.is_empty() {
            continue;
        }
        let undone =
            (0..=trace.trace_address.len()).any(|n| failed.contains(&(Some(tx_hash), &trace.trace_address[..n])));
        if undone {
            continue;
        }
        let (from, to, value) = match trace.kind.as_str() {
            "call" if trace.action.get("callType").and_then(Value::as_str) == Some("call") => {
                (address_at(&trace.action, "from"), address_at(&trace.action, "to"), wei_at(&trace.action, "value"))
            }
            "suicide" | "selfdestruct" => (
                address_at(&trace.action, "address"),
                address_at(&trace.action, "refundAddress"),
                wei_at(&trace.action, "balance"),
            ),
            _ => continue,
        };
        let (Some(from), Some(to)) = (from, to) else { continue };
        if value.is_zero() || !filter.watches(&to) {
            continue;
        }
        found.push(internal(asset, from, to, value, tx_hash, path_text(&trace.trace_address), header));
    }
    Ok(found)
}

/// One transaction's trace from Geth's `callTracer`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GethTxTrace {
    tx_hash: Option<B256>,
    result: Option<GethCall>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GethCall {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    from: Option<Address>,
    #[serde(default)]
    to: Option<Address>,
    #[serde(default)]
    value: Option<U256>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    calls: Vec<GethCall>,
}

fn geth(
    header: &BlockHeader,
    traces: &[GethTxTrace],
    asset: AssetId,
    filter: &dyn AddressFilter,
) -> Result<Vec<PartialTransfer>, ChainError> {
    let mut found = Vec::new();
    for trace in traces {
        // A transaction the tracer could not trace may hide a payment: read again, never skip.
        let (Some(tx_hash), Some(top)) = (trace.tx_hash, &trace.result) else {
            return Err(ChainError::Moved(format!(
                "block {}: a transaction's trace came back without a result ({})",
                header.number,
                trace.error.as_deref().unwrap_or("no error given")
            )));
        };
        if top.error.is_some() {
            continue; // the whole transaction failed
        }
        // Depth first, in call order: the same numbering as Parity's traceAddress.
        let mut stack: Vec<(&GethCall, Vec<u32>)> =
            top.calls.iter().enumerate().rev().map(|(i, call)| (call, vec![i as u32])).collect();
        while let Some((call, path)) = stack.pop() {
            if call.error.is_some() {
                continue; // it and everything under it undone
            }
            let value = call.value.unwrap_or_default();
            if matches!(call.kind.as_str(), "CALL" | "SELFDESTRUCT")
                && !value.is_zero()
                && let (Some(from), Some(to)) = (call.from, call.to)
                && filter.watches(&to)
            {
                found.push(internal(asset, from, to, value, tx_hash, path_text(&path), header));
            }
            for (i, child) in call.calls.iter().enumerate().rev() {
                let mut child_path = path.clone();
                child_path.push(i as u32);
                stack.push((child, child_path));
            }
        }
    }
    Ok(found)
}

fn internal(
    asset: AssetId,
    from: Address,
    to: Address,
    value: U256,
    tx_hash: B256,
    call_path: String,
    header: &BlockHeader,
) -> PartialTransfer {
    PartialTransfer {
        asset,
        from,
        to,
        value,
        tx_hash,
        log_index: None,
        call_path: Some(call_path),
        block: header.block_ref(),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use coffer_domain::{AssetSymbol, ChainId};

    use super::*;

    struct Only(Address);
    impl AddressFilter for Only {
        fn watches(&self, address: &Address) -> bool {
            *address == self.0
        }
    }

    const SHOP: &str = "0x00000000000000000000000000000000000c0ffe";

    fn header() -> BlockHeader {
        BlockHeader { number: 7, hash: B256::repeat_byte(7), parent_hash: B256::repeat_byte(6), timestamp: 1 }
    }

    fn eth() -> AssetId {
        AssetId { chain_id: ChainId(1), symbol: AssetSymbol::from_str("ETH").unwrap() }
    }

    #[test]
    fn parity_traces_count_successful_value_calls_under_successful_parents() {
        let tx = B256::repeat_byte(1);
        let trace = |kind: &str, call: &str, path: &[u32], to: &str, error: bool| {
            json!({"type": kind, "action": {"callType": call, "from": "0x000000000000000000000000000000000000aaaa",
                   "to": to, "value": "0x10"}, "traceAddress": path, "transactionHash": tx,
                   "blockHash": B256::repeat_byte(7), "error": if error { json!("Reverted") } else { Value::Null }})
        };
        let traces: Vec<ParityTrace> = serde_json::from_value(json!([
            trace("call", "call", &[], SHOP, false),           // the transaction's own value: read elsewhere
            trace("call", "call", &[0], SHOP, false),          // counts
            trace("call", "delegatecall", &[1], SHOP, false),  // value stays with the caller
            trace("call", "call", &[2], SHOP, true),           // failed
            trace("call", "call", &[2, 0], SHOP, false),       // under a failure: undone
            trace("call", "call", &[3], "0x0000000000000000000000000000000000000bad", false), // not watched
            {"type": "suicide", "action": {"address": "0x000000000000000000000000000000000000aaaa",
              "refundAddress": SHOP, "balance": "0x20"}, "traceAddress": [4], "transactionHash": tx,
              "blockHash": B256::repeat_byte(7)},
        ]))
        .unwrap();
        let shop = Only(SHOP.parse().unwrap());
        let found = parity(&header(), &traces, eth(), &shop).unwrap();
        let paths: Vec<_> = found.iter().map(|t| (t.call_path.clone().unwrap(), t.value.to::<u64>())).collect();
        assert_eq!(paths, vec![("0".to_owned(), 16), ("4".to_owned(), 32)]);
        let mut other_block = json!([trace("call", "call", &[0], SHOP, false)]);
        other_block[0]["blockHash"] = json!(B256::repeat_byte(9));
        let other: Vec<ParityTrace> = serde_json::from_value(other_block).unwrap();
        assert!(matches!(parity(&header(), &other, eth(), &shop), Err(ChainError::Moved(_))));
    }

    #[test]
    fn geth_call_trees_number_calls_as_parity_does() {
        let traces: Vec<GethTxTrace> = serde_json::from_value(json!([{
            "txHash": B256::repeat_byte(1),
            "result": {"type": "CALL", "from": "0x000000000000000000000000000000000000aaaa", "to": "0x000000000000000000000000000000000000bbbb", "value": "0x0", "calls": [
                {"type": "STATICCALL", "from": "0x000000000000000000000000000000000000bbbb", "to": SHOP},
                {"type": "CALL", "from": "0x000000000000000000000000000000000000bbbb", "to": "0x000000000000000000000000000000000000cccc", "value": "0x0", "calls": [
                    {"type": "CALL", "from": "0x000000000000000000000000000000000000cccc", "to": SHOP, "value": "0x5"}
                ]},
                {"type": "CALL", "from": "0x000000000000000000000000000000000000bbbb", "to": SHOP, "value": "0x7", "error": "execution reverted"},
                {"type": "SELFDESTRUCT", "from": "0x000000000000000000000000000000000000bbbb", "to": SHOP, "value": "0x9"}
            ]}
        }, {
            "txHash": B256::repeat_byte(2),
            "result": {"type": "CALL", "from": "0x000000000000000000000000000000000000aaaa", "to": "0x000000000000000000000000000000000000bbbb", "error": "out of gas", "calls": [
                {"type": "CALL", "from": "0x000000000000000000000000000000000000bbbb", "to": SHOP, "value": "0x1"}
            ]}
        }]))
        .unwrap();
        let found = geth(&header(), &traces, eth(), &Only(SHOP.parse().unwrap())).unwrap();
        let paths: Vec<_> = found.iter().map(|t| (t.call_path.clone().unwrap(), t.value.to::<u64>())).collect();
        assert_eq!(
            paths,
            vec![("1.0".to_owned(), 5), ("3".to_owned(), 9)],
            "failed calls and failed transactions move nothing"
        );
    }
}
