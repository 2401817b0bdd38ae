//! `coffer screening …` and `coffer screen`: the screening lists (ADR 0015)
//! an operator imports, what an address hits, and the decisions on the
//! payments screening held.
//!
//! Importing writes the list and its audit entry (`screening.list_imported`:
//! name, entries, content hash) into the gateway's database; every gateway
//! on it screens with the list within seconds. Decisions go through a
//! running gateway's operator routes, so its cache and its webhooks follow
//! at once.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use coffer_screening::{Format, ParsedList, ScreeningSet, parse_list};
use coffer_store::StoredList;
use serde_json::{Value, json};

use crate::ConfigArg;
use crate::commands::admin::open_store;
use crate::commands::approvals::TokenArgs;
use crate::commands::approvals::remote::{Remote, Who};

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Import screening lists into the gateway's database (a list of the same name is replaced).
    /// Formats: plain (one address a line), ofac-csv, labelled-csv, contracts-csv, tagpack,
    /// incident-csv; told from the file's name and header unless --format says.
    Import {
        #[command(flatten)]
        config: ConfigArg,
        /// The list files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Their format, if the name and header do not tell.
        #[arg(long)]
        format: Option<String>,
    },
    /// The lists in force: the builtin ones (unless `[screening] builtin = false`) and those imported.
    Lists {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Payments screening held, waiting for a decision (or decided: --state released|rejected).
    Held {
        #[command(flatten)]
        remote: RemoteArgs,
        /// `held`, `released` or `rejected`.
        #[arg(long, default_value = "held")]
        state: String,
    },
    /// Release a held payment: it counts from now on, and its invoice settles with it if paid.
    Release(Decide),
    /// Reject a held payment: never credited; it stays on the held account for a refund or a report.
    Reject(Decide),
}

/// A running gateway's operator routes.
#[derive(clap::Args)]
pub(crate) struct RemoteArgs {
    /// The gateway's operator URL (`http://host:port`, where `GET /v1/treasury` is served).
    #[arg(long, value_name = "URL")]
    gateway: String,
    #[command(flatten)]
    token: TokenArgs,
}

#[derive(clap::Args)]
pub(crate) struct Decide {
    /// The payment (`pay_…`, as the invoice's payments and `coffer screening held` show it).
    payment: String,
    /// Why (goes on the audit log).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// `coffer screen ADDRESS`.
#[derive(clap::Args)]
pub(crate) struct ScreenArgs {
    /// The address: EVM (any case), Bitcoin or TRON.
    address: String,
    /// Lists to screen with besides the builtin ones.
    #[arg(long = "list", value_name = "PATH")]
    lists: Vec<PathBuf>,
    /// Without the builtin lists.
    #[arg(long)]
    no_builtin: bool,
    /// Also the lists imported into this gateway's database.
    #[command(flatten)]
    config: ConfigArg,
    /// Read the imported lists from the database named by the configuration.
    #[arg(long)]
    imported: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Exit 3 when a hit would hold a deposit or refuse a payout.
    #[arg(long)]
    fail_on_hit: bool,
}

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Import { config, paths, format } => import(&config, &paths, format.as_deref()).await,
        Command::Lists { config } => lists(&config).await,
        Command::Held { remote, state } => held(&remote, &state).await,
        Command::Release(decide) => decision(&decide, "release").await,
        Command::Reject(decide) => decision(&decide, "reject").await,
    }
}

pub(crate) fn read_list(path: &Path, format: Option<Format>) -> anyhow::Result<(String, Vec<u8>, ParsedList)> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).context("a list needs a file name")?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let parsed = parse_list(&name, &bytes, format).map_err(|e| anyhow::anyhow!("refused: {e}"))?;
    Ok((name, bytes, parsed))
}

async fn import(config: &ConfigArg, paths: &[PathBuf], format: Option<&str>) -> anyhow::Result<()> {
    let format = format.map(str::parse::<Format>).transpose().map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    // Every file parses before any is stored: a bad line refuses the whole import.
    let parsed = paths.iter().map(|p| read_list(p, format)).collect::<anyhow::Result<Vec<_>>>()?;
    let store = open_store(config).await?;
    for (name, bytes, list) in parsed {
        let stored = StoredList {
            name: name.clone(),
            format: list.meta.format.as_str().to_owned(),
            sha256: list.meta.sha256.clone(),
            entries: list.meta.entries as u64,
            content: bytes,
            imported_at: coffer_domain::Timestamp::now(),
        };
        let record = coffer_gateway::audit::screening_list_imported(&stored, list.meta.non_evm as u64);
        let entry = store.import_screening_list_audited(&stored, &record).await?;
        println!(
            "imported {name} ({}): {} entries, {} EVM, {} other chains {:?}, sha256 {} (audit seq {})",
            list.meta.format,
            list.meta.entries,
            list.meta.evm,
            list.meta.non_evm,
            list.meta.non_evm_by_chain,
            list.meta.sha256,
            entry.seq
        );
        for warning in &list.meta.warnings {
            println!("  kept, but note {warning}");
        }
    }
    Ok(())
}

