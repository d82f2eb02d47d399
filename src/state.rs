//! The last good snapshots on disk (`server.state_dir`), so that a restart serves the data it
//! had, with its true age, until the first polls succeed: an SCP site of 10,000 hosts once
//! showed nothing for 150 s after every restart.
//!
//! One file per (target, collector), written whole to a temporary name and renamed over the old
//! one after each successful poll, so a crash leaves the old file or the new one, never half of
//! either. This module moves bytes only: the store makes and checks them
//! (`Snapshot::to_state`, `Snapshot::from_state`), so it alone knows the format, and a file
//! that is not one this version wrote for that slot is ignored with a warning there.

use std::path::{Path, PathBuf};

/// The largest state file read back (a 200,000-series snapshot is about 30 MB).
pub const MAX_STATE_BYTES: u64 = 512 << 20;

/// The file of one slot: names are hex-encoded (target names are free text).
pub fn file_of(dir: &Path, target: &str, collector: &str) -> PathBuf {
    dir.join(format!("{}.{}.snapshot", hex(target), hex(collector)))
}

/// Lowercase hex of a name.
pub fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a slot's file; `Ok(None)` when there is none.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, String> {
    if !path.exists() {
        return Ok(None);
    }
    crate::config::tree::read_bounded(path, MAX_STATE_BYTES).map(Some)
}

/// Writes what `bytes` makes to `path` off the poll's path (a blocking task), replacing the old
/// file atomically; a failure is logged and costs only the restart's head start.
pub fn write_later(path: PathBuf, bytes: impl FnOnce() -> Vec<u8> + Send + 'static) {
    let write = move || {
        if let Err(e) = write(&path, &bytes()) {
            tracing::warn!(file = %path.display(), error = %e,
                "Cannot keep the snapshot in the state directory; a restart will start without it.");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            h.spawn_blocking(write);
        }
        Err(_) => write(),
    }
}

/// Writes `bytes` to `path` now: to a temporary file, synced, renamed over the old one.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}
