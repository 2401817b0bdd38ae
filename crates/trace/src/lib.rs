//! Fund tracing: where did the money go (forward), where did it come from
//! (backward), hop by hop, and where two incidents' funds met.
//!
//! - [`trace`] walks from a [`Start`] over a [`TransferSource`] (a node:
//!   [`RpcSource`]; or memory: a CSV export, [`parse_transfers_csv`]),
//!   matching each address's payments to its receipts by a [`Rule`] (FIFO
//!   or proportional: see [`allocate`]), ignoring zero-value spam and dust
//!   under a threshold, and stopping at the depth, or at an address the
//!   [`Labels`] call a service (exchange, mixer, bridge: "reached: exchange
//!   Binance 14"). It answers a [`Trace`]: terminals (where the money is
//!   now), the graph, JSON, CSV and an SVG picture.
//! - [`link`] compares incidents' forward traces and reports the
//!   addresses, transactions and services they share, with the paths.
//!
//! Amounts are base units (U256), never floats; the only floating point is
//! an arrow's width in the picture.

mod allocate;
mod csv_import;
mod labels;
mod link;
mod model;
mod output;
mod rpc;
mod source;
mod svg;
mod trace;
mod tracer;

#[cfg(test)]
mod tests;

pub use allocate::{Link, Rule, allocate};
pub use csv_import::{CsvError, parse_ether, parse_transfers_csv};
pub use labels::{Label, Labels, NoLabels};
pub use link::{LinkReport, Reach, SharedAddress, SharedTransaction, Step, link};
pub use model::{Asset, Transfer, TransferId};
pub use output::Units;
pub use rpc::{INDEX_NATIVE_UP_TO_BLOCKS, Native, RpcSource};
pub use source::{MemorySource, SourceError, TransferSource};
pub use trace::{Edge, Ignored, Node, Terminal, Trace, Why};
pub use tracer::{Direction, Params, Start, trace};
