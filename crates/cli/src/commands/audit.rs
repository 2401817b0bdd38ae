//! `coffer audit export` and `coffer audit verify`: the gateway's audit
//! log as JSON Lines, and the offline check of a log (an export, or the
//! store itself) against its own hash chain, the head the store keeps and,
//! given them, the heads the signer recorded.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use coffer_audit::{Anchor, AnchorCheck, Entry, Head, JsonLine as _, Verifier, parse_jsonl, read_jsonl};
use coffer_store::Store;

use crate::ConfigArg;
use crate::commands::admin::open_store;

/// Entries read from the store at a time.
const PAGE: u32 = 1000;

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Write the gateway's audit log as JSON Lines, one entry a line.
    Export {
        #[command(flatten)]
        config: ConfigArg,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Check an audit log: every entry chained to the one before, none
    /// edited, deleted, inserted or reordered. Prints "ok: N entries, head
    /// HASH", or names the first bad entry and exits 1.
    Verify {
        /// An exported log (JSON Lines) ...
        #[arg(long, value_name = "FILE", required_unless_present = "config", conflicts_with = "config")]
        file: Option<PathBuf>,
        /// ... or the store the configuration names (then the head the
        /// store keeps is checked too: entries cut from the end show).
        #[command(flatten)]
        config: ConfigArg,
        /// The gateway log's heads as the signer recorded them (JSON Lines
        /// of {"at_ms", "head"}): a log rewritten whole, every hash
        /// recomputed, or cut short, fails at the first head it lost.
        #[arg(long, value_name = "FILE")]
        anchors: Option<PathBuf>,
    },
}

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Export { config, out } => export(&*open_store(&config).await?, out.as_deref()).await,
        Command::Verify { file, config, anchors } => {
            let anchors = match anchors {
                Some(path) => read_anchors(&path)?,
                None => Vec::new(),
            };
            let mut check = Check::new(&anchors);
            match file {
                Some(path) => check.file(&path)?,
                None => check.store(&*open_store(&config).await?).await?,
            }
            let (count, head) = check.finish()?;
            println!("ok: {count} entries, head {}", head.hash);
            if !anchors.is_empty() {
                println!("ok: {} of the signer's anchors borne out", anchors.len());
            }
            Ok(())
        }
    }
}

async fn export(store: &dyn Store, out: Option<&Path>) -> anyhow::Result<()> {
    let mut writer: Box<dyn std::io::Write> = match out {
        Some(path) => Box::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = BufWriter::new(&mut writer);
    let (mut count, mut last) = (0u64, 0u64);
    loop {
        let page = store.entries(last, PAGE).await?;
        let Some(tail) = page.last() else { break };
        last = tail.seq;
        for entry in &page {
            writer.write_all(entry.to_line().as_bytes())?;
        }
        count += page.len() as u64;
    }
    writer.flush()?;
    eprintln!("exported {count} entries");
    Ok(())
}

fn read_anchors(path: &Path) -> anyhow::Result<Vec<Anchor>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_jsonl(&text).with_context(|| format!("{} is not a file of anchors", path.display()))
}

/// One pass over a log: its chain, its anchors, and the head its store keeps.
struct Check<'a> {
    verifier: Verifier,
    anchors: AnchorCheck<'a>,
    count: u64,
    /// The store's head, and whether the entry it names was read with its hash.
    stored_head: Option<(Head, Option<bool>)>,
}

impl<'a> Check<'a> {
    fn new(anchors: &'a [Anchor]) -> Self {
        Self { verifier: Verifier::new(), anchors: AnchorCheck::new(anchors), count: 0, stored_head: None }
    }

    fn push(&mut self, entry: &Entry) -> anyhow::Result<()> {
        self.verifier.push(entry)?;
        self.anchors.observe(entry);
        if let Some((head, seen)) = &mut self.stored_head
            && head.seq == entry.seq
        {
            *seen = Some(head.hash == entry.hash);
        }
        self.count += 1;
        Ok(())
    }

    fn file(&mut self, path: &Path) -> anyhow::Result<()> {
        let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        for entry in read_jsonl::<Entry, _>(BufReader::new(file)) {
            let entry = entry.with_context(|| format!("{} is not an audit log export", path.display()))?;
            self.push(&entry)?;
        }
        Ok(())
    }

    async fn store(&mut self, store: &dyn Store) -> anyhow::Result<()> {
        // The head first: entries appended meanwhile come after it.
        self.stored_head = Some((store.head().await?, None));
        let mut last = 0;
        loop {
            let page = store.entries(last, PAGE).await?;
            let Some(tail) = page.last() else { return Ok(()) };
            last = tail.seq;
            for entry in &page {
                self.push(entry)?;
            }
        }
    }

    fn finish(self) -> anyhow::Result<(u64, Head)> {
        let head = self.verifier.finish()?;
        if let Some((stored, seen)) = self.stored_head
            && stored.seq > 0
        {
            match seen {
                Some(true) => {}
                Some(false) => anyhow::bail!(
                    "audit log broken at entry {}: edited: the store's head names it with hash {}, the log holds \
                     another: it was rewritten, its hash recomputed",
                    stored.seq,
                    stored.hash
                ),
                None => anyhow::bail!(
                    "audit log broken at entry {}: deleted: the store's head names entry {} (hash {}), but the log \
                     ends at entry {}: entries were deleted from its end",
                    head.seq + 1,
                    stored.seq,
                    stored.hash,
                    head.seq
                ),
            }
        }
        self.anchors.finish()?;
        Ok((self.count, head))
    }
}
