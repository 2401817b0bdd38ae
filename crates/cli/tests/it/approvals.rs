//! `coffer approver keygen`, `coffer approve`, `coffer freeze` and
//! `coffer policy …`, run as an approver runs them: the real binary, real
//! HTTP. The server they talk to is a double (`http_double.rs`) that plays
//! the gateway or the signer with canned answers and records what it was
//! sent; here we check what the commands show, refuse and sign. What a real
//! signer makes of the signatures is tested end to end against real signers.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use coffer_domain::{ChainId, U256};
use coffer_signer_api::{
    Approval, ChangeProposal, ControlRequest, ControlState, Decision, PayoutApproval, PayoutIntent, PolicyChange,
    Profile, PublicKey,
};
use serde_json::{Value, json};

use crate::http_double::Double;
use crate::support::{coffer, run_err, run_ok};

const PASSPHRASE: &str = "correct horse battery staple";
const TOKEN: &str = "coffer_op_testtoken";
const PAYOUT: &str = "po_0195f3a0c1b27c3e9a4d5e6f70812345";
const MERCHANT: &str = "mer_0195f3a0c1b27c3e9a4d5e6f70812345";
const DESTINATION: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// An approver's key file made by `coffer approver keygen`, and its public key.
fn keygen(dir: &Path, name: &str) -> (PathBuf, PublicKey) {
    let out = dir.join(format!("{name}.key"));
    let stdout = run_ok(
        coffer()
            .args(["approver", "keygen", "--dev-kdf", "--json", "--name", name, "--out"])
            .arg(&out)
            .env("COFFER_APPROVER_PASSPHRASE", PASSPHRASE),
    );
    let printed: Value = serde_json::from_str(&stdout).unwrap();
    (out, printed["public_key"].as_str().unwrap().parse().unwrap())
}

/// `coffer` with the approver's passphrase and the operator token in the environment.
fn approver() -> Command {
    let mut command = coffer();
    command.env("COFFER_APPROVER_PASSPHRASE", PASSPHRASE).env("COFFER_OPERATOR_TOKEN", TOKEN);
    command
}

#[test]
fn keygen_writes_a_sealed_key_once_and_prints_the_signer_toml_entry() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("alice.key");
    let passphrase = dir.path().join("passphrase");
    std::fs::write(&passphrase, format!("{PASSPHRASE}\n")).unwrap();
    let stdout = run_ok(
        coffer().args(["approver", "keygen", "--dev-kdf", "--out"]).arg(&out).arg("--passphrase-file").arg(&passphrase),
    );
    let public = stdout.lines().next().unwrap().strip_prefix("public key ").unwrap().to_owned();
    assert!(public.parse::<PublicKey>().is_ok(), "{stdout}");
    assert!(
        stdout.contains(&format!("[[policy.approvals.approvers]]\nname = \"alice\"\nkey = \"{public}\"\n")),
        "the name defaults to the file's: {stdout}"
    );
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    let file: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(file["format"], "coffer-approver-key/1");
    assert_eq!(file["kdf"]["algorithm"], "argon2id");

    let before = std::fs::read(&out).unwrap();
    let again = run_err(
        coffer().args(["approver", "keygen", "--dev-kdf", "--out"]).arg(&out).arg("--passphrase-file").arg(&passphrase),
    );
    assert!(stderr(&again).contains("refusing to overwrite"), "{}", stderr(&again));
    assert_eq!(std::fs::read(&out).unwrap(), before);

    let none = run_err(coffer().args(["approver", "keygen", "--out"]).arg(dir.path().join("bob.key")));
    assert!(
        stderr(&none).contains("set COFFER_APPROVER_PASSPHRASE or pass --passphrase-file FILE"),
        "{}",
        stderr(&none)
    );
    let seed_pass = run_err(
        coffer()
            .args(["approver", "keygen", "--out"])
            .arg(dir.path().join("bob.key"))
            .env("COFFER_SIGNER_PASSPHRASE", PASSPHRASE),
    );
    assert!(stderr(&seed_pass).contains("COFFER_APPROVER_PASSPHRASE"), "the signer's variable is not the approver's");
}

