//! What approvers run on their own devices: `coffer approver keygen`,
//! `coffer approve`, `coffer freeze` and `coffer policy …`.
//!
//! Nothing here trusts the gateway: a payout's digest is rebuilt from the
//! fields shown and compared with the one the gateway reports, and the
//! signer checks every signature against its own record anyway. The
//! approver's passphrase comes from `COFFER_APPROVER_PASSPHRASE` or
//! `--passphrase-file`, the operator token from `COFFER_OPERATOR_TOKEN` or
//! `--operator-token-file`: never from a flag's value (argv is readable by
//! every user of the host and lands in shell history).

pub(crate) mod approve;
pub(crate) mod control;
pub(crate) mod keygen;
pub(crate) mod remote;
mod shown;
mod text;

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use coffer_signer::{APPROVER_PASSPHRASE_ENV, ApproverKey, MIN_PASSPHRASE_CHARS, Passphrase};

/// The approver's key file and where its passphrase comes from.
#[derive(clap::Args)]
pub(crate) struct KeyArgs {
    /// The approver's key file (from `coffer approver keygen`).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// A file holding the key's passphrase (one trailing newline is ignored); without it, the
    /// passphrase is read from COFFER_APPROVER_PASSPHRASE.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

/// The approver's passphrase, from the file named or the environment.
fn passphrase(file: Option<&std::path::Path>) -> anyhow::Result<Passphrase> {
    let from = match file {
        Some(file) => format!("the passphrase file {}", file.display()),
        None => format!("the passphrase in {APPROVER_PASSPHRASE_ENV}"),
    };
    Passphrase::resolve_from(file, APPROVER_PASSPHRASE_ENV).context(from)?.ok_or_else(|| {
        anyhow::anyhow!(
            "an approver's key is encrypted with a passphrase: set {APPROVER_PASSPHRASE_ENV} or pass \
             --passphrase-file FILE (at least {MIN_PASSPHRASE_CHARS} characters)"
        )
    })
}

impl KeyArgs {
    /// Opens the key; `--key` is required by the commands that sign.
    fn load(&self) -> anyhow::Result<ApproverKey> {
        let path =
            self.key.as_deref().ok_or_else(|| anyhow::anyhow!("signing needs the approver's key: --key FILE"))?;
        let passphrase = passphrase(self.passphrase_file.as_deref())?;
        Ok(ApproverKey::load_file(path, &passphrase)?)
    }
}

/// The operator token the gateway's operator routes ask for.
#[derive(clap::Args)]
pub(crate) struct TokenArgs {
    /// A file holding the gateway's operator token (`coffer treasury token`); without it, the
    /// token is read from COFFER_OPERATOR_TOKEN.
    #[arg(long, value_name = "FILE")]
    operator_token_file: Option<PathBuf>,
}

/// The variable the operator token may come from.
const TOKEN_ENV: &str = "COFFER_OPERATOR_TOKEN";

impl TokenArgs {
    pub(crate) fn token(&self) -> anyhow::Result<String> {
        let token = match &self.operator_token_file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the operator token file {}", path.display()))?,
            None => std::env::var(TOKEN_ENV).map_err(|_| {
                anyhow::anyhow!(
                    "the gateway's operator routes need its operator token: set {TOKEN_ENV} or pass \
                     --operator-token-file FILE"
                )
            })?,
        };
        let token = token.trim().to_owned();
        anyhow::ensure!(!token.is_empty(), "the operator token is empty");
        Ok(token)
    }
}

/// Where a control request goes: the signer itself, or the gateway's relay.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct Target {
    /// The signer's URL (`http://signer-host:port`): reads `GET /v1/control`, posts there.
    #[arg(long, value_name = "URL")]
    signer: Option<String>,
    /// The gateway's operator URL, when the signer is reachable only through it (the gateway
    /// relays; it cannot sign).
    #[arg(long, value_name = "URL")]
    gateway: Option<String>,
}

/// Asks a person `question` on the terminal; `--yes` answers for scripts.
/// Without a terminal and without `--yes`, nothing is signed.
fn confirm(question: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "not asking on a terminal: read the above, then pass --yes to sign without the question"
    );
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    anyhow::ensure!(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"), "not signed: you did not answer yes");
    Ok(())
}

/// Unix seconds now, by this device's clock.
fn now() -> i64 {
    coffer_domain::Timestamp::now().as_millis() / 1000
}
