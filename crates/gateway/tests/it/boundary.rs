//! The trust boundary, checked on every test run: nothing the gateway links
//! can load a private key.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// Crates that hold or derive private keys, or sign.
const SIGNING_CRATES: [&str; 5] = ["coffer-signer", "coins-bip39", "coins-bip32", "alloy-signer-local", "alloy-signer"];

#[test]
fn the_gateway_links_no_signing_code() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Only this platform's graph: that is what ships, and `--offline` cannot
    // resolve other platforms' packages, which a build never downloads.
    let host = Command::new("rustc").arg("-vV").output().expect("run rustc -vV");
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc names its host");
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");

    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().unwrap_or_default(), p["name"].as_str().unwrap_or_default()))
        .collect();
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve graph")
        .iter()
        .map(|n| (n["id"].as_str().unwrap_or_default(), n))
        .collect();
    let gateway = names.iter().find(|(_, name)| **name == "coffer-gateway").map(|(id, _)| *id).expect("gateway");

    // Walk normal (non-dev, non-build) dependencies: what ships in the gateway.
    let mut seen = BTreeSet::new();
    let mut stack = vec![gateway];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].is_null());
            if normal {
                stack.push(dep["pkg"].as_str().unwrap_or_default());
            }
        }
    }
    let linked: BTreeSet<&str> = seen.iter().map(|id| names[id]).collect();
    assert!(linked.contains("k256"), "sanity: the walk reaches transitive dependencies");
    for forbidden in SIGNING_CRATES {
        assert!(
            !linked.contains(forbidden),
            "coffer-gateway links {forbidden}: signing code crossed the trust boundary"
        );
    }
}
