//! Finding anvil, installing it on first use.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why anvil could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    /// `COFFER_ANVIL_BIN` points nowhere.
    #[error("COFFER_ANVIL_BIN={0} does not exist")]
    OverrideMissing(PathBuf),
    /// npm is not installed, or the install lock could not be taken.
    #[error("npm is needed to install anvil (the pinned @foundry-rs/anvil package): {0}")]
    NoNpm(std::io::Error),
    /// `npm ci` failed.
    #[error("`npm ci` in {dir} failed ({status}); see its output above")]
    InstallFailed {
        /// Where it ran.
        dir: PathBuf,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// The package installed but holds no binary for this platform.
    #[error("no anvil binary for this platform at {0}")]
    NoBinary(PathBuf),
}

/// The repository root: where `tools/` and `contracts/` live.
pub fn repo_root() -> PathBuf {
    std::env::var_os("COFFER_REPO_ROOT").map(PathBuf::from).unwrap_or_else(|| {
        // crates/devnet -> repository root.
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_else(|_| PathBuf::from("."))
    })
}

fn platform_package() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "aarch64") => "anvil-linux-arm64",
        ("macos", "aarch64") => "anvil-darwin-arm64",
        ("macos", _) => "anvil-darwin-amd64",
        _ => "anvil-linux-amd64",
    }
}

/// The anvil binary: `COFFER_ANVIL_BIN` if set, else the pinned npm
/// package under `tools/node_modules`, installed now if missing.
pub fn anvil_binary() -> Result<PathBuf, ToolsError> {
    if let Some(path) = std::env::var_os("COFFER_ANVIL_BIN").map(PathBuf::from) {
        return if path.exists() { Ok(path) } else { Err(ToolsError::OverrideMissing(path)) };
    }
    let tools = repo_root().join("tools");
    let binary = tools.join("node_modules/@foundry-rs").join(platform_package()).join("bin/anvil");
    if !binary.exists() {
        // Tests start in parallel: one installs, the others wait for it.
        let lock = std::fs::File::create(tools.join(".install.lock")).map_err(ToolsError::NoNpm)?;
        lock.lock().map_err(ToolsError::NoNpm)?;
        if !binary.exists() {
            install(&tools)?;
        }
    }
    if binary.exists() { Ok(binary) } else { Err(ToolsError::NoBinary(binary)) }
}

/// `npm ci --ignore-scripts`: exactly the locked tarballs, verified against
/// their hashes, and no package's install script runs on this machine.
fn install(tools: &Path) -> Result<(), ToolsError> {
    tracing::info!(dir = %tools.display(), "installing the pinned anvil with npm ci (once)");
    let status = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(tools)
        .status()
        .map_err(ToolsError::NoNpm)?;
    if status.success() { Ok(()) } else { Err(ToolsError::InstallFailed { dir: tools.to_owned(), status }) }
}
