//! headroom's own counters and histograms (requests, throttles, budget waits, token refreshes),
//! kept live in a `prometheus` registry whose family names, help and labels come from the catalogue.

use prometheus::{
    Counter, CounterVec, Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::catalog::{self, MetricDef};

/// Live self-metrics of one daemon (tests run several side by side, so this is not global).
pub struct SelfMetrics {
    registry: Registry,
    pub api_requests: IntCounterVec,
    pub api_request_duration: HistogramVec,
    pub api_budget: GaugeVec,
    pub api_budget_wait: CounterVec,
    pub api_throttled: IntCounterVec,
    pub api_retries: IntCounterVec,
    pub collector_errors: IntCounterVec,
    pub collector_skipped: IntCounterVec,
    pub token_refreshes: IntCounterVec,
    pub tls_insecure: IntGaugeVec,
    pub reload_successful: IntGauge,
    pub reload_timestamp: Gauge,
    process: ProcessMetrics,
    /// Configured targets and their platforms: series of other targets are not served, and
    /// series of these get a `platform` label.
    targets: std::sync::RwLock<Option<std::collections::HashMap<String, String>>>,
}

impl std::fmt::Debug for SelfMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SelfMetrics")
    }
}

fn opts(def: &MetricDef) -> Opts {
    Opts::new(def.name, def.help)
}

/// The version as `--version` prints it: version, revision, compiler, target.
pub const VERSION_LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("HEADROOM_REVISION"),
    ", rustc ",
    env!("HEADROOM_RUSTC"),
    ", ",
    env!("HEADROOM_TARGET"),
    ")"
);

/// The `process_*` families, refreshed from `/proc` when the self-metrics are encoded.
struct ProcessMetrics {
    cpu_seconds: Counter,
    /// The CPU time the counter was last brought to (it only moves forward).
    cpu_counted: std::sync::Mutex<f64>,
    resident: Gauge,
    virtual_memory: Gauge,
    start_time: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
}

impl ProcessMetrics {
    fn refresh(&self) {
        let s = crate::process::ProcessStats::read();
        if let Some(cpu) = s.cpu_seconds {
            let mut counted = self.cpu_counted.lock().unwrap_or_else(|e| e.into_inner());
            if cpu > *counted {
                self.cpu_seconds.inc_by(cpu - *counted);
                *counted = cpu;
            }
        }
        for (gauge, value) in [
            (&self.resident, s.resident_bytes),
            (&self.virtual_memory, s.virtual_bytes),
            (&self.start_time, s.start_time_seconds),
            (&self.open_fds, s.open_fds),
            (&self.max_fds, s.max_fds),
        ] {
            if let Some(v) = value {
                gauge.set(v);
            }
        }
    }
}