async fn in_force(config: &ConfigArg) -> anyhow::Result<ScreeningSet> {
    let builtin = config.load()?.screening.builtin;
    let store = open_store(config).await?;
    let lists = coffer_gateway::screening::Lists::load(&*store, builtin).await?;
    Ok((*lists.set()).clone())
}

async fn lists(config: &ConfigArg) -> anyhow::Result<()> {
    let set = in_force(config).await?;
    for meta in set.lists() {
        let version = meta.version.as_deref().map(|v| format!(", version {v}")).unwrap_or_default();
        println!(
            "{:<48} {:<14} {:>7} entries ({} EVM, {} other){version}  sha256 {}",
            meta.name, meta.format, meta.entries, meta.evm, meta.non_evm, meta.sha256
        );
    }
    println!(
        "{} lists: {} distinct EVM addresses, {} other chains' entries",
        set.lists().len(),
        set.evm_len(),
        set.non_evm_len()
    );
    Ok(())
}

/// `coffer screen`: every hit of the address, with its source.
pub(crate) async fn screen(args: ScreenArgs) -> anyhow::Result<()> {
    let mut set = if args.imported {
        in_force(&args.config).await?
    } else {
        let mut set = ScreeningSet::new();
        if !args.no_builtin {
            coffer_screening::builtin().into_iter().for_each(|l| set.add(l));
        }
        set
    };
    for path in &args.lists {
        set.add(read_list(path, None)?.2);
    }
    let hits = set.hits_text(&args.address);
    let blocks = hits.iter().any(|h| h.category.blocks());
    if args.json {
        let shown: Vec<Value> = hits
            .iter()
            .map(|h| {
                json!({ "category": h.category.as_str(), "label": h.label, "source": h.source(),
                        "date": h.date, "version": h.version, "blocks": h.category.blocks() })
            })
            .collect();
        println!("{}", json!({ "address": args.address, "hits": shown, "blocks": blocks }));
    } else if hits.is_empty() {
        println!(
            "{}: no hit in {} lists ({} EVM addresses, {} other chains' entries)",
            args.address,
            set.lists().len(),
            set.evm_len(),
            set.non_evm_len()
        );
    } else {
        for h in &hits {
            let label = h.label.map(|l| format!(" — {l}")).unwrap_or_default();
            let date = h.date.map(|d| format!(" ({d})")).unwrap_or_default();
            let version = h.version.map(|v| format!(" [list version {v}]")).unwrap_or_default();
            let effect = if h.category.blocks() { "holds deposits, refuses payouts" } else { "a label only" };
            println!("{:<11} {}{label}{date}{version}: {effect}", h.category.as_str(), h.source());
        }
    }
    if blocks && args.fail_on_hit {
        std::process::exit(3);
    }
    Ok(())
}

async fn held(remote: &RemoteArgs, state: &str) -> anyhow::Result<()> {
    let gateway = Remote::new(&remote.gateway, Who::Gateway, Some(remote.token.token()?))?;
    let listed = gateway.get(&format!("/v1/operator/holds?state={state}")).await?;
    let payments = listed["data"].as_array().cloned().unwrap_or_default();
    for p in &payments {
        println!("{}", describe(p));
    }
    println!("{} payment(s) {state}", payments.len());
    Ok(())
}

async fn decision(decide: &Decide, action: &str) -> anyhow::Result<()> {
    let gateway = Remote::new(&decide.remote.gateway, Who::Gateway, Some(decide.remote.token.token()?))?;
    let path = format!("/v1/operator/payments/{}/{action}", decide.payment);
    let answer = gateway.post(&path, &json!({ "reason": decide.reason })).await?;
    println!("{}", describe(&answer));
    Ok(())
}

fn describe(p: &Value) -> String {
    let hold = &p["hold"];
    format!(
        "{} {} {} {} from {} (invoice {}, tx {}, {}): {} — {} {}{}",
        p["id"].as_str().unwrap_or("?"),
        hold["state"].as_str().unwrap_or("?"),
        p["amount"].as_str().or(p["amount_units"].as_str()).unwrap_or("?"),
        p["asset"].as_str().unwrap_or("?"),
        p["from"].as_str().unwrap_or("?"),
        p["invoice_id"].as_str().unwrap_or("?"),
        p["tx_hash"].as_str().unwrap_or("?"),
        if p["booked"].as_bool() == Some(true) { "confirmed" } else { "unconfirmed" },
        hold["category"].as_str().unwrap_or("?"),
        hold["source"].as_str().unwrap_or("?"),
        hold["label"].as_str().unwrap_or(""),
        hold["note"].as_str().map(|n| format!(" — decided: {n}")).unwrap_or_default(),
    )
}
