//! What every platform collector shares: the [`Collector`] trait, the [`Batch`] of normalised
//! samples a poll produces, and the bounded [`ErrorReason`]s a failed poll reports.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use crate::catalog::{Measures, MetricDef, Resource};
use crate::lenient::Num;

/// A boxed future, so collectors of different platforms fit behind one trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One collector of one target: polls some of a platform's APIs and normalises the answers.
pub trait Collector: Send + Sync {
    /// Runs one complete poll. Either every page and every API call succeeded and the whole
    /// batch is returned, or nothing is (the store then keeps the last good snapshot).
    fn poll<'a>(&'a self, ctx: &'a PollContext) -> BoxFuture<'a, Result<Batch, PollError>>;
}

/// What a poll knows about its own run.
#[derive(Clone, Debug)]
pub struct PollContext {
    /// Requests that cannot start before this instant fail with [`ErrorReason::Budget`]: a poll
    /// that does not fit its interval is reported, never sped up.
    pub deadline: tokio::time::Instant,
    /// Wall-clock time the poll started; API time windows end here.
    pub started: SystemTime,
}

/// One normalised series.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub def: &'static MetricDef,
    /// Labels besides `platform` and `target`, which the store adds.
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// Whether `value` can be an amount (or ratio) of `resource` in `def`: no capacity, allocation
/// or use below zero (only a free amount, or a disagreement, may be negative: an
/// over-allocation), and nothing beyond what any site holds (a zebibyte, a quadrillion hertz
/// per host times a million hosts, a trillion of anything counted). Vendor data outside it is
/// an error, dropped and counted, never exported (once −64 cores and 1e308 bytes were).
fn plausible(def: &MetricDef, resource: Resource, value: f64) -> bool {
    use crate::catalog::Unit;
    let signed = def.name.ends_with("_free") || def.name.ends_with("_discrepancy");
    if value < 0.0 && !signed {
        return false;
    }
    let max = match def.measures {
        Measures::Ratio => 1e6,
        _ => match resource.unit() {
            Unit::Bytes => 2f64.powi(70),
            Unit::Hertz | Unit::BitsPerSecond => 1e21,
            Unit::Vcpus | Unit::Cores | Unit::Threads | Unit::Count => 1e12,
            Unit::Ratio => 1e6,
        },
    };
    value.abs() <= max
}

