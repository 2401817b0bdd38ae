//! The language the gateway and the signer speak, and nothing else.
//!
//! The gateway asks for **intents** ("pay payout P", "sweep deposit i"),
//! never for bytes to sign: the signer builds every transaction itself, from
//! its own token table and its own reading of the chain ([`ops`]). Each
//! request is signed with the gateway's ed25519 request key, and each answer
//! with the signer's identity key ([`auth`]). A refusal names the rule that
//! made it with a stable [`RuleTag`].
//!
//! **Architecture invariant:** this crate links no wallet-key code (no BIP-32,
//! no secp256k1 signing): the gateway depends on it, and
//! `crates/gateway/tests/it/boundary.rs` proves the gateway links no signing
//! code. The ed25519 request key it handles moves no money by itself: the
//! signer checks every rule even for a perfectly authenticated request.
//!
//! **API boundary:** the JSON shapes here and the canonical strings that get
//! signed are a protocol between two hosts that upgrade separately; change
//! them only with a new version tag in the signed string.

pub mod approval;
pub mod auth;
pub use ops::payload_digest;
pub mod ops;
mod rules;
mod wire;

pub use approval::{
    Approval, ChangeProposal, ControlAnswer, ControlRequest, ControlState, Decision, Digest, FreezeInfo, LimitName,
    PayoutApproval, PolicyChange, Profile, Scheduled,
};
pub use auth::{
    AnswerVerifier, AuthFailure, Authenticated, IdentityKey, PublicKey, RequestKey, RequestParts, RequestVerifier,
    SignedHeaders,
};
pub use ops::{Outcome, OutcomeState, PayoutIntent, RequestId, SweepIntent, TopUp, Transfer, Wallet};
pub use rules::{RuleTag, UnknownRule};

/// The paths the signer serves. Both sides use these constants, so a path
/// signed by one is the path checked by the other.
pub mod paths {
    /// `POST`: pay a payout ([`crate::PayoutIntent`]).
    pub const PAYOUTS: &str = "/v1/payouts";
    /// `POST`: sweep a deposit address ([`crate::SweepIntent`]).
    pub const SWEEPS: &str = "/v1/sweeps";
    /// `GET /v1/requests/{id}`: what the signer did with a request.
    pub const REQUESTS: &str = "/v1/requests";
    /// `POST /v1/payouts/{id}/approvals`: an approver's [`crate::Approval`]
    /// of a waiting payout. Needs no gateway signature: the approver's is
    /// what counts.
    pub const APPROVALS: &str = "approvals";
    /// `GET`: the signer's [`crate::ControlState`]; `POST`: an approver-signed
    /// [`crate::ControlRequest`] (no gateway signature needed).
    pub const CONTROL: &str = "/v1/control";
}
