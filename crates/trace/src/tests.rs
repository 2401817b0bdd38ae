//! The tracer on staged graphs in memory and on real exported transfers.

#![allow(clippy::unwrap_used)]

mod allocation;
mod conservation;
mod lazarus;
mod staged;