/// The normalised result of one poll.
#[derive(Debug, Default)]
pub struct Batch {
    samples: Vec<Sample>,
    dropped: usize,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a sample of a family that names no resource. Labels with an empty value are left out
    /// (Prometheus treats an empty label as an absent one). A non-finite value is dropped and
    /// counted.
    pub fn push(&mut self, def: &'static MetricDef, labels: &[(&'static str, &str)], value: f64) {
        debug_assert!(
            def.measures == Measures::Nothing,
            "{}: use Batch::put with a Resource",
            def.name
        );
        self.add(def, None, labels, value);
    }

    /// Adds a sample about `resource`: the `resource` and `unit` labels come from the vocabulary
    /// (a ratio family's unit is `ratio`), so a collector cannot pair a name with another unit.
    pub fn put(
        &mut self,
        def: &'static MetricDef,
        resource: Resource,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        debug_assert!(
            def.measures != Measures::Nothing,
            "{}: this family names no resource",
            def.name
        );
        self.add(def, Some(resource), labels, value);
    }

    /// [`Batch::put`] of `num × scale` if the platform gave a number; a value that is absent is
    /// skipped and one that does not parse is counted as dropped (never exported as 0).
    pub fn put_num(
        &mut self,
        def: &'static MetricDef,
        resource: Resource,
        labels: &[(&'static str, &str)],
        num: &Num,
        scale: f64,
    ) {
        match num {
            Num::Value(v) => self.put(def, resource, labels, v * scale),
            Num::Invalid => self.drop_value(),
            Num::Absent => {}
        }
    }

    /// [`Batch::push`] of `num × scale`, like [`Batch::put_num`].
    pub fn push_num(
        &mut self,
        def: &'static MetricDef,
        labels: &[(&'static str, &str)],
        num: &Num,
        scale: f64,
    ) {
        match num {
            Num::Value(v) => self.push(def, labels, v * scale),
            Num::Invalid => self.drop_value(),
            Num::Absent => {}
        }
    }

    fn add(
        &mut self,
        def: &'static MetricDef,
        resource: Option<Resource>,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        if !value.is_finite() || resource.is_some_and(|r| !plausible(def, r, value)) {
            self.dropped += 1;
            return;
        }
        let mut out = Vec::with_capacity(labels.len() + 2);
        // `service`, `resource`, `unit` lead, in that order, so a series reads the same on
        // every platform.
        if let Some((k, v)) = labels.iter().find(|(k, _)| *k == "service") {
            if !v.is_empty() {
                out.push((*k, (*v).to_string()));
            }
        }
        if let Some(r) = resource {
            let unit = match def.measures {
                Measures::Ratio => "ratio",
                _ => r.unit().as_str(),
            };
            out.push(("resource", r.name().to_string()));
            out.push(("unit", unit.to_string()));
        }
        for (k, v) in labels {
            debug_assert!(
                !matches!(*k, "resource" | "unit"),
                "{}: the resource and unit labels come from the Resource",
                def.name
            );
            if !v.is_empty() && *k != "service" {
                out.push((*k, (*v).to_string()));
            }
        }
        self.samples.push(Sample {
            def,
            labels: out,
            value,
        });
    }

    /// Counts a value that could not be parsed or mapped; it is not exported (never as 0).
    pub fn drop_value(&mut self) {
        self.dropped += 1;
    }

    /// Counts `n` values that could not be parsed (e.g. records a page held that did not parse).
    pub fn drop_values(&mut self, n: usize) {
        self.dropped += n;
    }

    /// Values dropped so far.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    pub fn into_samples(self) -> Vec<Sample> {
        self.samples
    }
}

/// Why a poll failed; the bounded set used as the `reason` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorReason {
    /// A request or the poll itself ran out of time.
    Timeout,
    /// Credentials were rejected or the token could not be obtained.
    Auth,
    /// The platform kept answering 429 after the retries.
    Throttled,
    /// Connection failure, or an HTTP status the collector cannot use.
    Http,
    /// The response could not be parsed.
    Parse,
    /// The poll needs more requests than the rate budget allows within its interval.
    Budget,
    /// The collector itself failed (a panic): a defect of headroom, not of the platform.
    Internal,
    /// The TLS handshake failed: an untrusted or wrong certificate, or no common protocol.
    Tls,
    /// A list needs more pages than the target's `max_pages` allows.
    PageLimit,
}

impl ErrorReason {
    pub const ALL: [ErrorReason; 9] = [
        ErrorReason::Timeout,
        ErrorReason::Auth,
        ErrorReason::Throttled,
        ErrorReason::Http,
        ErrorReason::Parse,
        ErrorReason::Budget,
        ErrorReason::Internal,
        ErrorReason::Tls,
        ErrorReason::PageLimit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorReason::Timeout => "timeout",
            ErrorReason::Auth => "auth",
            ErrorReason::Throttled => "throttled",
            ErrorReason::Http => "http",
            ErrorReason::Internal => "internal",
            ErrorReason::Tls => "tls",
            ErrorReason::PageLimit => "page_limit",
            ErrorReason::Parse => "parse",
            ErrorReason::Budget => "budget",
        }
    }
}

impl fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed poll: the reason label and a message for the log and the status page. Messages
/// never contain secrets or response bodies beyond a short, sanitised error text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollError {
    pub reason: ErrorReason,
    pub message: String,
    /// The HTTP status the platform answered, where the error is one: what code decides on
    /// (never the message's text).
    pub status: Option<u16>,
}

