//! Snapshots of collector output, their freshness, and the Prometheus text exposition.
//!
//! A collector's poll becomes one immutable [`Snapshot`], encoded into exposition lines when it is
//! published; the [`Store`] swaps it in whole, so a scrape never sees half a poll. A failed poll
//! keeps the last good snapshot until its `max_age`, after which the series vanish and Prometheus
//! marks them stale. Only this module knows the text format (0.0.4); serving `/metrics` is a
//! concatenation of pre-encoded bytes plus a few live self-metrics, and never calls a vendor API.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::catalog::{self, MetricDef};
use crate::collect::{Batch, ErrorReason};
use crate::telemetry::SelfMetrics;

/// Content type of the exposition served on `/metrics`.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One poll's result for one (target, collector), encoded and ready to serve.
#[derive(Debug)]
pub struct Snapshot {
    /// (index into `catalog::ALL`, sample lines of that family), ordered by index.
    families: Vec<(usize, Vec<u8>)>,
    series: usize,
    taken_at: SystemTime,
}

impl Snapshot {
    /// Encodes a batch, prefixing every series with the `platform` and `target` labels.
    /// Duplicate series (same family and labels) keep their first value; the count of those
    /// dropped is returned beside the snapshot so the collector can report it.
    pub fn encode(
        platform: &str,
        target: &str,
        batch: Batch,
        taken_at: SystemTime,
    ) -> (Snapshot, usize) {
        // Family index looked up once per sample, not once per comparison.
        let mut samples: Vec<(usize, crate::collect::Sample)> = batch
            .into_samples()
            .into_iter()
            .map(|s| (catalog::index_of(s.def), s))
            .collect();
        samples.sort_by(|(ia, a), (ib, b)| ia.cmp(ib).then_with(|| a.labels.cmp(&b.labels)));
        let before = samples.len();
        samples.dedup_by(|(il, later), (ie, earlier)| il == ie && later.labels == earlier.labels);
        let duplicates = before - samples.len();
        let mut families: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut prefix = String::new();
        let _ = write!(
            prefix,
            "platform=\"{}\",target=\"{}\"",
            escape(platform),
            escape(target)
        );
        for (idx, sample) in &samples {
            let idx = *idx;
            if families.last().map(|(i, _)| *i) != Some(idx) {
                families.push((idx, Vec::new()));
            }
            if let Some((_, buf)) = families.last_mut() {
                write_sample(
                    buf,
                    sample.def.name,
                    Some(&prefix),
                    &sample.labels,
                    sample.value,
                );
            }
        }
        let series = samples.len();
        (
            Snapshot {
                families,
                series,
                taken_at,
            },
            duplicates,
        )
    }

    /// Number of series in the snapshot.
    pub fn series(&self) -> usize {
        self.series
    }

    /// Bytes of exposition text the snapshot holds.
    pub fn encoded_len(&self) -> usize {
        self.families.iter().map(|(_, b)| b.len()).sum()
    }

