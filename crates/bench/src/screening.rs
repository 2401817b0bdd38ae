//! `coffer bench screening`: a million-entry list parsed and loaded, then a
//! million checks (half listed, half not), timed per check. The addresses
//! are SHA-256 of a counter: random-looking, the same in every run.

use std::fmt;
use std::time::{Duration, Instant};

use coffer_domain::Address;
use coffer_screening::{Format, ScreeningSet, parse_list};
use sha2::{Digest, Sha256};

/// What to measure.
pub struct ScreeningBench {
    /// Entries in the list.
    pub entries: usize,
    /// Checks made.
    pub checks: usize,
}

/// What was measured.
pub struct ScreeningReport {
    entries: usize,
    bytes: usize,
    parse: Duration,
    load: Duration,
    checks: usize,
    check: Duration,
    hits: usize,
}

fn address(i: usize) -> Address {
    Address::from_slice(&Sha256::digest(i.to_le_bytes())[..20])
}

/// Runs it.
pub fn run(bench: &ScreeningBench) -> Result<ScreeningReport, String> {
    let mut text = String::with_capacity(bench.entries * 43);
    for i in 0..bench.entries {
        text.push_str(&format!("{:#x}\n", address(i)));
    }
    let started = Instant::now();
    let list = parse_list("bench.txt", text.as_bytes(), Some(Format::Plain)).map_err(|e| e.to_string())?;
    let parse = started.elapsed();
    let started = Instant::now();
    let mut set = ScreeningSet::new();
    set.add(list);
    let load = started.elapsed();
    // Half the probes are listed (every other entry), half are not.
    let probes: Vec<Address> = (0..bench.checks)
        .map(|i| if i % 2 == 0 { address(i % bench.entries.max(1)) } else { address(usize::MAX - i) })
        .collect();
    let started = Instant::now();
    let hits = probes.iter().filter(|a| std::hint::black_box(set.blocking_hit(a)).is_some()).count();
    let check = started.elapsed();
    Ok(ScreeningReport { entries: set.evm_len(), bytes: text.len(), parse, load, checks: bench.checks, check, hits })
}

impl fmt::Display for ScreeningReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per = |d: Duration, n: usize| d.as_nanos() as f64 / n.max(1) as f64;
        writeln!(
            f,
            "load: {} entries ({:.1} MB of text) parsed in {:.2} s, into the set in {:.2} s: {:.2} s in all",
            self.entries,
            self.bytes as f64 / 1e6,
            self.parse.as_secs_f64(),
            self.load.as_secs_f64(),
            (self.parse + self.load).as_secs_f64()
        )?;
        write!(
            f,
            "check: {} lookups ({} hits) in {:.1} ms: {:.0} ns per check (target: well under 1 µs)",
            self.checks,
            self.hits,
            self.check.as_secs_f64() * 1e3,
            per(self.check, self.checks)
        )
    }
}