/// A waiting payout, and its digest computed here from the same fields.
fn waiting_payout(expires_at: i64) -> (Value, coffer_signer_api::Digest) {
    let intent = PayoutIntent {
        id: PAYOUT.parse().unwrap(),
        merchant: MERCHANT.parse().unwrap(),
        chain_id: ChainId(31337),
        asset: "USDT".parse().unwrap(),
        amount: U256::from(2_500_000_000u64),
        destination: DESTINATION.parse().unwrap(),
    };
    let digest = PayoutApproval { payout: intent, expires_at }.digest();
    let shown = json!({
        "id": PAYOUT, "merchant": MERCHANT, "chain_id": 31337, "asset": "USDT",
        "amount": "2500", "amount_units": "2500000000", "destination": DESTINATION,
        "status": "pending_approval",
        "approval": {"digest": digest.to_string(), "expires_at": rfc3339(expires_at), "expires_at_unix": expires_at,
            "quorum": 2, "approved_by": []},
        "refund_of": null, "created_at": rfc3339(expires_at - 3600), "updated_at": rfc3339(expires_at - 3600),
    });
    (shown, digest)
}

/// As the gateway writes times.
fn rfc3339(secs: i64) -> String {
    coffer_domain::Timestamp::from_unix_secs(u64::try_from(secs).unwrap()).to_rfc3339()
}

fn now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn gateway_showing(shown: &Value, answer: Value) -> Double {
    Double::start(vec![
        ("GET", format!("/v1/operator/payouts/{PAYOUT}"), 200, shown.to_string()),
        ("POST", format!("/v1/payouts/{PAYOUT}/approvals"), 200, answer.to_string()),
    ])
}

