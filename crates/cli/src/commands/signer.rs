//! `coffer signer …`: run on the signer's host. The gateway never runs these.
//!
//! The seed's passphrase comes from `COFFER_SIGNER_PASSPHRASE` or from
//! `--passphrase-file`, never from a flag that carries it (argv is visible
//! to every user of the host and lands in shell history).

use std::path::PathBuf;

use anyhow::Context as _;
use coffer_signer::{InitOutcome, KdfCost, OpenOutcome, PASSPHRASE_ENV, Passphrase, SignerHome, SignerKeys};

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Create the signer's seed in DIR, encrypted with a passphrase (mode 0700, never overwritten),
    /// and print what the gateway needs: `xpub …`, `hot_wallet 0x…`, `identity ed25519:…`.
    Init {
        #[command(flatten)]
        home: HomeArgs,
        /// Dev-only: argon2id at its floor (8 MiB, one pass) instead of 64 MiB and three, for
        /// `coffer dev` and tests; never for a seed that guards money.
        #[arg(long)]
        dev_kdf: bool,
    },
    /// Serve the signer from its own directory, database and nodes (`signer.toml`) until SIGTERM.
    /// Prints `listening on http://ADDR` first.
    Run {
        /// The signer's configuration.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Write the signer's audit log (JSON Lines) and its record of the gateway log's heads
    /// (the anchors `coffer audit verify --anchors` checks a gateway log against).
    AuditExport {
        /// The signer's configuration.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Where the log goes (stdout if absent).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Where the gateway heads go.
        #[arg(long, value_name = "FILE")]
        anchors_out: Option<PathBuf>,
    },
    /// Lift a freeze on a signer whose policy lists no approvers, from its
    /// own store, with the signer stopped (with approvers, M of them lift it:
    /// `coffer policy propose unfreeze`). Logged on the signer's audit log.
    Unfreeze {
        /// The signer's configuration.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Who you are, for the audit log.
        #[arg(long)]
        operator: String,
    },
    /// Print the deposit account xpub (`m/44'/60'/0'`) for the gateway's configuration.
    Xpub {
        #[command(flatten)]
        home: HomeArgs,
    },
}

#[derive(clap::Args)]
pub(crate) struct HomeArgs {
    /// The signer's private directory.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// A file holding the seed's passphrase (one trailing newline is ignored); without it,
    /// the passphrase is read from COFFER_SIGNER_PASSPHRASE.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

impl HomeArgs {
    fn passphrase(&self) -> anyhow::Result<Option<Passphrase>> {
        Passphrase::resolve(self.passphrase_file.as_deref()).context(match &self.passphrase_file {
            Some(file) => format!("the passphrase file {}", file.display()),
            None => format!("the passphrase in {PASSPHRASE_ENV}"),
        })
    }
}

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run { config } => {
            let config = coffer_signer::SignerConfig::load(&config).context("invalid signer configuration")?;
            crate::telemetry::init(coffer_config::LogFormat::Human, "info");
            coffer_signer::run(
                config,
                |addr| {
                    // Scripts and tests read the port from this first line.
                    println!("listening on http://{addr}");
                },
                crate::shutdown::signal(),
            )
            .await
            .context("the signer stopped")?;
        }
        Command::AuditExport { config, out, anchors_out } => {
            let config = coffer_signer::SignerConfig::load(&config).context("invalid signer configuration")?;
            let audit = coffer_signer::read_audit(&config).await.context("reading the signer's audit log")?;
            let log = coffer_audit::to_jsonl(&audit.entries);
            match out {
                Some(path) => std::fs::write(&path, log).with_context(|| format!("writing {}", path.display()))?,
                None => print!("{log}"),
            }
            if let Some(path) = anchors_out {
                std::fs::write(&path, coffer_audit::to_jsonl(&audit.anchors))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            eprintln!("{} entries, {} gateway heads", audit.entries.len(), audit.anchors.len());
        }
        Command::Unfreeze { config, operator } => {
            let config = coffer_signer::SignerConfig::load(&config).context("invalid signer configuration")?;
            let version = coffer_signer::unfreeze_without_approvers(&config, &operator)?;
            println!("freeze lifted: policy version {version}; start the signer again for it to apply");
        }
        Command::Init { home, dev_kdf } => {
            let cost = if dev_kdf { KdfCost::Dev } else { KdfCost::Production };
            let passphrase = home.passphrase()?;
            let (outcome, keys) = SignerHome::at(&home.dir).with_kdf_cost(cost).init(passphrase.as_ref())?;
            let dir = home.dir.display();
            match outcome {
                InitOutcome::Created => {
                    eprintln!("created a new seed in {dir}, encrypted at {cost}; back up seed.enc and its passphrase")
                }
                InitOutcome::Existing => eprintln!("{dir} already holds a seed; kept it"),
                InitOutcome::EncryptedLegacy => eprintln!(
                    "encrypted the plain seed.mnemonic in {dir} in place as seed.enc at {cost}; the plain file was \
                     overwritten with zeros and removed"
                ),
            }
            print_public(&keys, true)?;
        }
        Command::Xpub { home } => {
            let passphrase = home.passphrase()?;
            let (outcome, keys) = SignerHome::at(&home.dir).open(passphrase.as_ref())?;
            if outcome == OpenOutcome::EncryptedLegacy {
                eprintln!(
                    "encrypted the plain seed.mnemonic in {} in place as seed.enc at {}",
                    home.dir.display(),
                    KdfCost::Production
                );
            }
            print_public(&keys, false)?;
        }
    }
    Ok(())
}

/// What the gateway's configuration needs, one `name value` a line.
fn print_public(keys: &SignerKeys, all: bool) -> anyhow::Result<()> {
    println!("xpub {}", keys.deposit_xpub()?);
    if all {
        println!("hot_wallet {}", keys.hot_address().to_checksum(None));
        println!("identity {}", keys.identity().public());
    }
    Ok(())
}
