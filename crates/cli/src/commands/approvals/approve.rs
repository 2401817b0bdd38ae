//! `coffer approve PAYOUT_ID`: read a waiting payout from the gateway,
//! check its digest, show it, sign it, send the signature back.

use coffer_domain::PayoutId;
use coffer_signer_api::{Approval, Decision};
use serde_json::{Value, json};

use super::remote::{Remote, Who};
use super::shown::{Checked, check};
use super::text::when;
use super::{KeyArgs, TokenArgs, confirm, now};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The payout (`po_…`).
    payout: PayoutId,
    #[command(flatten)]
    key: KeyArgs,
    /// The gateway's operator URL (`http://host:port`, where `GET /v1/treasury` is served).
    #[arg(long, value_name = "URL")]
    gateway: String,
    #[command(flatten)]
    token: TokenArgs,
    /// Send the approval straight to the signer at this URL instead of through the gateway's relay
    /// (the payout is still read from the gateway; the signer checks it against its own record).
    #[arg(long, value_name = "URL")]
    signer: Option<String>,
    /// Reject instead: one approver's rejection refuses the payout.
    #[arg(long)]
    reject: bool,
    /// Sign without asking (for scripts: read what is printed first).
    #[arg(long)]
    yes: bool,
    /// Only show the payout and the digest computed from it; sign nothing.
    #[arg(long)]
    print_digest: bool,
    /// Print JSON (the payout as checked, the approval, the gateway's answer) instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.print_digest || args.key.key.is_some(),
        "signing needs the approver's key: --key FILE (or --print-digest to only show the digest)"
    );
    let gateway = Remote::new(&args.gateway, Who::Gateway, Some(args.token.token()?))?;
    let shown = gateway.get(&format!("/v1/operator/payouts/{}", args.payout)).await?;
    let checked = check(&shown, args.payout)?;
    let now = now();
    if !args.json {
        print!("{}", describe(&checked, now));
    }
    if args.print_digest {
        if args.json {
            println!("{}", summary(&checked, None, None));
        }
        return Ok(());
    }
    let expires_at = checked.approval.expires_at;
    anyhow::ensure!(
        expires_at > now,
        "this round of approvals ended {}; the payout waits again under a new digest: run coffer approve again",
        when(expires_at, now)
    );
    let decision = if args.reject { Decision::Reject } else { Decision::Approve };
    let key = args.key.load()?;
    if !args.json {
        println!("signing as  {}", key.public());
    }
    let question = match decision {
        Decision::Approve => "approve?",
        Decision::Reject => "reject? (this refuses the payout)",
    };
    confirm(question, args.yes)?;
    let approval: Approval = match decision {
        Decision::Approve => key.approve(&checked.digest),
        Decision::Reject => key.reject(&checked.digest),
    };
    let path = format!("/v1/payouts/{}/{}", args.payout, coffer_signer_api::paths::APPROVALS);
    let answer = match &args.signer {
        Some(url) => Remote::new(url, Who::Signer, None)?.post(&path, &approval).await?,
        None => gateway.post(&path, &approval).await?,
    };
    if args.json {
        println!("{}", summary(&checked, Some(&approval), Some(&answer)));
    } else {
        println!("{}", outcome(&answer));
    }
    Ok(())
}

/// What a person compares before signing.
fn describe(checked: &Checked, now: i64) -> String {
    let p = &checked.approval.payout;
    let amount = match &checked.decimal {
        Some((decimal, decimals)) => {
            format!("{decimal} {} ({} base units; {decimals} decimals)", p.asset, p.amount)
        }
        None => format!("{} base units of {} (the gateway shows no decimal amount)", p.amount, p.asset),
    };
    let signed = if checked.approved_by.is_empty() { "none yet".to_owned() } else { checked.approved_by.join(", ") };
    format!(
        "payout      {}\nmerchant    {}\nchain       {}\nasset       {}\namount      {amount}\ndestination {}\n\
         expires     {}\napprovals   {} of {} so far ({signed})\ndigest      {}\n",
        p.id,
        p.merchant,
        p.chain_id,
        p.asset,
        p.destination.to_checksum(None),
        when(checked.approval.expires_at, now),
        checked.approved_by.len(),
        checked.quorum,
        checked.digest.grouped(),
    )
}

/// The checked payout, and what was signed and answered, for scripts.
fn summary(checked: &Checked, approval: Option<&Approval>, answer: Option<&Value>) -> Value {
    json!({
        "payout": checked.approval.payout,
        "expires_at": checked.approval.expires_at,
        "digest": checked.digest.to_string(),
        "quorum": checked.quorum,
        "approved_by": checked.approved_by,
        "approval": approval,
        "answer": answer,
    })
}

/// The gateway's answer (the signer's outcome) in a line.
fn outcome(answer: &Value) -> String {
    let state = answer["state"].as_str().or_else(|| answer["status"].as_str()).unwrap_or("unknown");
    let mut line = format!("sent; the payout is now {state}");
    if let (Some(rule), Some(message)) = (answer["rule"].as_str(), answer["message"].as_str()) {
        line.push_str(&format!(" ({rule}: {message})"));
    }
    let round = if answer["approval"].is_object() { &answer["approval"] } else { answer };
    if let (Some(names), Some(quorum)) = (round["approved_by"].as_array(), round["quorum"].as_u64()) {
        let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
        line.push_str(&format!("; {} of {quorum} approvals ({})", names.len(), names.join(", ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_as_a_line() {
        let waiting = json!({"id":"po_x","status":"pending_approval","approval":{"digest":"00","expires_at":"x",
            "expires_at_unix":1,"quorum":2,"approved_by":["alice"]}});
        assert_eq!(outcome(&waiting), "sent; the payout is now pending_approval; 1 of 2 approvals (alice)");
        let refused = json!({"state":"refused","rule":"approval.rejected","message":"bob rejected it"});
        assert_eq!(outcome(&refused), "sent; the payout is now refused (approval.rejected: bob rejected it)");
    }
}
