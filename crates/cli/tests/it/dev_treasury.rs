//! `coffer dev` with its treasury, run as a user runs it: a real anvil, a
//! real signer process, the gateway's real SQLite file, `coffer dev pay` and
//! `coffer dev payout` as separate commands. Money goes in (invoices paid,
//! swept into the hot wallet), money goes out under the signer's policy, and
//! both audit logs, and the heads the signer recorded of the gateway's, hold
//! up to `coffer audit verify`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod scan;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use coffer_audit::{Anchor, Entry, Hash, Head, parse_jsonl, to_jsonl};
use coffer_devnet::{Rpc, TestToken};
use serde_json::{Value, json};

use crate::support::{Running, coffer, run_err, run_ok};

/// One `coffer dev` in a fresh directory, its stdout and stderr in files.
struct Dev {
    /// The temp dir the user runs `coffer dev` from.
    root: tempfile::TempDir,
    process: Running,
    info: Value,
    client: reqwest::Client,
}

impl Dev {
    /// The directory `coffer dev` keeps its state in (`./.coffer-dev`).
    fn state(root: &Path) -> PathBuf {
        root.join(".coffer-dev")
    }

    /// Starts `coffer dev` in `root` (which may hold a prepared state) and
    /// waits for its `dev.json`.
    fn start(root: tempfile::TempDir) -> Self {
        let out = File::create(root.path().join("dev.stdout")).unwrap();
        let err = File::create(root.path().join("dev.stderr")).unwrap();
        let child = coffer()
            .args(["dev", "--listen", "127.0.0.1:0"])
            .current_dir(root.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        let process = Running { child };
        let info_path = Self::state(root.path()).join("dev.json");
        let info = wait_for("dev.json", Duration::from_secs(90), || {
            serde_json::from_slice::<Value>(&std::fs::read(&info_path).ok()?).ok()
        });
        Self { root, process, info, client: reqwest::Client::new() }
    }

    fn dir(&self) -> PathBuf {
        Self::state(self.root.path())
    }

    fn field(&self, name: &str) -> &str {
        self.info[name].as_str().unwrap_or_else(|| panic!("dev.json lacks {name}: {}", self.info))
    }

    fn rpc(&self) -> Rpc {
        Rpc::new(self.field("rpc_url"))
    }

    fn usdt(&self) -> TestToken {
        // The deployer only matters for minting, which this test leaves to `coffer dev pay`.
        TestToken::at(self.field("usdt_address").parse().unwrap(), Address::ZERO)
    }

    fn hot(&self) -> Address {
        self.field("hot_wallet").parse().unwrap()
    }

    /// A `coffer …` command run from the user's directory.
    fn coffer(&self, args: &[&str]) -> Command {
        let mut command = coffer();
        command.args(args).current_dir(self.root.path());
        command
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.field("gateway_url"));
        let mut request = self.client.request(method, url).bearer_auth(self.field("api_key"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// Creates an invoice, pays it in full with `coffer dev pay`, and waits until it settles.
    async fn pay_invoice(&self, amount: &str, asset: &str) -> String {
        let body = json!({"amount": amount, "asset": asset, "chain_id": 31337});
        let invoice = self.api(reqwest::Method::POST, "/v1/invoices", Some(body)).await;
        let id = invoice["id"].as_str().unwrap().to_owned();
        let paid = run_ok(&mut self.coffer(&["dev", "pay", &id]));
        assert!(paid.contains(&format!("paid {amount} {asset}")), "{paid}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = self.api(reqwest::Method::GET, &format!("/v1/invoices/{id}"), None).await;
            if now["status"] == "settled" {
                return id;
            }
            assert!(Instant::now() < deadline, "invoice {id} did not settle within 60 s: {now:#}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the hot wallet holds at least this much ETH (wei) and USDT (units) on chain.
    async fn wait_for_hot(&self, eth_at_least: U256, usdt_at_least: U256) {
        let (rpc, usdt, hot) = (self.rpc(), self.usdt(), self.hot());
        // The dev sweeper runs every 10 s; an ERC-20 deposit needs a gas top-up first.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let eth = rpc.balance(hot).await.unwrap();
            let tokens = usdt.balance_of(&rpc, hot).await.unwrap();
            if eth >= eth_at_least && tokens >= usdt_at_least {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the sweeps left the hot wallet with {eth} wei and {tokens} USDT units; coffer dev logged:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// `coffer dev payout`, its output.
    fn payout(&self, amount: &str, asset: &str, to: Address) -> String {
        run_ok(&mut self.coffer(&[
            "dev",
            "payout",
            "--amount",
            amount,
            "--asset",
            asset,
            "--to",
            &to.to_checksum(None),
        ]))
    }

    /// What `coffer dev` printed so far, stdout then stderr (the signer's logs included).
    fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.root.path().join(name)).unwrap();
        format!("{}{}", read("dev.stdout"), read("dev.stderr"))
    }

    /// SIGTERM, as Ctrl-C; then its stdout and stderr.
    fn stop(mut self) -> (tempfile::TempDir, String) {
        assert!(self.process.terminate().success(), "coffer dev did not exit cleanly");
        let logs = self.logs();
        drop(self.process);
        (self.root, logs)
    }
}

/// Polls `f` every 50 ms until it gives a value.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} not there within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn eth(tenths: u64) -> U256 {
    U256::from(tenths) * U256::from(100_000_000_000_000_000u64)
}

fn usdt(whole: u64) -> U256 {
    U256::from(whole) * U256::from(1_000_000u64)
}

/// The payout's id from `coffer dev payout`'s last line.
fn payout_id(output: &str) -> &str {
    output.lines().last().and_then(|l| l.split_whitespace().nth(1)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coffer_dev_pays_out_within_policy_refuses_over_it_and_both_audit_logs_verify() {
    let dev = Dev::start(tempfile::tempdir().unwrap());
    // Both paid before a sweep round: a fresh hot wallet holds no ETH, so
    // the signer refuses the USDT sweep's gas top-up (`treasury.insufficient`)
    // until the ETH deposit is swept in; the gateway asks again in a later
    // round (a refused sweep moved nothing), and then it goes.
    dev.pay_invoice("1", "ETH").await;
    dev.pay_invoice("250", "USDT").await;
    // Both deposits swept: the hot wallet holds the 250 USDT, and the ETH less the fees.
    dev.wait_for_hot(eth(9), usdt(250)).await;

    let (rpc, token) = (dev.rpc(), dev.usdt());
    let (usdt_payee, eth_payee, refused_payee) =
        (Address::repeat_byte(0x5a), Address::repeat_byte(0x5b), Address::repeat_byte(0x5c));
    let five = dev.payout("5", "USDT", usdt_payee);
    assert!(five.lines().last().unwrap().contains("confirmed: tx 0x"), "{five}");
    assert_eq!(token.balance_of(&rpc, usdt_payee).await.unwrap(), usdt(5), "the payee holds 5 USDT on chain");

    let over = dev.payout("150", "USDT", refused_payee);
    let last = over.lines().last().unwrap();
    assert!(last.contains("refused by the signer's policy: limit.per_payout ("), "{over}");
    assert_eq!(token.balance_of(&rpc, refused_payee).await.unwrap(), U256::ZERO);

    let tenth = dev.payout("0.1", "ETH", eth_payee);
    assert!(tenth.lines().last().unwrap().contains("confirmed: tx 0x"), "{tenth}");
    assert_eq!(rpc.balance(eth_payee).await.unwrap(), eth(1), "the payee holds 0.1 ETH on chain");

    check_audit_logs(&dev, payout_id(&five));
    let (_root, _logs) = dev.stop();
}

/// Both logs verify; the gateway's, exported, matches the heads the signer
/// recorded; an edited line is named; a log rewritten whole verifies on its
/// own and only the anchors catch it.
fn check_audit_logs(dev: &Dev, five: &str) {
    let dir = dev.dir();
    let (gateway_config, signer_config) = (dir.join("coffer.toml"), dir.join("signer/signer.toml"));
    let gateway_config = gateway_config.to_str().unwrap();
    let verified = run_ok(&mut dev.coffer(&["audit", "verify", "--config", gateway_config]));
    assert!(verified.starts_with("ok: "), "{verified}");

    run_ok(&mut dev.coffer(&[
        "signer",
        "audit-export",
        "--config",
        signer_config.to_str().unwrap(),
        "--out",
        "signer.jsonl",
        "--anchors-out",
        "anchors.jsonl",
    ]));
    let signer_log = run_ok(&mut dev.coffer(&["audit", "verify", "--file", "signer.jsonl"]));
    assert!(signer_log.starts_with("ok: "), "{signer_log}");
    let anchors = std::fs::read_to_string(dev.root.path().join("anchors.jsonl")).unwrap();
    assert!(anchors.lines().count() >= 3, "the signer recorded the heads of several requests: {anchors}");

    // Exported after the anchors: it holds every head they name.
    run_ok(&mut dev.coffer(&["audit", "export", "--config", gateway_config, "--out", "gateway.jsonl"]));
    let anchored =
        run_ok(&mut dev.coffer(&["audit", "verify", "--file", "gateway.jsonl", "--anchors", "anchors.jsonl"]));
    assert!(anchored.contains("of the signer's anchors borne out"), "{anchored}");

    let exported = std::fs::read_to_string(dev.root.path().join("gateway.jsonl")).unwrap();
    let entries: Vec<Entry> = parse_jsonl(&exported).unwrap();
    let target = entries
        .iter()
        .position(|e| e.record.action == "payout.requested" && e.record.subject == five)
        .unwrap_or_else(|| panic!("no payout.requested for {five} in {exported}"));
    let seq = entries[target].seq;
    assert_eq!(entries[target].record.detail["units"], "5000000", "{:?}", entries[target]);

    // One line edited in place: its hash no longer matches.
    let mut lines: Vec<String> = exported.lines().map(str::to_owned).collect();
    let mut line: Value = serde_json::from_str(&lines[target]).unwrap();
    line["detail"]["units"] = json!("50000000");
    lines[target] = line.to_string();
    std::fs::write(dev.root.path().join("edited.jsonl"), lines.join("\n") + "\n").unwrap();
    let edited = run_err(&mut dev.coffer(&["audit", "verify", "--file", "edited.jsonl"]));
    let stderr = String::from_utf8_lossy(&edited.stderr);
    assert!(stderr.contains(&format!("audit log broken at entry {seq}: edited")), "{stderr}");

    // Rewritten whole, every hash recomputed: a chain that verifies.
    let mut head = Head::EMPTY;
    let rewritten: Vec<Entry> = entries
        .iter()
        .map(|e| {
            let mut record = e.record.clone();
            if e.seq == seq {
                record.detail["units"] = json!("50000000");
            }
            let entry = Entry::next(head, record);
            head = entry.head();
            entry
        })
        .collect();
    std::fs::write(dev.root.path().join("rewritten.jsonl"), to_jsonl(&rewritten)).unwrap();
    let alone = run_ok(&mut dev.coffer(&["audit", "verify", "--file", "rewritten.jsonl"]));
    assert!(alone.starts_with(&format!("ok: {} entries", entries.len())), "{alone}");
    let caught =
        run_err(&mut dev.coffer(&["audit", "verify", "--file", "rewritten.jsonl", "--anchors", "anchors.jsonl"]));
    let stderr = String::from_utf8_lossy(&caught.stderr);
    // The first anchor at or past the entry rewritten is lost; the log is as
    // the signer saw it up to the anchor before.
    let seq_of =
        |head| if head == Hash::ZERO { Some(0) } else { entries.iter().find(|e| e.hash == head).map(|e| e.seq) };
    let anchors: Vec<Anchor> = parse_jsonl(&anchors).unwrap();
    let first_lost = anchors
        .iter()
        .position(|a| seq_of(a.head).unwrap() >= seq)
        .unwrap_or_else(|| panic!("no anchor at or after entry {seq}: {anchors:?}"));
    let confirmed = anchors[..first_lost].iter().map(|a| seq_of(a.head).unwrap()).max().unwrap_or(0);
    let since = if confirmed == 0 { "from its first entry".to_owned() } else { format!("after entry {confirmed}") };
    let expected = format!("disagrees with the signer's anchor {}: lost: ", first_lost + 1);
    assert!(stderr.contains(&expected) && stderr.contains(&format!("rewritten {since}")), "{stderr}");
}

/// Guards the gateway's half of the trust boundary: whatever `coffer dev`'s
/// gateway writes (its SQLite database with its WAL, its configuration,
/// `dev.json`) and whatever `coffer dev` logs (the signer's logs included)
/// holds no key material: not the seed's words, not the BIP-39 seed, no
/// private key of the hot wallet or of a deposit, not the account xprv, not
/// the passphrase that opens the seed. A key that leaks there leaks to
/// whoever reads a backup of the gateway's host. The seed is a known phrase
/// written as a legacy plain `seed.mnemonic`, which `coffer dev` must
/// encrypt in place before anything else reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_the_gateway_writes_holds_key_material() {
    let root = tempfile::tempdir().unwrap();
    let secrets = scan::Secrets::generate();
    let signer_dir = Dev::state(root.path()).join("signer");
    scan::write_legacy_seed(&signer_dir, &secrets.phrase);

    let dev = Dev::start(root);
    assert!(!signer_dir.join("seed.mnemonic").exists(), "the plain seed is still there");
    assert!(signer_dir.join("seed.enc").exists(), "no encrypted seed");
    assert_eq!(dev.field("xpub"), secrets.xpub, "the signer uses the phrase written");
    assert_eq!(dev.hot(), secrets.hot_address, "the signer uses the phrase written");

    dev.pay_invoice("1", "ETH").await;
    dev.wait_for_hot(eth(9), U256::ZERO).await;
    let payout = dev.payout("0.1", "ETH", Address::repeat_byte(0x5d));
    assert!(payout.lines().last().unwrap().contains("confirmed: tx 0x"), "{payout}");

    let state = dev.dir();
    let passphrase = std::fs::read_to_string(state.join("signer-passphrase.dev-only")).unwrap();
    let needles = secrets.needles(passphrase.trim());
    // The WAL as it is while the gateway runs: its pages move into the db on a clean stop.
    let running = scan::copy_dir(&state.join("gateway"), &dev.root.path().join("gateway-running"));
    let (root, logs) = dev.stop();

    let mut files = scan::files_under(&state.join("gateway"));
    files.extend(running);
    files.extend([state.join("coffer.toml"), state.join("dev.json")]);
    assert!(files.iter().any(|f| f.ends_with("coffer.db")), "no database scanned: {files:?}");
    let logs_file = root.path().join("dev.logs");
    std::fs::write(&logs_file, &logs).unwrap();
    files.push(logs_file);
    assert!(logs.contains("listening on") || logs.contains("gateway on"), "no logs captured: {logs}");
    for file in &files {
        let found = scan::findings(&std::fs::read(file).unwrap(), &needles);
        assert!(found.is_empty(), "{} holds key material: {found:?}", file.display());
    }

    // The scanner finds what it looks for, in a file read as the others are.
    let control = root.path().join("control.bin");
    let words: Vec<&str> = secrets.phrase.split(' ').collect();
    let mut bytes = format!("note: {} …\n", words[7..10].join(" ")).into_bytes();
    bytes.extend_from_slice(&secrets.seed);
    bytes.extend_from_slice(scan::hex(&secrets.hot_key).to_uppercase().as_bytes());
    std::fs::write(&control, bytes).unwrap();
    let found = scan::findings(&std::fs::read(&control).unwrap(), &needles);
    for expected in ["phrase words 8-10", "BIP-39 seed (raw)", "hot wallet key (HEX)"] {
        assert!(found.iter().any(|f| f == expected), "the scanner missed {expected}: {found:?}");
    }
}