impl SelfMetrics {
    pub fn new() -> SelfMetrics {
        let registry = Registry::new();
        // Names and label sets are constants from the catalogue, so registration can only fail
        // on a programming error, which the unit test below catches.
        fn reg<C: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: C) -> C {
            if let Err(e) = r.register(Box::new(c.clone())) {
                panic!("self-metric registration failed: {e}");
            }
            c
        }
        fn counter(r: &Registry, d: &MetricDef) -> IntCounterVec {
            reg(
                r,
                IntCounterVec::new(opts(d), d.labels).unwrap_or_else(|e| panic!("{}: {e}", d.name)),
            )
        }
        let api_request_duration = reg(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    catalog::API_REQUEST_DURATION.name,
                    catalog::API_REQUEST_DURATION.help,
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ]),
                catalog::API_REQUEST_DURATION.labels,
            )
            .unwrap_or_else(|e| panic!("histogram: {e}")),
        );
        let api_budget = reg(
            &registry,
            GaugeVec::new(opts(&catalog::API_BUDGET), catalog::API_BUDGET.labels)
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let api_budget_wait = reg(
            &registry,
            CounterVec::new(
                opts(&catalog::API_BUDGET_WAIT),
                catalog::API_BUDGET_WAIT.labels,
            )
            .unwrap_or_else(|e| panic!("{e}")),
        );
        let tls_insecure = reg(
            &registry,
            IntGaugeVec::new(
                opts(&catalog::TARGET_TLS_INSECURE),
                catalog::TARGET_TLS_INSECURE.labels,
            )
            .unwrap_or_else(|e| panic!("{e}")),
        );
        let reload_successful = reg(
            &registry,
            IntGauge::with_opts(opts(&catalog::CONFIG_RELOAD_SUCCESSFUL))
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let reload_timestamp = reg(
            &registry,
            Gauge::with_opts(opts(&catalog::CONFIG_RELOAD_TIMESTAMP))
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let build_info = reg(
            &registry,
            IntGaugeVec::new(opts(&catalog::BUILD_INFO), catalog::BUILD_INFO.labels)
                .unwrap_or_else(|e| panic!("{e}")),
        );
        build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                env!("HEADROOM_REVISION"),
                env!("HEADROOM_RUSTC"),
                env!("HEADROOM_OS"),
                env!("HEADROOM_ARCH"),
            ])
            .set(1);
        let gauge = |d: &MetricDef| {
            reg(
                &registry,
                Gauge::with_opts(opts(d)).unwrap_or_else(|e| panic!("{}: {e}", d.name)),
            )
        };
        let process = ProcessMetrics {
            cpu_seconds: reg(
                &registry,
                Counter::with_opts(opts(&catalog::PROCESS_CPU_SECONDS))
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
            cpu_counted: std::sync::Mutex::new(0.0),
            resident: gauge(&catalog::PROCESS_RESIDENT_MEMORY),
            virtual_memory: gauge(&catalog::PROCESS_VIRTUAL_MEMORY),
            start_time: gauge(&catalog::PROCESS_START_TIME),
            open_fds: gauge(&catalog::PROCESS_OPEN_FDS),
            max_fds: gauge(&catalog::PROCESS_MAX_FDS),
        };
        SelfMetrics {
            api_requests: counter(&registry, &catalog::API_REQUESTS),
            api_request_duration,
            api_budget,
            api_budget_wait,
            api_throttled: counter(&registry, &catalog::API_THROTTLED),
            api_retries: counter(&registry, &catalog::API_RETRIES),
            collector_errors: counter(&registry, &catalog::COLLECTOR_ERRORS),
            collector_skipped: counter(&registry, &catalog::COLLECTOR_SKIPPED),
            token_refreshes: counter(&registry, &catalog::AUTH_TOKEN_REFRESHES),
            tls_insecure,
            reload_successful,
            reload_timestamp,
            process,
            registry,
            targets: std::sync::RwLock::new(None),
        }
    }

    /// Appends the self-metrics in text format; with `target`, only that target's series and
    /// the target-independent ones.
    pub fn encode(&self, out: &mut Vec<u8>, target: Option<&str>) {
        self.process.refresh();
        let mut families = self.registry.gather();
        let known = self.targets.read().unwrap_or_else(|e| e.into_inner());
        let keep = |value: &str| {
            target.is_none_or(|want| want == value)
                && known.as_ref().is_none_or(|k| k.contains_key(value))
        };
        for fam in &mut families {
            let metrics: Vec<_> = fam
                .take_metric()
                .into_iter()
                .filter(|m| {
                    m.get_label()
                        .iter()
                        .all(|l| l.name() != "target" || keep(l.value()))
                })
                .map(|mut m| {
                    let platform = m
                        .get_label()
                        .iter()
                        .find(|l| l.name() == "target")
                        .and_then(|l| known.as_ref()?.get(l.value()))
                        .cloned();
                    if let Some(platform) = platform {
                        let mut labels = m.take_label();
                        let mut pair = prometheus::proto::LabelPair::default();
                        pair.set_name("platform".to_string());
                        pair.set_value(platform);
                        labels.push(pair);
                        m.set_label(labels);
                    }
                    m
                })
                .collect();
            fam.mut_metric().extend(metrics);
        }
        families.retain(|f| !f.get_metric().is_empty());
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&families, out);
    }

    /// Creates every counter series a target's collectors and limit scopes can take, at 0, so a
    /// rule sees the first event as an increase (a counter that appears at 1 has none): errors
    /// per collector and reason, skipped polls, throttles and budget waits per scope, token
    /// requests per result.
    pub fn prepare_target(&self, target: &str, collectors: &[&str], scopes: &[&str]) {
        for c in collectors {
            for reason in crate::collect::ErrorReason::ALL {
                self.collector_errors
                    .with_label_values(&[target, c, reason.as_str()]);
            }
            self.collector_skipped.with_label_values(&[target, c]);
        }
        for scope in scopes {
            self.api_throttled.with_label_values(&[target, scope]);
            self.api_budget_wait.with_label_values(&[target, scope]);
        }
        for result in ["success", "failure"] {
            self.token_refreshes.with_label_values(&[target, result]);
        }
    }

    /// Sets the targets of the current configuration, as (target, platform); series of other
    /// targets (removed by a reload) are no longer served.
    pub fn set_targets(&self, targets: impl IntoIterator<Item = (String, String)>) {
        let set = targets.into_iter().collect();
        *self.targets.write().unwrap_or_else(|e| e.into_inner()) = Some(set);
    }

    /// Value of a counter series, for tests and the status page.
    pub fn counter_value(vec: &IntCounterVec, labels: &[&str]) -> u64 {
        vec.get_metric_with_label_values(labels)
            .map(|c| c.get())
            .unwrap_or(0)
    }
}

impl Default for SelfMetrics {
    fn default() -> Self {
        SelfMetrics::new()
    }
}
