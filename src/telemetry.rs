//! headroom's own counters and histograms (requests, throttles, budget waits, token refreshes),
//! kept live in a `prometheus` registry whose family names, help and labels come from the catalogue.

use prometheus::{
    CounterVec, Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
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
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
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
            registry,
            targets: std::sync::RwLock::new(None),
        }
    }

    /// Appends the self-metrics in text format; with `target`, only that target's series and
    /// the target-independent ones.
    pub fn encode(&self, out: &mut Vec<u8>, target: Option<&str>) {
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
