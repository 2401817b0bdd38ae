//! `coffer signer …`: run on the signer's host. The gateway never runs these.

use std::path::PathBuf;

use coffer_signer::{InitOutcome, SignerHome};

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Create the signer's seed in DIR (mode 0700, never overwritten) and print the account xpub.
    Init {
        /// The signer's private directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print the account xpub (`m/44'/60'/0'`) for the gateway's configuration.
    Xpub {
        /// The signer's private directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

pub(crate) fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Init { dir } => {
            let (outcome, seed) = SignerHome::at(&dir).init()?;
            match outcome {
                InitOutcome::Created => eprintln!("created a new seed in {}; back it up offline", dir.display()),
                InitOutcome::Existing => eprintln!("{} already holds a seed; kept it", dir.display()),
            }
            println!("{}", seed.account_xpub()?);
        }
        Command::Xpub { dir } => println!("{}", SignerHome::at(&dir).load()?.account_xpub()?),
    }
    Ok(())
}