#[test]
fn approve_refuses_a_gateway_whose_digest_is_not_the_fields_it_shows() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path(), "alice");
    let (honest, _) = waiting_payout(now() + 600);
    // The gateway shows 2500 USDT to the honest destination, and asks for a
    // signature of another payout: the digest of 2500 USDT to its own address.
    let their_digest = {
        let intent = PayoutIntent {
            id: PAYOUT.parse().unwrap(),
            merchant: MERCHANT.parse().unwrap(),
            chain_id: ChainId(31337),
            asset: "USDT".parse().unwrap(),
            amount: U256::from(2_500_000_000u64),
            destination: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC".parse().unwrap(),
        };
        PayoutApproval { payout: intent, expires_at: honest["approval"]["expires_at_unix"].as_i64().unwrap() }.digest()
    };
    let mut lying = honest.clone();
    lying["approval"]["digest"] = their_digest.to_string().into();
    let gateway = gateway_showing(&lying, json!({"state": "pending_approval"}));
    for extra in [&["--yes"][..], &["--print-digest"][..]] {
        let output = run_err(
            approver().args(["approve", PAYOUT, "--key"]).arg(&key).args(["--gateway", &gateway.url]).args(extra),
        );
        let err = stderr(&output);
        assert!(err.contains("REFUSED: the gateway reports digest"), "{err}");
        assert!(err.contains(&their_digest.grouped()), "{err}");
    }
    assert!(gateway.posted(&format!("/v1/payouts/{PAYOUT}/approvals")).is_empty(), "nothing was signed or sent");
    let seen = gateway.seen();
    assert!(seen.iter().all(|s| s.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")[..])), "{seen:?}");
}

#[test]
fn approve_shows_the_payout_signs_its_digest_and_sends_the_approval() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "alice");
    let (shown, digest) = waiting_payout(now() + 1200);
    // The gateway answers the payout as the signer's outcome left it.
    let mut answer = shown.clone();
    answer["approval"]["approved_by"] = json!(["alice"]);
    let gateway = gateway_showing(&shown, answer);
    let approvals = format!("/v1/payouts/{PAYOUT}/approvals");

    let printed = run_ok(approver().args(["approve", PAYOUT, "--print-digest", "--gateway", &gateway.url]));
    assert!(printed.contains("amount      2500 USDT (2500000000 base units; 6 decimals)"), "{printed}");
    assert!(printed.contains(&format!("destination {DESTINATION}")), "{printed}");
    assert!(printed.contains("(in 20 minutes)"), "{printed}");
    assert!(printed.contains(&format!("digest      {}", digest.grouped())), "{printed}");
    assert!(gateway.posted(&approvals).is_empty(), "--print-digest signs nothing");

    // Not on a terminal and no --yes: nothing is signed.
    let unasked = run_err(approver().args(["approve", PAYOUT, "--key"]).arg(&key).args(["--gateway", &gateway.url]));
    assert!(stderr(&unasked).contains("pass --yes"), "{}", stderr(&unasked));
    assert!(gateway.posted(&approvals).is_empty());

    let stdout =
        run_ok(approver().args(["approve", PAYOUT, "--yes", "--key"]).arg(&key).args(["--gateway", &gateway.url]));
    assert!(stdout.contains(&format!("signing as  {public}")), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("sent; the payout is now pending_approval; 1 of 2 approvals (alice)"),
        "{stdout}"
    );
    let rejected = run_ok(
        approver()
            .args(["approve", PAYOUT, "--reject", "--yes", "--json", "--key"])
            .arg(&key)
            .args(["--gateway", &gateway.url]),
    );
    let summary: Value = serde_json::from_str(&rejected).unwrap();
    assert_eq!(summary["digest"], digest.to_string());
    assert_eq!(summary["answer"]["status"], "pending_approval");

    // Straight to the signer, whose answer is its outcome; the payout is still read from the gateway.
    let outcome = json!({"id": PAYOUT, "state": "pending_approval", "digest": digest.to_string(),
        "expires_at": shown["approval"]["expires_at_unix"], "quorum": 2, "approved_by": ["alice"], "policy_version": 3});
    let signer = Double::start(vec![("POST", approvals.clone(), 200, outcome.to_string())]);
    let direct = run_ok(approver().args(["approve", PAYOUT, "--yes", "--key"]).arg(&key).args([
        "--gateway",
        &gateway.url,
        "--signer",
        &signer.url,
    ]));
    assert!(
        direct.trim_end().ends_with("sent; the payout is now pending_approval; 1 of 2 approvals (alice)"),
        "{direct}"
    );
    let [to_signer] = signer.posted(&approvals).try_into().unwrap();
    assert!(signer.seen()[0].authorization.is_none(), "the signer gets no operator token");
    let to_signer: Approval = serde_json::from_value(to_signer).unwrap();
    assert!(to_signer.verifies() && to_signer.digest == digest);

    let sent: Vec<Approval> =
        gateway.posted(&approvals).into_iter().map(|v| serde_json::from_value(v).unwrap()).collect();
    assert_eq!(sent.len(), 2);
    for (approval, decision) in sent.iter().zip([Decision::Approve, Decision::Reject]) {
        assert_eq!((approval.approver, approval.decision, approval.digest), (public, decision, digest));
        assert!(approval.verifies(), "{approval:?}");
    }
}

#[test]
fn approve_refuses_an_ended_round_and_a_wrong_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path(), "alice");
    let (ended, _) = waiting_payout(now() - 5);
    let gateway = gateway_showing(&ended, json!({}));
    let output =
        run_err(approver().args(["approve", PAYOUT, "--yes", "--key"]).arg(&key).args(["--gateway", &gateway.url]));
    assert!(stderr(&output).contains("this round of approvals ended"), "{}", stderr(&output));

    let (open, _) = waiting_payout(now() + 600);
    let gateway = gateway_showing(&open, json!({}));
    let wrong = run_err(
        approver()
            .args(["approve", PAYOUT, "--yes", "--key"])
            .arg(&key)
            .args(["--gateway", &gateway.url])
            .env("COFFER_APPROVER_PASSPHRASE", "correct horse battery stapler"),
    );
    assert!(stderr(&wrong).contains("the passphrase does not open"), "{}", stderr(&wrong));
    assert!(gateway.posted(&format!("/v1/payouts/{PAYOUT}/approvals")).is_empty());
    let no_token = run_err(
        coffer()
            .args(["approve", PAYOUT, "--print-digest", "--gateway", &gateway.url])
            .env("COFFER_APPROVER_PASSPHRASE", PASSPHRASE),
    );
    assert!(stderr(&no_token).contains("set COFFER_OPERATOR_TOKEN"), "{}", stderr(&no_token));
}

