//! `coffer bench trace`: a staged graph on anvil (one address fans out to
//! 10, each of those to 10, each of those to 10, each of those to 9: about
//! 10,000 ether transfers), traced five hops forward from its root. Beside
//! it, the node's own time to answer the very requests the trace made,
//! replayed one by one: what the tracer adds is the difference.

use std::fmt;
use std::time::{Duration, Instant};

use coffer_devnet::{Anvil, AnvilOptions, Rpc};
use coffer_domain::{Address, U256};
use coffer_trace::{NoLabels, Params, RpcSource, Start, Why};
use serde_json::json;

/// What to stage.
pub struct TraceBench {
    /// Children per address at each level (the last is the leaves' fan-out).
    pub fanout: Vec<usize>,
}

impl Default for TraceBench {
    fn default() -> Self {
        Self { fanout: vec![10, 10, 10, 9] }
    }
}

/// What was measured.
pub struct TraceReport {
    transfers: usize,
    blocks: u64,
    stage: Duration,
    trace: Duration,
    node: Duration,
    queries: usize,
    addresses: usize,
    terminals: usize,
    edges: usize,
    source: String,
}

fn actor(level: usize, index: usize) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xbe;
    bytes[1] = level as u8;
    bytes[12..20].copy_from_slice(&(index as u64).to_be_bytes());
    Address::from(bytes)
}

async fn stage(rpc: &Rpc, fanout: &[usize]) -> Result<usize, String> {
    let e = |e: coffer_devnet::DevnetError| e.to_string();
    let gas_float = U256::from(10u64).pow(U256::from(21));
    rpc.call("evm_setAutomine", json!([false])).await.map_err(|e| e.to_string())?;
    let mut parents = vec![actor(0, 0)];
    let mut amount = U256::from(10u64).pow(U256::from(24));
    rpc.impersonate(actor(0, 0), amount + gas_float).await.map_err(e)?;
    let mut sent = 0;
    for (level, &children) in fanout.iter().enumerate() {
        amount /= U256::from(children as u64 + 1);
        let mut next = Vec::new();
        for (p, parent) in parents.iter().enumerate() {
            for c in 0..children {
                let child = actor(level + 1, p * children + c);
                if level + 1 < fanout.len() {
                    rpc.impersonate(child, gas_float).await.map_err(e)?;
                }
                rpc.send_eth(*parent, child, amount).await.map_err(e)?;
                sent += 1;
                if sent % 1_000 == 0 {
                    rpc.mine(1).await.map_err(e)?;
                }
                next.push(child);
            }
        }
        // Every level in blocks before the next spends it.
        rpc.mine(1).await.map_err(e)?;
        parents = next;
    }
    rpc.call("evm_setAutomine", json!([true])).await.map_err(|e| e.to_string())?;
    Ok(sent)
}

/// Runs it.
pub async fn run(bench: &TraceBench) -> Result<TraceReport, String> {
    let anvil = Anvil::spawn(AnvilOptions::default()).await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let transfers = stage(anvil.rpc(), &bench.fanout).await?;
    let stage_time = started.elapsed();
    let url = anvil.http_url();
    let head = RpcSource::head(&url).await.map_err(|e| e.to_string())?;
    let mut source = RpcSource::new(&url, 0, head, Vec::new()).map_err(|e| e.to_string())?;
    let params = Params { max_depth: 5, max_addresses: 20_000, ..Params::default() };
    let started = Instant::now();
    let trace = coffer_trace::trace(&mut source, &NoLabels, &Start::Addresses(vec![actor(0, 0)]), &params)
        .await
        .map_err(|e| e.to_string())?;
    let trace_time = started.elapsed();
    let leaves = trace.terminals.iter().filter(|t| t.why == Why::Holds).count();
    let started = Instant::now();
    for (method, params) in source.queries() {
        std::hint::black_box(source.raw(method, params).await.map_err(|e| e.to_string())?);
    }
    let node = started.elapsed();
    Ok(TraceReport {
        transfers,
        blocks: head,
        stage: stage_time,
        trace: trace_time,
        node,
        queries: source.queries().len(),
        addresses: trace.addresses_read,
        terminals: leaves,
        edges: trace.edges.len(),
        source: trace.source,
    })
}

impl fmt::Display for TraceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "graph: {} ether transfers in {} blocks, staged in {:.1} s",
            self.transfers,
            self.blocks,
            self.stage.as_secs_f64()
        )?;
        writeln!(
            f,
            "trace: 5 hops, {} addresses read, {} transfers followed, {} terminals, in {:.2} s ({} requests; {})",
            self.addresses,
            self.edges,
            self.terminals,
            self.trace.as_secs_f64(),
            self.queries,
            self.source
        )?;
        write!(
            f,
            "node alone, the same {} requests replayed: {:.2} s; trace / node = {:.2}× (target: within 2×)",
            self.queries,
            self.node.as_secs_f64(),
            self.trace.as_secs_f64() / self.node.as_secs_f64().max(1e-9)
        )
    }
}
