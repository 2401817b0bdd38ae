//! `coffer ledger check`: verify every invariant of the books.

use coffer_domain::Account;

use crate::ConfigArg;
use crate::commands::admin::open_store;

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Recompute the ledger from its entries and check every invariant, and
    /// (where hot or cold addresses are configured) that the chain's
    /// treasury wallets hold what the books say, within what is in flight;
    /// exits non-zero on any breach, naming each.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    let Command::Check { config } = command;
    let store = open_store(&config).await?;
    let mut report = coffer_watcher::audit::check_ledger(&*store).await?;
    let loaded = config.load()?;
    let treasury = coffer_gateway::treasury::Treasury::from_config(&loaded);
    let wallets = if treasury.has_wallets() {
        coffer_gateway::treasury::lines(&*store, &loaded.asset_book(), &treasury).await?
    } else {
        Vec::new()
    };
    report.breaches.extend(wallets.iter().filter_map(coffer_gateway::treasury::disagreement));
    println!("{} transactions, {} entries, {} payments checked", report.transactions, report.entries, report.payments);
    for (account, balance) in &report.balances {
        let name = match account {
            Account::Deposits(_) => "deposits".to_owned(),
            Account::Suspense(_) => "suspense".to_owned(),
            Account::Losses(_) => "losses (written off)".to_owned(),
            Account::Merchant(merchant, _) => format!("merchant {merchant}"),
            Account::PayoutsReserved(merchant, _) => format!("reserved for payouts of {merchant}"),
            Account::Hot(_) => "hot wallet".to_owned(),
            Account::Cold(_) => "cold address".to_owned(),
            Account::NetworkFees(_) => "network fees".to_owned(),
            Account::Held(_) => "held by screening".to_owned(),
        };
        println!("  {name:<48} {:>40} {}", balance.units(), balance.asset());
    }
    if !wallets.is_empty() {
        println!("treasury wallets beside the books:");
    }
    for line in &wallets {
        println!("  {}", crate::commands::treasury::describe(line));
    }
    if report.is_sound() {
        println!("ledger ok: every invariant holds");
        Ok(())
    } else {
        for breach in &report.breaches {
            eprintln!("BREACH: {breach}");
        }
        anyhow::bail!("{} ledger invariant(s) broken", report.breaches.len())
    }
}
