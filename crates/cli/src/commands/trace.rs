//! `coffer trace`: where did the money go (or come from), hop by hop, over
//! a node or a CSV export; `coffer trace link`: where incidents' funds met.
//! Labels (where a trace stops: exchanges, mixers, bridges) come from the
//! shipped screening lists and any `--list FILE`.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, U256};
use anyhow::{Context as _, bail};
use coffer_screening::ScreeningSet;
use coffer_trace::{
    Direction, LinkReport, MemorySource, Params, RpcSource, Rule, Start, Trace, Units, parse_transfers_csv,
};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Where to start: addresses (everything they sent, or received with
    /// --backward), or one transaction hash.
    #[arg(value_name = "ADDRESS|TX")]
    start: Vec<String>,
    /// Where did it come from, instead of where did it go.
    #[arg(long)]
    backward: bool,
    #[command(flatten)]
    options: Options,
    /// Write the whole graph as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write every transfer followed as CSV here (evidence).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Draw the graph as SVG here.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Trace each incident forward and report the addresses, transactions
    /// and services two or more of them share, with the paths to them.
    Link(LinkArgs),
}

#[derive(clap::Args)]
struct LinkArgs {
    /// An incident: `NAME=ADDR[,ADDR…]` (repeat for each).
    #[arg(long = "incident", value_name = "NAME=ADDRS", required = true)]
    incidents: Vec<String>,
    #[command(flatten)]
    options: Options,
    /// Write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Where the transfers come from and how far to follow them.
#[derive(clap::Args)]
struct Options {
    /// A node's JSON-RPC URL.
    #[arg(long, value_name = "URL", conflicts_with = "transfers")]
    rpc_url: Option<String>,
    /// Transfers from a CSV export (`block_time,from,to,total_eth`) instead of a node.
    #[arg(long, value_name = "FILE")]
    transfers: Option<PathBuf>,
    /// First block read (with --rpc-url).
    #[arg(long, default_value_t = 0)]
    from_block: u64,
    /// Last block read (default: the node's head).
    #[arg(long)]
    to_block: Option<u64>,
    /// Only these ERC-20 contracts (default: every token).
    #[arg(long = "token", value_name = "CONTRACT")]
    tokens: Vec<Address>,
    /// Hops at most.
    #[arg(long, default_value_t = 5)]
    depth: u32,
    /// Ether transfers carrying less of the funds than this (in ETH) are not followed.
    #[arg(long, default_value = "0.001")]
    dust: String,
    /// The same for tokens, in base units.
    #[arg(long, default_value_t = 1_000)]
    token_dust: u64,
    /// How payments are matched to receipts: `fifo` or `proportional`.
    #[arg(long, default_value = "fifo")]
    rule: String,
    /// Addresses read, at most.
    #[arg(long, default_value_t = 2_000)]
    max_addresses: usize,
    /// More label lists (any screening-list format): where to stop, what to flag.
    #[arg(long = "list", value_name = "FILE")]
    lists: Vec<PathBuf>,
    /// Leave out the shipped lists' labels.
    #[arg(long)]
    no_builtin: bool,
}

enum Source {
    Node(RpcSource),
    File(MemorySource),
}

impl Options {
    fn params(&self, direction: Direction) -> anyhow::Result<Params> {
        let rule = Rule::parse(&self.rule).with_context(|| format!("--rule {:?}: fifo or proportional", self.rule))?;
        let dust = coffer_trace::parse_ether(&self.dust).map_err(|e| anyhow::anyhow!("--dust: {e}"))?;
        Ok(Params {
            direction,
            max_depth: self.depth,
            dust,
            token_dust: U256::from(self.token_dust),
            rule,
            max_addresses: self.max_addresses,
        })
    }

    fn labels(&self) -> anyhow::Result<ScreeningSet> {
        let mut set = ScreeningSet::new();
        if !self.no_builtin {
            coffer_screening::builtin().into_iter().for_each(|l| set.add(l));
        }
        for path in &self.lists {
            set.add(super::screening::read_list(path, None)?.2);
        }
        Ok(set)
    }

    async fn source(&self) -> anyhow::Result<Source> {
        if let Some(path) = &self.transfers {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let name =
                path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
            let transfers = parse_transfers_csv(&name, &text)?;
            let note = format!("{} transfers from the CSV export {name} (ether)", transfers.len());
            return Ok(Source::File(MemorySource::new(transfers, note)));
        }
        let Some(url) = &self.rpc_url else { bail!("say where the transfers are: --rpc-url URL or --transfers FILE") };
        let to = match self.to_block {
            Some(to) => to,
            None => RpcSource::head(url).await.with_context(|| format!("asking {url} for its head"))?,
        };
        Ok(Source::Node(RpcSource::new(url, self.from_block, to, self.tokens.clone())?))
    }
}

fn parse_start(texts: &[String]) -> anyhow::Result<Start> {
    if let [one] = texts
        && one.len() == 66
    {
        return Ok(Start::Transaction(
            one.parse::<B256>().with_context(|| format!("{one:?} is not a transaction hash"))?,
        ));
    }
    if texts.is_empty() {
        bail!("where to start: an address or a transaction hash");
    }
    let addresses = texts
        .iter()
        .flat_map(|t| t.split(','))
        .map(|t| t.trim().parse::<Address>().with_context(|| format!("{t:?} is not an address or a transaction hash")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Start::Addresses(addresses))
}

async fn run_trace(
    source: &mut Source,
    labels: &ScreeningSet,
    start: &Start,
    params: &Params,
) -> anyhow::Result<Trace> {
    Ok(match source {
        Source::Node(node) => coffer_trace::trace(node, labels, start, params).await?,
        Source::File(file) => coffer_trace::trace(file, labels, start, params).await?,
    })
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(Command::Link(link)) = args.command {
        return run_link(link).await;
    }
    let direction = if args.backward { Direction::Backward } else { Direction::Forward };
    let params = args.options.params(direction)?;
    let labels = args.options.labels()?;
    let start = parse_start(&args.start)?;
    let mut source = args.options.source().await?;
    let trace = run_trace(&mut source, &labels, &start, &params).await?;
    let units = Units::new();
    print!("{}", trace.summary_table(&units));
    if let Some(path) = &args.json {
        write(path, &serde_json::to_string_pretty(&trace.to_json())?)?;
    }
    if let Some(path) = &args.csv {
        write(path, &trace.to_csv())?;
    }
    if let Some(path) = &args.svg {
        write(path, &trace.to_svg(&units))?;
    }
    Ok(())
}

async fn run_link(args: LinkArgs) -> anyhow::Result<()> {
    let params = args.options.params(Direction::Forward)?;
    let labels = args.options.labels()?;
    let mut source = args.options.source().await?;
    let mut traced = Vec::new();
    for incident in &args.incidents {
        let (name, addresses) =
            incident.split_once('=').with_context(|| format!("--incident {incident:?}: NAME=ADDR[,ADDR…]"))?;
        let start = parse_start(&[addresses.to_owned()])?;
        let trace = run_trace(&mut source, &labels, &start, &params).await?;
        eprintln!("{name}: {} addresses read, {} transfers followed", trace.addresses_read, trace.edges.len());
        traced.push((name.to_owned(), trace));
    }
    let report: LinkReport = coffer_trace::link(&traced);
    print!("{}", report.to_text(&Units::new()));
    if let Some(path) = &args.json {
        write(path, &serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
