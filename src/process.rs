//! The `process_*` self-metrics every Prometheus client library exports, read from `/proc` when
//! `/metrics` is rendered (a few small files; absent outside Linux, then the series are left out).

use std::time::{SystemTime, UNIX_EPOCH};

/// `/proc` reports CPU times in USER_HZ ticks, fixed at 100 by the kernel's ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the process's figures; `None` where `/proc` did not say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
}

/// `utime + stime` and `starttime` (ticks since boot) of `/proc/self/stat`: fields 14, 15 and 22,
/// counted after the parenthesised command name (which may itself hold spaces).
fn parse_stat(stat: &str) -> Option<(f64, f64)> {
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state).
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    Some((field(14)? + field(15)?, field(22)?))
}

/// A `Name:   123 kB` line of `/proc/self/status`, in bytes.
fn status_kib(status: &str, name: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kib: f64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024.0)
}

/// The soft `Max open files` of `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `btime` of `/proc/stat`: boot time, Unix seconds.
fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

impl ProcessStats {
    /// Reads the current process's figures.
    pub fn read() -> ProcessStats {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let stat = read("/proc/self/stat").and_then(|s| parse_stat(&s));
        let status = read("/proc/self/status");
        let boot = read("/proc/stat").and_then(|s| boot_time(&s));
        ProcessStats {
            cpu_seconds: stat.map(|(cpu, _)| cpu / TICKS_PER_SECOND),
            resident_bytes: status.as_deref().and_then(|s| status_kib(s, "VmRSS:")),
            virtual_bytes: status.as_deref().and_then(|s| status_kib(s, "VmSize:")),
            start_time_seconds: match (stat, boot) {
                (Some((_, start)), Some(b)) => Some(b + start / TICKS_PER_SECOND),
                _ => None,
            },
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as f64),
            max_fds: read("/proc/self/limits").and_then(|l| max_open_files(&l)),
        }
    }
}

/// Seconds since the Unix epoch now (to sanity-check a start time).
pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_proc_formats() {
        let stat = "4242 (head room) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 50 0 0 20 0 9 0 12345 1000 200 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((200.0, 12345.0)));
        assert_eq!(
            status_kib("Name:\theadroom\nVmRSS:\t  2048 kB\n", "VmRSS:"),
            Some(2048.0 * 1024.0)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024.0));
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\n"),
            Some(1_700_000_000.0)
        );
    }

    #[test]
    fn this_process_has_figures() {
        let s = ProcessStats::read();
        assert!(s.resident_bytes.is_some_and(|b| b > 0.0));
        assert!(s.open_fds.is_some_and(|n| n >= 1.0));
        let start = s.start_time_seconds.unwrap_or(0.0);
        assert!(
            start > 1_600_000_000.0 && start <= now_seconds() + 1.0,
            "{start}"
        );
    }
}
