//! `coffer config check`.

use crate::ConfigArg;

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Validate the configuration; print it with secrets redacted.
    Check(ConfigArg),
}

pub(crate) fn run(command: Command) -> anyhow::Result<()> {
    let Command::Check(arg) = command;
    let config = arg.load()?;
    println!("configuration is valid:\n{config:#?}");
    Ok(())
}