    /// The snapshot as a state file (`state.rs` writes it): a header naming its slot and times,
    /// then each family by name (catalogue indexes change between versions) with its lines.
    pub fn to_state(&self, key: &StateKey, last_success: SystemTime) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len() + 256);
        let secs = |t: SystemTime| unix_seconds(t);
        let _ = write!(
            HeaderWriter(&mut out),
            "{STATE_MAGIC}\ntarget {}\ncollector {}\nplatform {}\ntaken_at {}\nlast_success {}\nseries {}\n",
            crate::state::hex(&key.target),
            key.collector,
            key.platform,
            secs(self.taken_at),
            secs(last_success),
            self.series
        );
        for (idx, bytes) in &self.families {
            let name = catalog::ALL.get(*idx).map_or("", |d| d.name);
            let _ = writeln!(HeaderWriter(&mut out), "family {name} {}", bytes.len());
            out.extend_from_slice(bytes);
        }
        out.extend_from_slice(b"end\n");
        out
    }

    /// Reads a state file back: the snapshot and when its poll succeeded, if the file is one
    /// this version wrote for `key`. Anything else (another slot's, another format, a torn or
    /// edited file, a family this version does not know, a line of another family) is refused
    /// with what is wrong.
    pub fn from_state(key: &StateKey, bytes: &[u8]) -> Result<(Snapshot, SystemTime), String> {
        let mut r = StateReader { bytes, at: 0 };
        if r.line()? != STATE_MAGIC {
            return Err("not a headroom snapshot of this format".into());
        }
        let mut field = |name: &str| -> Result<String, String> {
            let line = r.line()?;
            line.strip_prefix(name)
                .and_then(|v| v.strip_prefix(' '))
                .map(str::to_string)
                .ok_or_else(|| {
                    format!(
                        "expected `{name}`, found `{}`",
                        line.chars().take(40).collect::<String>()
                    )
                })
        };
        let (target, collector, platform) =
            (field("target")?, field("collector")?, field("platform")?);
        if target != crate::state::hex(&key.target)
            || collector != key.collector
            || platform != key.platform
        {
            return Err("written for another target, collector or platform".into());
        }
        let time = |v: String| -> Result<SystemTime, String> {
            let secs: f64 = v.parse().map_err(|_| format!("`{v}` is not a time"))?;
            if !(0.0..1e12).contains(&secs) {
                return Err(format!("`{v}` is not a time"));
            }
            Ok(UNIX_EPOCH + Duration::from_secs_f64(secs))
        };
        let taken_at = time(field("taken_at")?)?;
        let last_success = time(field("last_success")?)?;
        let series: usize = field("series")?
            .parse()
            .map_err(|_| "bad series count".to_string())?;
        let mut families = Vec::new();
        let mut lines = 0usize;
        loop {
            let line = r.line()?;
            if line == "end" {
                break;
            }
            let rest = line.strip_prefix("family ").ok_or("expected a family")?;
            let (name, len) = rest.split_once(' ').ok_or("bad family header")?;
            let len: usize = len.parse().map_err(|_| "bad family length".to_string())?;
            let idx = catalog::ALL
                .iter()
                .position(|d| d.name == name)
                .ok_or_else(|| format!("family {name} is not one this version exports"))?;
            if families
                .last()
                .is_some_and(|(i, _): &(usize, Vec<u8>)| *i >= idx)
            {
                return Err("families out of order".into());
            }
            let body = r.take(len)?;
            let text = std::str::from_utf8(body).map_err(|_| "not UTF-8".to_string())?;
            for l in text.lines() {
                let ok = l
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '));
                if !ok || l.contains('\0') {
                    return Err(format!("a line that is no {name} series"));
                }
                lines += 1;
            }
            if !text.is_empty() && !text.ends_with('\n') {
                return Err("a family's lines end mid-line".into());
            }
            families.push((idx, body.to_vec()));
        }
        if lines != series || r.at != bytes.len() {
            return Err("torn: its series do not add up".into());
        }
        Ok((
            Snapshot {
                families,
                series,
                taken_at,
            },
            last_success,
        ))
    }
}

/// The first line of a state file (a new format gets a new number).
const STATE_MAGIC: &str = "headroom-snapshot 1";

/// Which slot a state file belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateKey {
    pub target: String,
    pub collector: String,
    pub platform: String,
}

/// The snapshot kept for `key` in `dir` and when its poll succeeded; `None` (with a warning
/// when a file was there) if there is none this version can use.
pub fn load_state(dir: &std::path::Path, key: &StateKey) -> Option<(Snapshot, SystemTime)> {
    let path = crate::state::file_of(dir, &key.target, &key.collector);
    let found = crate::state::read(&path)
        .and_then(|bytes| bytes.map(|b| Snapshot::from_state(key, &b)).transpose());
    match found {
        Ok(Some(found)) => {
            tracing::info!(target_name = %key.target, collector = %key.collector, series = found.0.series(),
                "Serving the snapshot kept from before the restart until the first poll.");
            Some(found)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(target_name = %key.target, collector = %key.collector, file = %path.display(), error = %e,
                "Ignoring a state file that is not this collector's last snapshot.");
            None
        }
    }
}

struct HeaderWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for HeaderWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

struct StateReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> StateReader<'a> {
    fn line(&mut self) -> Result<&'a str, String> {
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        let end = rest
            .iter()
            .take(1024)
            .position(|b| *b == b'\n')
            .ok_or("torn: a header line does not end")?;
        self.at += end + 1;
        std::str::from_utf8(&rest[..end]).map_err(|_| "not UTF-8".to_string())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).ok_or("torn")?;
        let body = self
            .bytes
            .get(self.at..end)
            .ok_or("torn: a family is cut short")?;
        self.at = end;
        Ok(body)
    }
}

