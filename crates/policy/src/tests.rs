//! The crate's tests: one module per source module, and the properties.

mod assess;
mod denylist;
mod file;
mod fixtures;
mod props;
mod windows;
