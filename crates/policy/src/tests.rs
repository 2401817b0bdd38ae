//! The crate's tests: one module per source module, and the properties.

mod denylist;
mod file;
mod fixtures;
mod windows;