/// Writes one sample line: `name{prefix,labels} value\n`.
fn write_sample(
    buf: &mut Vec<u8>,
    name: &str,
    prefix: Option<&str>,
    labels: &[(&'static str, String)],
    value: f64,
) {
    let mut line = String::with_capacity(128);
    line.push_str(name);
    let has_labels = prefix.is_some() || !labels.is_empty();
    if has_labels {
        line.push('{');
        let mut first = true;
        if let Some(p) = prefix {
            line.push_str(p);
            first = false;
        }
        for (k, v) in labels {
            if !first {
                line.push(',');
            }
            first = false;
            let _ = write!(line, "{k}=\"{}\"", escape(v));
        }
        line.push('}');
    }
    line.push(' ');
    line.push_str(&format_value(value));
    line.push('\n');
    buf.extend_from_slice(line.as_bytes());
}

/// Escapes a label value for the text format: backslash, double quote and newline.
pub fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Formats a sample value as the text format expects (`NaN`, `+Inf`, `-Inf`, or a decimal).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// What the status page and self-metrics know about one (target, collector).
#[derive(Clone, Debug)]
pub struct CollectorStatus {
    pub platform: String,
    pub interval: Duration,
    pub max_age: Duration,
    pub last_attempt: Option<SystemTime>,
    pub last_success: Option<SystemTime>,
    pub last_duration: Option<Duration>,
    pub last_error: Option<(ErrorReason, String)>,
    pub dropped_values: usize,
}

#[derive(Debug)]
struct Slot {
    status: CollectorStatus,
    snapshot: Option<Arc<Snapshot>>,
}

/// Key of a slot: target name and collector name.
pub type SlotKey = (String, String);

/// A copy of one slot's state, for the status page.
#[derive(Clone, Debug)]
pub struct SlotView {
    pub target: String,
    pub collector: String,
    pub status: CollectorStatus,
    /// Series served now (0 when no snapshot or it expired).
    pub series: usize,
    /// When the snapshot being served was taken.
    pub data_taken_at: Option<SystemTime>,
}

/// All snapshots and collector states of the running daemon.
#[derive(Debug, Default)]
pub struct Store {
    slots: RwLock<BTreeMap<SlotKey, Slot>>,
    /// Where each slot's last good snapshot is kept across restarts (`server.state_dir`).
    state_dir: Option<std::path::PathBuf>,
}

impl Store {
    pub fn new() -> Store {
        Store::default()
    }

    /// A store that writes each good snapshot to `dir` and, when a slot is first registered,
    /// serves the one found there (with its true age) until its `max_age`: a restart loses no
    /// data (`state.rs`).
    pub fn with_state_dir(dir: std::path::PathBuf) -> Store {
        Store {
            slots: RwLock::default(),
            state_dir: Some(dir),
        }
    }

    /// Adds a slot for a collector, or updates its schedule settings if it exists (a reload keeps
    /// the data being served).
    pub fn register(
        &self,
        target: &str,
        collector: &str,
        platform: &str,
        interval: Duration,
        max_age: Duration,
    ) {
        let mut slots = self.write();
        let key = (target.to_string(), collector.to_string());
        match slots.get_mut(&key) {
            Some(slot) => {
                slot.status.platform = platform.to_string();
                slot.status.interval = interval;
                slot.status.max_age = max_age;
            }
            None => {
                let state = StateKey {
                    target: target.to_string(),
                    collector: collector.to_string(),
                    platform: platform.to_string(),
                };
                // The last good snapshot from before a restart, while it is young enough.
                let restored = self.state_dir.as_deref().and_then(|dir| {
                    let (snapshot, at) = load_state(dir, &state)?;
                    let young = SystemTime::now()
                        .duration_since(at)
                        .is_ok_and(|age| age < max_age);
                    young.then_some((snapshot, at))
                });
                slots.insert(
                    key,
                    Slot {
                        status: CollectorStatus {
                            platform: platform.to_string(),
                            interval,
                            max_age,
                            last_attempt: None,
                            last_success: restored.as_ref().map(|(_, at)| *at),
                            last_duration: None,
                            last_error: None,
                            dropped_values: 0,
                        },
                        snapshot: restored.map(|(s, _)| Arc::new(s)),
                    },
                );
            }
        }
    }

    /// Drops every slot whose key `keep` rejects (targets or collectors removed by a reload).
    pub fn retain(&self, keep: impl Fn(&str, &str) -> bool) {
        self.write().retain(|(t, c), _| keep(t, c));
    }

    /// Publishes a successful poll: the snapshot replaces the previous one whole.
    pub fn publish(
        &self,
        target: &str,
        collector: &str,
        snapshot: Snapshot,
        dropped_values: usize,
        duration: Duration,
    ) {
        let mut slots = self.write();
        if let Some(slot) = slots.get_mut(&(target.to_string(), collector.to_string())) {
            let now = SystemTime::now();
            slot.status.last_attempt = Some(now);
            slot.status.last_success = Some(now);
            slot.status.last_duration = Some(duration);
            slot.status.last_error = None;
            slot.status.dropped_values = dropped_values;
            let snapshot = Arc::new(snapshot);
            slot.snapshot = Some(Arc::clone(&snapshot));
            if let Some(dir) = &self.state_dir {
                let key = StateKey {
                    target: target.to_string(),
                    collector: collector.to_string(),
                    platform: slot.status.platform.clone(),
                };
                let path = crate::state::file_of(dir, target, collector);
                crate::state::write_later(path, move || snapshot.to_state(&key, now));
            }
        }
    }

    /// Records a failed poll; the last good snapshot stays until its `max_age`.
    pub fn fail(
        &self,
        target: &str,
        collector: &str,
        reason: ErrorReason,
        message: String,
        duration: Duration,
    ) {
        let mut slots = self.write();
        if let Some(slot) = slots.get_mut(&(target.to_string(), collector.to_string())) {
            slot.status.last_attempt = Some(SystemTime::now());
            slot.status.last_duration = Some(duration);
            slot.status.last_error = Some((reason, message));
        }
    }

    /// Drops snapshots older than their `max_age`, freeing their memory.
    pub fn expire(&self, now: SystemTime) {
        let mut slots = self.write();
        for slot in slots.values_mut() {
            if slot
                .snapshot
                .as_ref()
                .is_some_and(|s| is_expired(s, slot.status.max_age, now))
            {
                slot.snapshot = None;
            }
        }
    }

    /// True once every registered collector has finished at least one poll attempt.
    pub fn all_attempted(&self) -> bool {
        self.read()
            .values()
            .all(|s| s.status.last_attempt.is_some())
    }

    /// Names of the targets with at least one slot.
    pub fn targets(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().keys().map(|(t, _)| t.clone()).collect();
        names.dedup();
        names
    }

    /// A copy of every slot's state, ordered by target and collector.
    pub fn views(&self, now: SystemTime) -> Vec<SlotView> {
        self.views_of(None, now)
    }

    /// Renders the exposition: every live snapshot (of one target when `target` is given), the
    /// collector status families, and the self-metrics.
    pub fn render(
        &self,
        target: Option<&str>,
        self_metrics: &SelfMetrics,
        now: SystemTime,
    ) -> Vec<u8> {
        let mut out = self.render_platform_families(target, now, |_| true);
        let views = self.views_of(target, now);
        render_status(&mut out, &views, now);
        self_metrics.encode(&mut out, target);
        out
    }

    /// The series of the platform families `keep` selects, of every live snapshot (of one
    /// target when given): what the status page reads, without the rest of a large site.
    pub fn render_platform_families(
        &self,
        target: Option<&str>,
        now: SystemTime,
        keep: impl Fn(&MetricDef) -> bool,
    ) -> Vec<u8> {
        // Take the Arcs under the lock, encode outside it.
        let snapshots: Vec<Arc<Snapshot>> = {
            let slots = self.read();
            slots
                .iter()
                .filter(|(key, _)| target.is_none_or(|want| want == key.0))
                .filter_map(|(_, slot)| live_snapshot(slot, now).map(Arc::clone))
                .collect()
        };
        let total: usize = snapshots.iter().map(|s| s.encoded_len()).sum();
        let mut out = Vec::with_capacity(total + 64 * 1024);
        let mut cursors = vec![0usize; snapshots.len()];
        for (idx, def) in catalog::ALL.iter().enumerate() {
            let mut header_written = false;
            let wanted = keep(def);
            for (snap, cursor) in snapshots.iter().zip(cursors.iter_mut()) {
                if let Some((i, bytes)) = snap.families.get(*cursor) {
                    if *i == idx {
                        if wanted {
                            if !header_written {
                                write_header(&mut out, def);
                                header_written = true;
                            }
                            out.extend_from_slice(bytes);
                        }
                        *cursor += 1;
                    }
                }
            }
        }
        out
    }

    /// The state of every (target, collector) slot, of one target when given.
    fn views_of(&self, target: Option<&str>, now: SystemTime) -> Vec<SlotView> {
        self.read()
            .iter()
            .filter(|(key, _)| target.is_none_or(|want| want == key.0))
            .map(|(key, slot)| view(key, slot, now))
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<SlotKey, Slot>> {
        // A panic while holding the lock cannot leave the map inconsistent (every update is a
        // single assignment), so a poisoned lock is still safe to use.
        self.slots.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<SlotKey, Slot>> {
        self.slots.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn is_expired(snapshot: &Snapshot, max_age: Duration, now: SystemTime) -> bool {
    now.duration_since(snapshot.taken_at)
        .is_ok_and(|age| age > max_age)
}

/// The state of one slot as the status page and status metrics show it.
fn view((target, collector): &SlotKey, slot: &Slot, now: SystemTime) -> SlotView {
    let live = live_snapshot(slot, now);
    SlotView {
        target: target.clone(),
        collector: collector.clone(),
        status: slot.status.clone(),
        series: live.map_or(0, |s| s.series),
        data_taken_at: live.map(|s| s.taken_at),
    }
}

fn live_snapshot(slot: &Slot, now: SystemTime) -> Option<&Arc<Snapshot>> {
    slot.snapshot
        .as_ref()
        .filter(|s| !is_expired(s, slot.status.max_age, now))
}

/// Writes the `# HELP` and `# TYPE` lines of a family.
pub fn write_header(out: &mut Vec<u8>, def: &MetricDef) {
    let help = def.help.replace('\\', "\\\\").replace('\n', "\\n");
    out.extend_from_slice(
        format!(
            "# HELP {} {}\n# TYPE {} {}\n",
            def.name,
            help,
            def.name,
            def.kind.as_str()
        )
        .as_bytes(),
    );
}

/// Unix seconds of a time (0 before the epoch, which cannot happen on a sane clock).
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn render_status(out: &mut Vec<u8>, views: &[SlotView], _now: SystemTime) {
    type Getter = fn(&SlotView) -> Option<f64>;
    let families: [(&MetricDef, Getter); 7] = [
        (&catalog::COLLECTOR_UP, |v| {
            let up = v.status.last_error.is_none() && v.status.last_success.is_some();
            Some(if up { 1.0 } else { 0.0 })
        }),
        (&catalog::COLLECTOR_LAST_SUCCESS, |v| {
            v.status.last_success.map(unix_seconds)
        }),
        (&catalog::COLLECTOR_LAST_ATTEMPT, |v| {
            v.status.last_attempt.map(unix_seconds)
        }),
        (&catalog::COLLECTOR_DURATION, |v| {
            v.status.last_duration.map(|d| d.as_secs_f64())
        }),
        (&catalog::COLLECTOR_SERIES, |v| Some(v.series as f64)),
        (&catalog::COLLECTOR_DROPPED_VALUES, |v| {
            Some(v.status.dropped_values as f64)
        }),
        (&catalog::COLLECTOR_INTERVAL, |v| {
            Some(v.status.interval.as_secs_f64())
        }),
    ];
    for (def, get) in families {
        let mut body = Vec::new();
        for v in views {
            if let Some(value) = get(v) {
                let labels = [
                    ("target", v.target.clone()),
                    ("collector", v.collector.clone()),
                    ("platform", v.status.platform.clone()),
                ];
                write_sample(&mut body, def.name, None, &labels, value);
            }
        }
        if !body.is_empty() {
            write_header(out, def);
            out.extend_from_slice(&body);
        }
    }
}

#[cfg(test)]
mod state_tests {
    use super::*;
    use crate::catalog::Resource;
    use crate::collect::Batch;
    use std::path::PathBuf;
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
        let file = crate::state::file_of(&d, "scp a", "hosts");
        crate::state::write(&file, &s.to_state(&key("scp a"), at))
            .unwrap_or_else(|e| panic!("{e}"));
        let (back, when) = load_state(&d, &key("scp a")).unwrap_or_else(|| panic!("not loaded"));
        assert_eq!(
            back.to_state(&key("scp a"), when),
            s.to_state(&key("scp a"), at)
        );
        assert_eq!((back.series(), when), (3, at));
        // Another slot's file is not this one's.
        assert!(load_state(&d, &key("scp b")).is_none());
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
