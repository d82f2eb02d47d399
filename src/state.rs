//! The last good snapshots on disk (`server.state_dir`), so that a restart serves the data it
//! had, with its true age, until the first polls succeed: an SCP site of 10,000 hosts once
//! showed nothing for 150 s after every restart.
//!
//! One file per (target, collector), written whole to a temporary name and renamed over the old
//! one after each successful poll, so a crash leaves the old file or the new one, never half of
//! either. A file that is not one this version wrote for that slot (another format, another
//! slot, torn, edited) is ignored with a warning and the slot starts empty. The format is
//! `Snapshot::to_state` (the store owns the text format).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::store::{hex, Snapshot, StateKey};

/// The largest state file read back (a 200,000-series snapshot is about 30 MB).
pub const MAX_STATE_BYTES: u64 = 512 << 20;

fn file_of(dir: &Path, key: &StateKey) -> PathBuf {
    dir.join(format!("{}.{}.snapshot", hex(&key.target), key.collector))
}

/// The snapshot kept for `key` and when its poll succeeded; `None` (with a warning when a file
/// was there) if there is none this version can use.
pub fn load(dir: &Path, key: &StateKey) -> Option<(Snapshot, SystemTime)> {
    let path = file_of(dir, key);
    if !path.exists() {
        return None;
    }
    let result = crate::config::tree::read_bounded(&path, MAX_STATE_BYTES)
        .and_then(|bytes| Snapshot::from_state(key, &bytes));
    match result {
        Ok(found) => {
            tracing::info!(target_name = %key.target, collector = %key.collector, series = found.0.series(),
                "Serving the snapshot kept from before the restart until the first poll.");
            Some(found)
        }
        Err(e) => {
            tracing::warn!(target_name = %key.target, collector = %key.collector, file = %path.display(), error = %e,
                "Ignoring a state file that is not this collector's last snapshot.");
            None
        }
    }
}

/// Writes the snapshot of `key` off the poll's path (a blocking task), replacing the old file
/// atomically; a failure is logged and costs only the restart's head start.
pub fn save_later(dir: PathBuf, key: StateKey, snapshot: Arc<Snapshot>, last_success: SystemTime) {
    let write = move || {
        if let Err(e) = save(&dir, &key, &snapshot, last_success) {
            tracing::warn!(target_name = %key.target, collector = %key.collector, dir = %dir.display(), error = %e,
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

/// Writes the snapshot of `key` now: to a temporary file, synced, renamed over the old one.
pub fn save(
    dir: &Path,
    key: &StateKey,
    snapshot: &Snapshot,
    last_success: SystemTime,
) -> std::io::Result<()> {
    use std::io::Write as _;
    let path = file_of(dir, key);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&snapshot.to_state(key, last_success))?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{self, Resource};
    use crate::collect::Batch;
    use std::time::{Duration, UNIX_EPOCH};

    fn key(target: &str) -> StateKey {
        StateKey {
            target: target.into(),
            collector: "hosts".into(),
            platform: "sangfor_scp".into(),
        }
    }

    fn snapshot() -> Snapshot {
        let mut b = Batch::new();
        b.put(
            &catalog::RESOURCE_CAPACITY,
            Resource::Vcpu,
            &[("az", "pool \"1\"")],
            128.0,
        );
        b.put(
            &catalog::RESOURCE_ALLOCATED,
            Resource::Vcpu,
            &[("az", "pool \"1\"")],
            64.0,
        );
        b.push(&catalog::HOSTS, &[("state", "up"), ("az", "p")], 3.0);
        Snapshot::encode(
            "sangfor_scp",
            "scp a",
            b,
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .0
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("headroom-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::create_dir_all(&d);
        d
    }

    #[test]
    fn a_snapshot_comes_back_byte_for_byte_with_its_time() {
        let d = dir("roundtrip");
        let s = snapshot();
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_100);
        save(&d, &key("scp a"), &s, at).unwrap_or_else(|e| panic!("{e}"));
        let (back, when) = load(&d, &key("scp a")).unwrap_or_else(|| panic!("not loaded"));
        assert_eq!(
            back.to_state(&key("scp a"), when),
            s.to_state(&key("scp a"), at)
        );
        assert_eq!((back.series(), when), (3, at));
        // Another slot's file is not this one's.
        assert!(load(&d, &key("scp b")).is_none());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_torn_foreign_or_edited_file_is_refused() {
        let k = key("t");
        let good = snapshot().to_state(&k, SystemTime::now());
        let text = String::from_utf8(good.clone()).unwrap_or_default();
        let other = StateKey {
            collector: "vms".into(),
            ..k.clone()
        };
        for (why, bytes) in [
            ("torn", good[..good.len() / 2].to_vec()),
            ("foreign", b"hello\n".to_vec()),
            (
                "another slot",
                snapshot().to_state(&other, SystemTime::now()),
            ),
            (
                "a line of another family",
                text.replacen("headroom_hosts{", "headroom_evil{", 1)
                    .into_bytes(),
            ),
            (
                "an unknown family",
                text.replace("family headroom_hosts ", "family headroom_nope ")
                    .into_bytes(),
            ),
            (
                "a series too many",
                text.replace("series 3", "series 4").into_bytes(),
            ),
        ] {
            assert!(
                Snapshot::from_state(&k, &bytes).is_err(),
                "{why} was accepted"
            );
        }
        assert!(Snapshot::from_state(&k, &good).is_ok());
    }
}
