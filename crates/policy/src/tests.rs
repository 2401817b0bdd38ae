//! The crate's tests: one module per source module, and the properties.

mod approvals;
mod assess;
mod controls;
mod file;
mod fixtures;
mod props;
mod tripwires;
mod windows;
