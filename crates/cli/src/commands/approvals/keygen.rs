//! `coffer approver keygen`: a person's approval key, made on their device.

use std::path::PathBuf;

use coffer_signer::{ApproverKey, KdfCost};
use serde_json::json;

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Make an approver's ed25519 key in a new file, encrypted with a passphrase like the signer's
    /// seed (never overwritten), and print the `[[policy.approvals.approvers]]` entry (name, key) for the
    /// signer's signer.toml.
    Keygen {
        /// Where to write the key file (mode 0600).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The approver's name, as the signer will show it on every approval (default: the file's
        /// name without its extension).
        #[arg(long)]
        name: Option<String>,
        /// A file holding the passphrase (one trailing newline is ignored); without it, the
        /// passphrase is read from COFFER_APPROVER_PASSPHRASE.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Dev-only: argon2id at its floor (8 MiB, one pass), for tests; never for a key that
        /// approves real payouts.
        #[arg(long)]
        dev_kdf: bool,
        /// Print `{"name","public_key","file"}` as JSON instead.
        #[arg(long)]
        json: bool,
    },
}

/// A name is written into TOML and shown on audit logs: letters, digits and
/// a few separators keep both plain.
fn check_name(name: &str) -> anyhow::Result<()> {
    let plain = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ' | '@');
    anyhow::ensure!(
        !name.trim().is_empty() && name.len() <= 64 && name.chars().all(plain),
        "the approver's name {name:?} must be 1 to 64 bytes of letters, digits, spaces or - _ . @"
    );
    Ok(())
}

pub(crate) fn run(command: Command) -> anyhow::Result<()> {
    let Command::Keygen { out, name, passphrase_file, dev_kdf, json } = command;
    let name = match name {
        Some(name) => name,
        None => out.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned(),
    };
    check_name(&name)?;
    let passphrase = super::passphrase(passphrase_file.as_deref())?;
    let cost = if dev_kdf { KdfCost::Dev } else { KdfCost::Production };
    let key = ApproverKey::generate()?;
    key.create_file(&out, &passphrase, cost)?;
    let public = key.public();
    if json {
        println!("{}", json!({"name": name, "public_key": public.to_string(), "file": out.display().to_string()}));
        return Ok(());
    }
    eprintln!("wrote {} at {cost}; keep it and its passphrase on this device, and back both up", out.display());
    println!("public key {public}");
    println!();
    println!("# Add to the signer's signer.toml:");
    println!("[[policy.approvals.approvers]]");
    println!("name = \"{name}\"");
    println!("key = \"{public}\"");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_plain() {
        assert!(check_name("alice").is_ok());
        assert!(check_name("Bob Smith-2").is_ok());
        for bad in ["", "  ", "a\"b", "a\nb", "x = 1 #", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
