//! The signer as its own process against a real anvil, attacked from the
//! gateway's side: the test holds everything a compromised gateway host
//! holds (its request key, any payload it likes) and nothing else.

mod approvals;
mod approvers;
mod attacks;
mod audit;
mod bumps;
mod commands;
mod crash;
mod freeze;
mod harness;
mod payouts;
mod profiles;
mod sweeps;