fn control_state(version: u64) -> ControlState {
    ControlState {
        policy_version: version,
        profile: Profile::Restricted,
        frozen: None,
        quorum: 2,
        scheduled: vec![],
        allowlist: vec![],
    }
}

fn signer_answering(state: &ControlState, status: u16, answer: Value) -> Double {
    Double::start(vec![
        ("GET", "/v1/control".into(), 200, serde_json::to_string(state).unwrap()),
        ("POST", "/v1/control".into(), status, answer.to_string()),
    ])
}

fn requests(double: &Double, path: &str) -> Vec<ControlRequest> {
    double.posted(path).into_iter().map(|v| serde_json::from_value(v).unwrap()).collect()
}

#[test]
fn freeze_signs_a_freeze_of_the_version_read_with_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "alice");
    let signer = signer_answering(&control_state(4), 200, json!({"result": "applied", "policy_version": 5}));
    let before = now();
    let stdout = run_ok(approver().args(["freeze", "--key"]).arg(&key).args([
        "--signer",
        &signer.url,
        "--reason",
        "outflow to fresh addresses",
    ]));
    assert_eq!(stdout.trim_end(), "applied: the signer's policy is now version 5");
    let [request] = requests(&signer, "/v1/control").try_into().unwrap();
    assert_eq!(request.proposal.change, PolicyChange::Freeze { reason: "outflow to fresh addresses".into() });
    assert_eq!(request.proposal.base_version, 4);
    assert!((before + 600..=now() + 600).contains(&request.proposal.expires_at));
    let [approval] = request.approvals.try_into().unwrap();
    assert_eq!((approval.approver, approval.decision), (public, Decision::Approve));
    assert_eq!(approval.digest, request.proposal.digest());
    assert!(approval.verifies());

    // Through the gateway's relay, with the operator token.
    let reading = json!({"read_at": rfc3339(now()), "controls": {"policy_version": 5, "profile": "restricted",
        "frozen": null, "quorum": 2, "scheduled": [], "allowlist": []}});
    let gateway = Double::start(vec![
        ("GET", "/v1/signer".into(), 200, reading.to_string()),
        (
            "POST",
            "/v1/operator/signer/control".into(),
            200,
            json!({"result": "applied", "policy_version": 6}).to_string(),
        ),
    ]);
    run_ok(approver().args(["freeze", "--key"]).arg(&key).args(["--gateway", &gateway.url]));
    let [relayed] = requests(&gateway, "/v1/operator/signer/control").try_into().unwrap();
    assert_eq!(relayed.proposal.base_version, 5);
    assert!(gateway.seen().iter().all(|s| s.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")[..])));
}

#[test]
fn a_proposal_is_written_then_approved_or_vetoed_by_each_approver() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, alice_public) = keygen(dir.path(), "alice");
    let (bob, bob_public) = keygen(dir.path(), "bob");
    let signer = signer_answering(&control_state(7), 200, json!({"result": "waiting", "approvals": 1, "quorum": 2}));
    let file = dir.path().join("proposal.json");
    let stdout = run_ok(
        coffer()
            .args([
                "policy",
                "propose",
                "allow",
                "--chain",
                "1",
                "--address",
                DESTINATION,
                "--signer",
                &signer.url,
                "--out",
            ])
            .arg(&file),
    );
    let proposal: ChangeProposal = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        proposal.change,
        PolicyChange::Allow { chain_id: ChainId(1), destination: DESTINATION.parse().unwrap() }
    );
    assert_eq!(proposal.base_version, 7);
    assert!(stdout.contains(&format!("change      allow payouts to {DESTINATION} on chain 1")), "{stdout}");
    assert!(stdout.contains(&format!("digest      {}", proposal.digest().grouped())), "{stdout}");

    let typo = run_err(
        coffer()
            .args([
                "policy",
                "propose",
                "allow",
                "--chain",
                "1",
                "--address",
                "0x70997970c51812dc3A010C7d01b50e0d17dc79C8",
                "--signer",
                &signer.url,
                "--out",
            ])
            .arg(dir.path().join("typo.json")),
    );
    assert!(stderr(&typo).contains("does not match its EIP-55 checksum"), "{}", stderr(&typo));

    let approve = |key: &Path, extra: &[&str]| {
        run_ok(
            approver()
                .args(["policy", "approve"])
                .arg(&file)
                .arg("--key")
                .arg(key)
                .args(["--signer", &signer.url, "--yes"])
                .args(extra),
        )
    };
    assert_eq!(
        approve(&alice, &[]).lines().last().unwrap(),
        "recorded: 1 of 2 approvals; it applies once 2 approvers have signed"
    );
    approve(&bob, &["--veto"]);
    let sent = requests(&signer, "/v1/control");
    assert_eq!(sent.len(), 2);
    for (request, (public, decision)) in
        sent.iter().zip([(alice_public, Decision::Approve), (bob_public, Decision::Reject)])
    {
        assert_eq!(request.proposal, proposal, "each submits the proposal as written");
        let [approval] = request.approvals.clone().try_into().unwrap();
        assert_eq!((approval.approver, approval.decision, approval.digest), (public, decision, proposal.digest()));
        assert!(approval.verifies());
    }
}