/// Refuses a page holding far more records than were asked for (`asked` per page): a hostile
/// or broken answer (a page of a million small records once took 3 GB to hold). Some APIs round
/// a page size up, so up to ten times it, and at least 10,000, pass.
pub fn check_page_len(api: &str, got: usize, asked: u64) -> Result<(), PollError> {
    let allowed = usize::try_from(asked.saturating_mul(10))
        .unwrap_or(usize::MAX)
        .max(10_000);
    if got > allowed {
        return Err(PollError::new(
            ErrorReason::Parse,
            format!("{api} answered {got} records on one page, for a page size of {asked}; refusing the page"),
        ));
    }
    Ok(())
}

impl PollError {
    /// An error of `reason`; the message is made safe to log and show (`redact.rs`): it may
    /// carry a vendor's text, which may echo credentials.
    pub fn new(reason: ErrorReason, message: impl Into<String>) -> PollError {
        PollError {
            reason,
            message: crate::redact::redact(&message.into()),
            status: None,
        }
    }

    /// The same error, answered with HTTP `status`.
    pub fn with_status(mut self, status: u16) -> PollError {
        self.status = Some(status);
        self
    }
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for PollError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    /// A page of a million small records was once parsed and held whole (3 GB).
    #[test]
    fn a_page_far_beyond_its_size_is_refused() {
        assert!(check_page_len("hosts", 100, 100).is_ok());
        assert!(check_page_len("hosts", 10_000, 100).is_ok());
        let e = check_page_len("hosts", 1_000_000, 100).err();
        assert!(e
            .is_some_and(|e| e.reason == ErrorReason::Parse
                && e.message.contains("1000000 records on one page")));
    }

    /// A vendor's 500 that echoed the request's token once reached the log and the status page.
    #[test]
    fn a_poll_error_never_carries_an_echoed_credential() {
        let body = br#"{"code": 500, "message": "internal error handling GET with Authorization: Bearer eyJhbGciOi.abc.def and X-Auth-Token: 9f8e7d6c"}"#;
        let e = PollError::new(
            ErrorReason::Http,
            format!(
                "hosts answered HTTP 500{}",
                crate::http::error_summary(body)
            ),
        );
        assert!(
            !e.message.contains("eyJhbGciOi") && !e.message.contains("9f8e7d6c"),
            "{e}"
        );
        assert!(
            e.message
                .starts_with("hosts answered HTTP 500 (500: internal error"),
            "{e}"
        );
    }

    /// Out-of-range vendor numbers were once exported as given: −64 cores, 1e308 bytes.
    #[test]
    fn amounts_that_cannot_be_capacity_are_dropped_and_counted() {
        let mut b = Batch::new();
        let l = [("az", "a")];
        b.put(&catalog::RESOURCE_CAPACITY, Resource::CpuCores, &l, -64.0);
        b.put(
            &catalog::RESOURCE_ALLOCATED,
            Resource::Memory,
            &l,
            -5.0 * 1_073_741_824.0,
        );
        b.put(&catalog::RESOURCE_CAPACITY, Resource::Storage, &l, 1e308);
        b.put(&catalog::RESOURCE_CAPACITY, Resource::Gpu, &l, f64::NAN);
        b.put(
            &catalog::RESOURCE_OVERCOMMIT_RATIO,
            Resource::Vcpu,
            &l,
            -1.0,
        );
        assert_eq!((b.len(), b.dropped()), (0, 5));
        // A free amount may be negative (an over-allocation), and real sizes pass.
        b.put(&catalog::RESOURCE_FREE, Resource::Vcpu, &l, -12.0);
        b.put(&catalog::RESOURCE_CAPACITY, Resource::Storage, &l, 4e18);
        b.put(&catalog::RESOURCE_CAPACITY, Resource::CpuHertz, &l, 3e15);
        b.put(&catalog::RESOURCE_CAPACITY, Resource::CpuCores, &l, 0.0);
        assert_eq!((b.len(), b.dropped()), (4, 5));
    }
}
