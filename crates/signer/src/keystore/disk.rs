//! How the signer's files reach the disk: whole or not at all, never over an
//! existing file, and durably (file and directory fsynced) before anyone is
//! told they are there.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

use crate::{Result, SignerError};

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SignerError {
    let path = path.to_owned();
    move |source| SignerError::Io { action, path, source }
}

/// Creates `dir` (and its parents) mode 0700 unless it exists.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io("creating", dir))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io("syncing", dir))
}

/// Writes `bytes` to the new file `dir/name`, mode 0600: a temporary file,
/// fsynced, then hard-linked into place (a link fails if the target exists,
/// so two racing writers cannot both win, and nothing is ever overwritten).
/// `false` when `dir/name` was there already.
pub(crate) fn create_new(dir: &Path, name: &str, bytes: &[u8]) -> Result<bool> {
    let mut tag = [0u8; 8];
    getrandom::fill(&mut tag).map_err(|e| SignerError::Randomness(e.to_string()))?;
    let tmp = dir.join(format!(".{name}.{}.{}", std::process::id(), hex::encode(tag)));
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io("creating", &tmp))?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io("writing", &tmp));
    drop(file);
    let target = dir.join(name);
    let linked = written.and_then(|()| fs::hard_link(&tmp, &target).map_err(io("storing", &target)));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => sync_dir(dir).map(|()| true),
        Err(SignerError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Overwrites `path`'s bytes with zeros, fsyncs, unlinks it and fsyncs its
/// directory. On a copy-on-write or flash file system the old blocks may
/// survive the overwrite; the unlink is what is guaranteed.
pub(crate) fn wipe(path: &Path) -> Result<()> {
    let mut file = OpenOptions::new().write(true).open(path).map_err(io("opening", path))?;
    let len = file.metadata().map_err(io("reading", path))?.len();
    let zeros = [0u8; 4096];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        file.write_all(&zeros[..n]).map_err(io("wiping", path))?;
        left -= n as u64;
    }
    file.sync_all().map_err(io("wiping", path))?;
    drop(file);
    fs::remove_file(path).map_err(io("removing", path))?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn create_new_writes_once_privately_and_leaves_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        private_dir(&dir).unwrap();
        assert!(create_new(&dir, "f", b"first").unwrap());
        assert!(!create_new(&dir, "f", b"second").unwrap(), "an existing file is kept");
        assert_eq!(fs::read(dir.join("f")).unwrap(), b"first");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("f")), 0o600);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "only the file remains");
    }

    #[test]
    fn wipe_zeroes_before_unlinking() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("secret");
        fs::write(&path, vec![b'x'; 10_000]).unwrap();
        // A second link shows what the wipe wrote into the file's blocks.
        let witness = tmp.path().join("witness");
        fs::hard_link(&path, &witness).unwrap();
        wipe(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(fs::read(&witness).unwrap(), vec![0u8; 10_000]);
    }
}
