//! `coffer treasury` and the treasury half of `coffer ledger check`, against
//! a real chain (anvil): a hot wallet holding what the books never saw
//! arrive is a breach.

#![allow(clippy::unwrap_used)]

use coffer_devnet::{Anvil, AnvilOptions};
use coffer_store::testing::{Kind, TestDatabase};

use crate::support::{coffer, run_err, run_ok, write_config};

#[test]
fn an_operator_token_is_made_with_the_line_for_the_configuration() {
    let out = run_ok(coffer().args(["treasury", "token"]));
    let token = out.lines().next().unwrap().rsplit(' ').next().unwrap();
    assert!(token.starts_with("coffer_op_") && token.len() > 50, "{out}");
    let digest = out.lines().nth(1).unwrap().rsplit('"').nth(1).unwrap();
    assert!(digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()), "{out}");
    assert_ne!(run_ok(coffer().args(["treasury", "token"])), out, "a new token each time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_check_fails_when_the_chain_holds_what_the_books_do_not() {
    let db = TestDatabase::new(Kind::Sqlite).await.unwrap();
    let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
    let hot = anvil.rpc().accounts().await.unwrap()[5];
    let dir = tempfile::tempdir().unwrap();
    let signer = format!(
        "[signer]\nurl = \"http://127.0.0.1:9\"\nrequest_key_file = \"{}/request.key\"\n\
         identity_key = \"ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\"\n\
         hot_wallet = \"{hot:#x}\"",
        dir.path().display()
    );
    let config = write_config(dir.path(), db.url(), &signer);
    let text = std::fs::read_to_string(&config).unwrap().replace("http://127.0.0.1:8545", &anvil.http_url());
    std::fs::write(&config, text).unwrap();

    let shown = run_ok(coffer().args(["treasury", "show", "--config"]).arg(&config));
    assert!(shown.contains("ETH@31337") && shown.contains("DISAGREES"), "{shown}");
    let failed = run_err(coffer().args(["ledger", "check", "--config"]).arg(&config));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("BREACH: treasury ETH@31337: the chain holds"), "{stderr}");

    // Without a wallet to read, the books alone are checked, and are sound.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = write_config(plain_dir.path(), db.url(), "");
    assert!(run_ok(coffer().args(["ledger", "check", "--config"]).arg(&plain)).contains("ledger ok"));
}