#[test]
fn the_signers_refusal_is_a_sentence_with_its_rule() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path(), "alice");
    let refusal = json!({"error": {"rule": "control.version", "message": "the policy is at version 8; the proposal was read against 7"}});
    let signer = signer_answering(&control_state(7), 409, refusal);
    let output = run_err(approver().args(["freeze", "--key"]).arg(&key).args(["--signer", &signer.url]));
    assert!(
        stderr(&output).contains(
            "the signer refused it (HTTP 409, control.version): the policy is at version 8; the proposal was read against 7"
        ),
        "{}",
        stderr(&output)
    );
    let unreachable = run_err(approver().args(["policy", "show", "--signer", "http://127.0.0.1:9"]));
    assert!(
        stderr(&unreachable).contains("cannot reach the signer at http://127.0.0.1:9/v1/control"),
        "{}",
        stderr(&unreachable)
    );
}

#[test]
fn policy_show_reads_the_controls_for_a_person_and_as_json() {
    let mut state = control_state(3);
    state.frozen = Some(coffer_signer_api::FreezeInfo {
        reason: coffer_signer_api::RuleTag::FreezeApprover,
        message: "alice froze outgoing payments".into(),
        since: now() - 300,
        by: Some("alice".into()),
    });
    state.allowlist = vec![(ChainId(31337), DESTINATION.parse().unwrap())];
    let signer = signer_answering(&state, 200, json!({}));
    let stdout = run_ok(coffer().args(["policy", "show", "--signer", &signer.url]));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("FROZEN      since "), "{stdout}");
    assert!(
        lines[0].ends_with("(5 minutes ago) by alice: alice froze outgoing payments (freeze.approver)"),
        "{stdout}"
    );
    assert!(lines.contains(&"profile     restricted"), "{stdout}");
    assert!(lines.contains(&format!("allowlist   chain 31337 {DESTINATION}").as_str()), "{stdout}");
    let json = run_ok(coffer().args(["policy", "show", "--json", "--signer", &signer.url]));
    assert_eq!(serde_json::from_str::<ControlState>(&json).unwrap(), state);
}
