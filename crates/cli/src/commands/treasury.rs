//! `coffer treasury`: the treasury's wallets beside the books, and the
//! operator token the treasury view (`GET /v1/treasury`) asks for.

use coffer_gateway::treasury::{ChainReading, Treasury, TreasuryLine, lines};

use crate::ConfigArg;
use crate::commands::admin::open_store;

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Per chain and asset: what the books say the deposit addresses, the hot
    /// wallet and the cold address hold, beside what the chain says.
    Show {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Make an operator token: prints it (shown once) and the
    /// `operator_token_sha256` line for coffer.toml.
    Token,
    /// Make the gateway's request key for the signer (ed25519, a new file of mode 0600, never
    /// overwritten) and print its public half for the signer's `gateway_public_key`. The key
    /// proves a request came from the gateway; it moves no money by itself.
    RequestKey {
        /// Where to write it (then `[signer] request_key_file` in coffer.toml).
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
}

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::RequestKey { out } => {
            let key = coffer_signer_api::RequestKey::generate()?;
            key.create_file(&out).map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
            println!("gateway_public_key = \"{}\"", key.public());
            Ok(())
        }
        Command::Show { config } => {
            let loaded = config.load()?;
            let store = open_store(&config).await?;
            let treasury = Treasury::from_config(&loaded);
            for line in lines(&*store, &loaded.asset_book(), &treasury).await? {
                println!("{}", describe(&line));
            }
            Ok(())
        }
        Command::Token => {
            let (token, digest) = coffer_gateway::admin::operator_token()?;
            println!("operator token (shown once): {token}");
            println!("in coffer.toml: operator_token_sha256 = \"{digest}\"");
            Ok(())
        }
    }
}

/// One line for people.
pub(crate) fn describe(line: &TreasuryLine) -> String {
    let b = &line.books;
    let reading = |r: &ChainReading| match r {
        ChainReading::Holds(units) => units.to_string(),
        ChainReading::Unconfigured => "-".to_owned(),
        ChainReading::Unreadable(why) => format!("unreadable ({why})"),
    };
    let booked = |u: Option<coffer_domain::U256>| u.map_or("below zero".to_owned(), |u| u.to_string());
    let verdict = match line.agrees {
        Some(true) => "agrees",
        Some(false) => "DISAGREES",
        None => "not compared",
    };
    format!(
        "{:<16} books: deposits {} hot {} cold {} reserved {} fees {} | in flight: payouts {} sweeps {} | chain: hot {} cold {} | {verdict}",
        b.asset.to_string(),
        b.deposits,
        booked(b.hot),
        booked(b.cold),
        b.reserved,
        b.network_fees,
        b.payouts_in_flight,
        b.sweeps_in_flight,
        reading(&line.chain_hot),
        reading(&line.chain_cold),
    )
}
