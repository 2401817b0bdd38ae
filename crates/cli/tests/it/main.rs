//! The `coffer` binary, run as a user runs it: a child process, real HTTP.

mod crash;
mod dev;
mod gateway;
mod halts;
mod operator;
mod receiver;
mod support;
mod treasury;
