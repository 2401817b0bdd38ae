//! Our own npm supply chain (the attackers Coffer is built against ship
//! malware in npm packages): every locked package is pinned by an
//! integrity hash from the registry, no install script can run, and only
//! packages whose install script was reviewed and found unneeded carry one.

use std::path::Path;

use serde_json::Value;

/// Packages that declare an install script, and why we do not need it (it
/// never runs: `tools/.npmrc` and `npm ci --ignore-scripts`).
const REVIEWED_INSTALL_SCRIPTS: &[(&str, &str)] = &[(
    "node_modules/@foundry-rs/anvil",
    "its postinstall picks the platform's binary, which npm already installs as an optional dependency",
)];

fn lockfile(root: &Path) -> Value {
    let path = root.join("tools/package-lock.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// What is wrong with a lockfile, one sentence per package.
fn problems(lock: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if lock["lockfileVersion"].as_u64().is_none_or(|v| v < 2) {
        problems.push("the lockfile predates lockfileVersion 2 (no per-package integrity)".to_owned());
    }
    for (name, entry) in lock["packages"].as_object().into_iter().flatten() {
        if name.is_empty() || entry["link"] == true {
            continue; // the project itself
        }
        let integrity = entry["integrity"].as_str().unwrap_or("");
        if !integrity.starts_with("sha512-") {
            problems.push(format!("{name} has no sha512 integrity hash ({integrity:?})"));
        }
        // npm 11 leaves `resolved` out: the tarball comes from the registry
        // configured (npm's own; `tools/.npmrc` names no other). One that is
        // written must be the registry's.
        if let Some(resolved) = entry["resolved"].as_str()
            && !resolved.starts_with("https://registry.npmjs.org/")
        {
            problems.push(format!("{name} is not from the npm registry ({resolved:?})"));
        }
        if entry["hasInstallScript"] == true && !REVIEWED_INSTALL_SCRIPTS.iter().any(|(n, _)| n == name) {
            problems.push(format!("{name} would run an install script; review it and list it, or drop the package"));
        }
    }
    problems
}

#[test]
fn every_npm_package_is_pinned_by_hash_and_runs_no_install_script() {
    let root = coffer_devnet::repo_root();
    let lock = lockfile(&root);
    assert_eq!(problems(&lock), Vec::<String>::new());
    let npmrc = std::fs::read_to_string(root.join("tools/.npmrc")).unwrap();
    assert!(npmrc.lines().any(|l| l.trim() == "ignore-scripts=true"), "tools/.npmrc must turn install scripts off");
    assert!(!npmrc.lines().any(|l| l.trim_start().starts_with("registry")), "tools/.npmrc must not swap the registry");
    // Every place our code runs npm passes --ignore-scripts too.
    let tools = std::fs::read_to_string(root.join("crates/devnet/src/tools.rs")).unwrap();
    assert!(tools.contains(r#""ci", "--ignore-scripts""#), "npm ci without --ignore-scripts in tools.rs");
    let package: Value = serde_json::from_slice(&std::fs::read(root.join("tools/package.json")).unwrap()).unwrap();
    for (name, version) in package["dependencies"].as_object().unwrap() {
        let version = version.as_str().unwrap();
        assert!(
            version.chars().all(|c| c.is_ascii_digit() || c == '.'),
            "{name} is not pinned to one version: {version}"
        );
    }
}

#[test]
fn the_check_catches_a_missing_hash_a_foreign_tarball_and_a_new_install_script() {
    let mut lock = lockfile(&coffer_devnet::repo_root());
    let packages = lock["packages"].as_object_mut().unwrap();
    packages["node_modules/semver"].as_object_mut().unwrap().remove("integrity");
    packages["node_modules/tmp"]["resolved"] = "https://evil.example/tmp-0.0.33.tgz".into();
    packages["node_modules/commander"]["hasInstallScript"] = true.into();
    let found = problems(&lock);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].contains("commander") && found[0].contains("install script"), "{found:#?}");
    assert!(found.iter().any(|p| p.contains("semver") && p.contains("integrity")));
    assert!(found.iter().any(|p| p.contains("evil.example")));
}
