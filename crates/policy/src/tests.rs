//! The crate's tests: one module per source module, and the properties.

mod file;
mod fixtures;
mod windows;
