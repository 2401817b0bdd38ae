//! `coffer freeze` and `coffer policy show | propose | approve`: the
//! signer's controls, changed by approvers' signatures over a proposal
//! bound to the policy version it was read against.

use std::path::PathBuf;

use anyhow::Context as _;
use coffer_domain::{AssetSymbol, ChainId, U256};
use coffer_signer_api::{ChangeProposal, ControlAnswer, ControlRequest, Decision, LimitName, PolicyChange, Profile};
use serde_json::{Value, json};

mod state;

use self::state::Controls as State;
use super::remote::{Remote, Who};
use super::shown::parse_address;
use super::text::{answer as answer_text, when};
use super::{KeyArgs, Target, TokenArgs, confirm, now};

/// How long a proposal's signatures count unless told otherwise: long
/// enough for a quorum to gather, short enough not to linger.
const DEFAULT_EXPIRY_SECS: u64 = 600;

#[derive(clap::Args)]
pub(crate) struct FreezeArgs {
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    token: TokenArgs,
    /// What you saw, in a sentence (lands on both audit logs).
    #[arg(long, default_value = "an approver froze outgoing payments")]
    reason: String,
    /// Print the signer's answer as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand)]
pub(crate) enum PolicyCommand {
    /// Print the signer's controls: frozen or not, the profile, the policy version, changes
    /// waiting out their time lock, the allowlist.
    Show {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        token: TokenArgs,
        /// Print the JSON as answered (the signer's `ControlState`, or the gateway's `GET /v1/signer`).
        #[arg(long)]
        json: bool,
    },
    /// Write a proposed change, bound to the signer's current policy version, for approvers to sign
    /// with `coffer policy approve`.
    Propose {
        #[command(subcommand)]
        change: ChangeArg,
    },
    /// Show a proposal and its digest, sign it (or veto it) and submit the signature.
    Approve {
        /// The proposal (from `coffer policy propose`).
        proposal: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        token: TokenArgs,
        /// Reject instead: vetoes a change waiting out its time lock.
        #[arg(long)]
        veto: bool,
        /// Sign without asking (for scripts: read what is printed first).
        #[arg(long)]
        yes: bool,
        /// Print the signer's answer as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Where a proposal goes and how long it counts.
#[derive(clap::Args)]
pub(crate) struct ProposeArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    token: TokenArgs,
    /// Where to write the proposal JSON.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Seconds from now until approvers' signatures of it stop counting.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_EXPIRY_SECS)]
    expires_in: u64,
    /// Print `{"digest","description","proposal"}` as JSON.
    #[arg(long)]
    json: bool,
}

/// One change (`coffer policy propose CHANGE … --signer URL --out FILE`).
#[derive(clap::Subcommand)]
pub(crate) enum ChangeArg {
    /// Lift the freeze (needs the quorum).
    Unfreeze {
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Switch profile: `restricted` at once, `normal` with the quorum.
    Profile {
        /// `normal` or `restricted`.
        profile: Profile,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Set one limit of one asset in the current profile (raising it needs the quorum and waits
    /// the time lock).
    Limit {
        /// The chain id.
        #[arg(long)]
        chain: u64,
        /// The asset's symbol.
        #[arg(long)]
        asset: AssetSymbol,
        /// max_per_payout, approval_above, amount_1h, amount_24h, count_1h or count_24h.
        #[arg(long)]
        limit: LimitName,
        /// Base units for amounts, a number of payouts for counts.
        #[arg(long, value_name = "BASE_UNITS")]
        value: U256,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Add a destination to the allowlist (needs the quorum).
    Allow {
        /// The chain id.
        #[arg(long)]
        chain: u64,
        /// The destination (checksummed if mixed case).
        #[arg(long)]
        address: String,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Remove a destination from the allowlist (at once).
    Disallow {
        /// The chain id.
        #[arg(long)]
        chain: u64,
        /// The destination.
        #[arg(long)]
        address: String,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Freeze outgoing payments (at once; `coffer freeze` does it in one step).
    Freeze {
        /// What you saw, in a sentence.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: ProposeArgs,
    },
}

impl ChangeArg {
    fn split(self) -> anyhow::Result<(PolicyChange, ProposeArgs)> {
        Ok(match self {
            ChangeArg::Unfreeze { common } => (PolicyChange::Unfreeze, common),
            ChangeArg::Profile { profile, common } => (PolicyChange::Profile { profile }, common),
            ChangeArg::Limit { chain, asset, limit, value, common } => {
                (PolicyChange::Limit { chain_id: ChainId(chain), asset, limit, value }, common)
            }
            ChangeArg::Allow { chain, address, common } => {
                (PolicyChange::Allow { chain_id: ChainId(chain), destination: parse_address(&address)? }, common)
            }
            ChangeArg::Disallow { chain, address, common } => {
                (PolicyChange::Disallow { chain_id: ChainId(chain), destination: parse_address(&address)? }, common)
            }
            ChangeArg::Freeze { reason, common } => (PolicyChange::Freeze { reason }, common),
        })
    }
}

/// The signer, directly or through the gateway's relay.
struct Controls {
    remote: Remote,
}

impl Controls {
    fn new(target: &Target, token: &TokenArgs) -> anyhow::Result<Self> {
        let remote = match (&target.signer, &target.gateway) {
            (Some(url), _) => Remote::new(url, Who::Signer, None)?,
            (None, Some(url)) => Remote::new(url, Who::Gateway, Some(token.token()?))?,
            (None, None) => anyhow::bail!("say where the signer is: --signer URL or --gateway URL"),
        };
        Ok(Self { remote })
    }

    /// `GET /v1/control` (the gateway: its last reading, `GET /v1/signer`), as answered and parsed.
    async fn state(&self) -> anyhow::Result<(State, Value)> {
        Ok(match self.remote.who {
            Who::Signer => {
                let raw = self.remote.get(coffer_signer_api::paths::CONTROL).await?;
                (State::from_signer(&raw)?, raw)
            }
            Who::Gateway => {
                let raw = self.remote.get("/v1/signer").await?;
                (State::from_gateway(&raw)?, raw)
            }
        })
    }

    async fn submit(&self, request: &ControlRequest) -> anyhow::Result<(ControlAnswer, Value)> {
        let path = match self.remote.who {
            Who::Signer => coffer_signer_api::paths::CONTROL,
            Who::Gateway => "/v1/operator/signer/control",
        };
        let raw = self.remote.post(path, request).await?;
        let answer = serde_json::from_value(raw.clone())
            .with_context(|| format!("the answer to POST {path} is no control answer"))?;
        Ok((answer, raw))
    }
}

fn proposal_at(change: PolicyChange, state: &State, expires_in: u64) -> ChangeProposal {
    let expires_at = now().saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX));
    ChangeProposal { change, base_version: state.policy_version, expires_at }
}

fn describe_proposal(proposal: &ChangeProposal, now: i64) -> String {
    format!(
        "change      {}\nbase        policy version {}\nexpires     {}\ndigest      {}\n",
        proposal.change.describe(),
        proposal.base_version,
        when(proposal.expires_at, now),
        proposal.digest().grouped()
    )
}

pub(crate) async fn freeze(args: FreezeArgs) -> anyhow::Result<()> {
    let key = args.key.load()?;
    let controls = Controls::new(&args.target, &args.token)?;
    let (state, _) = controls.state().await?;
    let proposal = proposal_at(PolicyChange::Freeze { reason: args.reason }, &state, DEFAULT_EXPIRY_SECS);
    // Tightening needs one person and no question: a freeze should not wait.
    let request = ControlRequest { approvals: vec![key.approve(&proposal.digest())], proposal };
    let (answer, raw) = controls.submit(&request).await?;
    if args.json {
        println!("{raw}");
    } else {
        println!("{}", answer_text(&answer, now()));
    }
    Ok(())
}

pub(crate) async fn policy(command: PolicyCommand) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Show { target, token, json } => {
            let (state, raw) = Controls::new(&target, &token)?.state().await?;
            if json {
                println!("{raw}");
            } else {
                print!("{}", state.show(now()));
            }
        }
        PolicyCommand::Propose { change } => {
            let (change, common) = change.split()?;
            let (state, _) = Controls::new(&common.target, &common.token)?.state().await?;
            let proposal = proposal_at(change, &state, common.expires_in);
            let mut text = serde_json::to_string_pretty(&proposal)?;
            text.push('\n');
            std::fs::write(&common.out, text).with_context(|| format!("writing {}", common.out.display()))?;
            if common.json {
                println!(
                    "{}",
                    json!({"digest": proposal.digest().to_string(), "description": proposal.change.describe(),
                        "proposal": proposal})
                );
            } else {
                print!("{}", describe_proposal(&proposal, now()));
                eprintln!("wrote {}; approvers sign it with coffer policy approve", common.out.display());
            }
        }
        PolicyCommand::Approve { proposal, key, target, token, veto, yes, json } => {
            let text = std::fs::read_to_string(&proposal).with_context(|| format!("reading {}", proposal.display()))?;
            let proposal: ChangeProposal = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a proposal from coffer policy propose", proposal.display()))?;
            let now = now();
            let digest = proposal.digest();
            if !json {
                print!("{}", describe_proposal(&proposal, now));
            }
            anyhow::ensure!(
                proposal.expires_at > now,
                "this proposal expired {}; propose it again",
                when(proposal.expires_at, now)
            );
            let key = key.load()?;
            let controls = Controls::new(&target, &token)?;
            let (state, _) = controls.state().await?;
            let scheduled = state.scheduled.iter().any(|s| s.digest == digest);
            if veto && !scheduled {
                eprintln!("note: the signer has no scheduled change with this digest; a veto may find nothing to stop");
            }
            if !veto && state.policy_version != proposal.base_version {
                eprintln!(
                    "note: the signer's policy is at version {}, this proposal was read against {}; it will be \
                     refused (control.version): propose it again",
                    state.policy_version, proposal.base_version
                );
            }
            let decision = if veto { Decision::Reject } else { Decision::Approve };
            if !json {
                println!("signing as  {}", key.public());
            }
            confirm(if veto { "veto?" } else { "approve?" }, yes)?;
            let approval = match decision {
                Decision::Approve => key.approve(&digest),
                Decision::Reject => key.reject(&digest),
            };
            let (answer, raw) = controls.submit(&ControlRequest { proposal, approvals: vec![approval] }).await?;
            if json {
                println!("{raw}");
            } else {
                println!("{}", answer_text(&answer, now));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
