//! The poll loops: one task per (target, collector), started with a random phase, then at the
//! collector's interval; a poll still running when its next tick comes makes that tick skip
//! (counted). Applying a new configuration reconciles the loops: unchanged targets keep running
//! with their tokens and budgets, changed ones restart with their budgets' timing carried over.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::budget::Budgets;
use crate::collect::{Collector, ErrorReason, PollContext, PollError};
use crate::config::{Config, TargetConfig};
use crate::http::ApiClient;
use crate::platforms;
use crate::store::{Snapshot, Store};
use crate::telemetry::SelfMetrics;

/// The first poll of every collector starts within this long after start (spread, so targets
/// do not all fire at once, but soon, so an operator sees data at once even for hourly ones).
const FIRST_POLL_SPREAD: Duration = Duration::from_secs(5);

struct RunningTarget {
    config: TargetConfig,
    budgets: Arc<Budgets>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// The running pollers of the daemon.
pub struct Runtime {
    store: Arc<Store>,
    metrics: Arc<SelfMetrics>,
    targets: Mutex<BTreeMap<String, RunningTarget>>,
}

/// A target ready to start: its client and collectors are built.
struct Prepared {
    config: TargetConfig,
    budgets: Arc<Budgets>,
    collectors: Vec<(&'static str, Arc<dyn Collector>)>,
}

impl Runtime {
    pub fn new(store: Arc<Store>, metrics: Arc<SelfMetrics>) -> Runtime {
        Runtime {
            store,
            metrics,
            targets: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, RunningTarget>> {
        self.targets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts, keeps, restarts or stops pollers to match `config`. Every changed target is
    /// prepared before anything stops, so an error (an unreadable CA file) leaves the running
    /// configuration untouched.
    pub fn apply(&self, config: &Config) -> Result<(), String> {
        let mut running = self.lock();
        let mut prepared = Vec::new();
        for t in &config.targets {
            if running.get(&t.name).is_some_and(|r| r.config == *t) {
                continue;
            }
            let previous = running.get(&t.name).map(|r| Arc::clone(&r.budgets));
            let budgets = Arc::new(Budgets::new(
                t.platform.limit_scopes(),
                &t.budgets,
                previous.as_deref(),
            ));
            let client = ApiClient::new(t, Arc::clone(&budgets), Arc::clone(&self.metrics))
                .map_err(|e| format!("target `{}`: {e}", t.name))?;
            let collectors = platforms::build_collectors(t, Arc::new(client));
            prepared.push(Prepared {
                config: t.clone(),
                budgets,
                collectors,
            });
        }
        // Stop removed targets.
        let wanted: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
        let removed: Vec<String> = running
            .keys()
            .filter(|k| !wanted.contains(&k.as_str()))
            .cloned()
            .collect();
        for name in removed {
            if let Some(r) = running.remove(&name) {
                info!(target_name = %name, "Stopping the pollers of a removed target.");
                r.cancel.cancel();
            }
        }
        // Restart changed targets, start new ones.
        for p in prepared {
            if let Some(old) = running.remove(&p.config.name) {
                info!(target_name = %p.config.name, "Restarting the pollers of a changed target.");
                old.cancel.cancel();
            }
            if p.config.tls.insecure_skip_verify {
                warn!(target_name = %p.config.name, "TLS certificate verification is OFF for this target (tls.insecure_skip_verify).");
            }
            let cancel = CancellationToken::new();
            let mut tasks = Vec::new();
            prepare_counters(&self.metrics, &p.config);
            for c in &p.config.collectors {
                self.store.register(
                    &p.config.name,
                    c.name,
                    p.config.platform.as_str(),
                    c.interval,
                    c.max_age,
                );
            }
            for (name, collector) in p.collectors {
                let Some(cc) = p.config.collectors.iter().find(|c| c.name == name) else {
                    continue;
                };
                let task = PollTask {
                    target: p.config.name.clone(),
                    platform: p.config.platform.as_str(),
                    collector_name: name,
                    interval: cc.interval,
                    collector,
                    store: Arc::clone(&self.store),
                    metrics: Arc::clone(&self.metrics),
                    health: Health::default(),
                };
                tasks.push(tokio::spawn(task.run(cancel.clone())));
            }
            running.insert(
                p.config.name.clone(),
                RunningTarget {
                    config: p.config,
                    budgets: p.budgets,
                    cancel,
                    tasks,
                },
            );
        }
        // Forget slots of collectors no longer enabled and targets no longer configured.
        self.store.retain(|t, c| {
            running
                .get(t)
                .is_some_and(|r| r.config.collectors.iter().any(|x| x.name == c))
        });
        self.metrics.set_targets(
            running
                .iter()
                .map(|(name, r)| (name.clone(), r.config.platform.as_str().to_string())),
        );
        Ok(())
    }

    /// Stops every poller and waits (up to `grace`) for in-flight polls to end.
    pub async fn shutdown(&self, grace: Duration) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut running = self.lock();
            let mut all = Vec::new();
            for (_, r) in std::mem::take(&mut *running) {
                r.cancel.cancel();
                all.extend(r.tasks);
            }
            all
        };
        let _ = tokio::time::timeout(grace, async {
            for t in tasks {
                let _ = t.await;
            }
        })
        .await;
    }
}

/// The tick after the poll that was due at `due` and ended at `now`, and how many ticks passed
/// while it ran: those are skipped, not caught up, and counted in one step (however short the
/// interval, the loop never walks tick by tick).
pub fn next_tick(due: Instant, now: Instant, interval: Duration) -> (Instant, u64) {
    let next = due + interval;
    if next > now {
        return (next, 0);
    }
    let step = interval.as_nanos().max(1);
    let behind = (now - next).as_nanos();
    let missed = behind / step + 1;
    let into = behind % step;
    let wait = u64::try_from(step - into).unwrap_or(u64::MAX);
    (
        now + Duration::from_nanos(wait),
        u64::try_from(missed).unwrap_or(u64::MAX),
    )
}

/// A spawned poll, aborted when dropped: a poll the loop gives up on (timeout, shutdown) does
/// not run on unseen.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One (target, collector) loop.
pub struct PollTask {
    pub target: String,
    pub platform: &'static str,
    pub collector_name: &'static str,
    pub interval: Duration,
    pub collector: Arc<dyn Collector>,
    pub store: Arc<Store>,
    pub metrics: Arc<SelfMetrics>,
    /// How the last poll went, so only changes are logged above debug (see [`Health`]).
    pub health: Health,
}

/// A collector's last outcome: a success after a failure (or the first one) is logged at info,
/// a failure at warn, and a success like the one before at debug only, so a healthy site's log
/// stays quiet.
#[derive(Debug, Default)]
pub struct Health(std::sync::atomic::AtomicU8);

impl Health {
    // 0 (the default): no poll finished yet.
    const UP: u8 = 1;
    const DOWN: u8 = 2;

    /// Records a success; returns the state before it.
    fn succeeded(&self) -> u8 {
        self.0
            .swap(Health::UP, std::sync::atomic::Ordering::Relaxed)
    }

    fn failed(&self) {
        self.0
            .store(Health::DOWN, std::sync::atomic::Ordering::Relaxed);
    }
}

impl PollTask {
    /// Polls at the interval until cancelled.
    pub async fn run(self, cancel: CancellationToken) {
        let phase = FIRST_POLL_SPREAD
            .min(self.interval)
            .mul_f64(fastrand::f64());
        let mut next = Instant::now() + phase;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(next) => {}
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.poll_once() => {}
            }
            let (after, missed) = next_tick(next, Instant::now(), self.interval);
            next = after;
            if missed > 0 {
                self.metrics
                    .collector_skipped
                    .with_label_values(&[&self.target, self.collector_name])
                    .inc_by(missed);
                warn!(target_name = %self.target, collector = self.collector_name, missed,
                    "Skipped polls: the previous one was still running.");
            }
        }
    }

    /// Runs one poll within the interval and publishes or records its outcome.
    pub async fn poll_once(&self) -> Result<usize, PollError> {
        let started = Instant::now();
        let ctx = PollContext {
            deadline: started + self.interval,
            started: SystemTime::now(),
        };
        // The poll runs as a task of its own, so a panic in a collector ends that poll (reason
        // `internal`) and not this loop: the collector is down, the next tick tries again, and
        // the other collectors never notice. The guard aborts it when this poll is dropped
        // (shutdown) or times out.
        let collector = Arc::clone(&self.collector);
        let run = ctx.clone();
        let poll = AbortOnDrop(tokio::spawn(async move { collector.poll(&run).await }));
        let result = match tokio::time::timeout(self.interval, poll).await {
            Ok(Ok(r)) => r,
            Ok(Err(joined)) => Err(PollError::new(
                ErrorReason::Internal,
                format!(
                    "the collector failed ({}); this is a defect of headroom: please report it with the log",
                    if joined.is_panic() { "it panicked" } else { "it was cancelled" }
                ),
            )),
            Err(_) => Err(PollError::new(
                ErrorReason::Timeout,
                format!(
                    "the poll did not finish within its interval of {}",
                    humantime::format_duration(self.interval)
                ),
            )),
        };
        let duration = started.elapsed();
        match result {
            Ok(batch) => {
                let dropped = batch.dropped();
                let (snapshot, duplicates) =
                    Snapshot::encode(self.platform, &self.target, batch, ctx.started);
                if duplicates > 0 {
                    warn!(target_name = %self.target, collector = self.collector_name, duplicates, "Dropped duplicate series.");
                }
                let series = snapshot.series();
                self.store.publish(
                    &self.target,
                    self.collector_name,
                    snapshot,
                    dropped + duplicates,
                    duration,
                );
                match self.health.succeeded() {
                    Health::UP => {
                        debug!(target_name = %self.target, collector = self.collector_name, series, dropped, seconds = duration.as_secs_f64(), "Poll succeeded.")
                    }
                    Health::DOWN => {
                        info!(target_name = %self.target, collector = self.collector_name, series, dropped, seconds = duration.as_secs_f64(), "Poll succeeded again: the collector recovered.")
                    }
                    _ => {
                        info!(target_name = %self.target, collector = self.collector_name, series, dropped, seconds = duration.as_secs_f64(), "First poll succeeded.")
                    }
                }
                Ok(series)
            }
            Err(e) => {
                self.metrics
                    .collector_errors
                    .with_label_values(&[&self.target, self.collector_name, e.reason.as_str()])
                    .inc();
                self.health.failed();
                warn!(target_name = %self.target, collector = self.collector_name, reason = %e.reason, error = %e.message, "Poll failed; keeping the last good data until it expires.");
                self.store.fail(
                    &self.target,
                    self.collector_name,
                    e.reason,
                    e.message.clone(),
                    duration,
                );
                Err(e)
            }
        }
    }
}

/// A target's counters at 0, before its first poll (see `SelfMetrics::prepare_target`).
fn prepare_counters(metrics: &SelfMetrics, t: &crate::config::TargetConfig) {
    let collectors: Vec<&str> = t.collectors.iter().map(|c| c.name).collect();
    let scopes: Vec<&str> = t.platform.limit_scopes().iter().map(|s| s.name).collect();
    metrics.prepare_target(&t.name, &collectors, &scopes);
}

/// Builds the poll tasks of every enabled collector of a configuration without starting loops
/// (for `headroom once`).
pub fn one_shot_tasks(
    config: &Config,
    store: &Arc<Store>,
    metrics: &Arc<SelfMetrics>,
) -> Result<Vec<PollTask>, String> {
    let mut tasks = Vec::new();
    for t in &config.targets {
        prepare_counters(metrics, t);
        let budgets = Arc::new(Budgets::new(t.platform.limit_scopes(), &t.budgets, None));
        let client = ApiClient::new(t, budgets, Arc::clone(metrics))
            .map_err(|e| format!("target `{}`: {e}", t.name))?;
        for (name, collector) in platforms::build_collectors(t, Arc::new(client)) {
            let Some(cc) = t.collectors.iter().find(|c| c.name == name) else {
                continue;
            };
            store.register(&t.name, name, t.platform.as_str(), cc.interval, cc.max_age);
            tasks.push(PollTask {
                target: t.name.clone(),
                platform: t.platform.as_str(),
                collector_name: name,
                interval: cc.interval,
                collector,
                store: Arc::clone(store),
                metrics: Arc::clone(metrics),
                health: Health::default(),
            });
        }
    }
    metrics.set_targets(
        config
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.platform.as_str().to_string())),
    );
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{Batch, BoxFuture, Collector, PollContext};

    /// Panics on its first poll, then succeeds.
    struct FlakyCollector(std::sync::atomic::AtomicBool);

    impl Collector for FlakyCollector {
        fn poll<'a>(&'a self, _: &'a PollContext) -> BoxFuture<'a, Result<Batch, PollError>> {
            Box::pin(async move {
                if !self.0.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    panic!("a defect in the collector");
                }
                Ok(Batch::new())
            })
        }
    }

    /// A panic on the poll path once ended that collector's loop silently, `up` staying 1.
    #[tokio::test]
    async fn a_panicking_collector_is_down_with_reason_internal_and_polls_again() {
        let store = Arc::new(Store::new());
        let metrics = Arc::new(SelfMetrics::new());
        let interval = Duration::from_secs(60);
        store.register("t", "c", "huawei_esm", interval, interval * 3);
        let task = PollTask {
            target: "t".into(),
            platform: "huawei_esm",
            collector_name: "c",
            interval,
            collector: Arc::new(FlakyCollector(Default::default())),
            store: Arc::clone(&store),
            metrics: Arc::clone(&metrics),
            health: Health::default(),
        };
        let e = task
            .poll_once()
            .await
            .err()
            .unwrap_or_else(|| panic!("no error"));
        assert_eq!(e.reason, ErrorReason::Internal, "{e}");
        assert!(e.message.contains("panicked"), "{e}");
        assert_eq!(
            SelfMetrics::counter_value(&metrics.collector_errors, &["t", "c", "internal"]),
            1
        );
        let body =
            String::from_utf8_lossy(&store.render(None, &metrics, SystemTime::now())).to_string();
        assert!(
            body.contains(
                r#"headroom_collector_up{target="t",collector="c",platform="huawei_esm"} 0"#
            ),
            "{body}"
        );
        // The next poll runs as usual.
        assert!(task.poll_once().await.is_ok());
    }

    #[test]
    fn a_poll_within_its_interval_skips_nothing() {
        let due = Instant::now();
        let i = Duration::from_secs(60);
        assert_eq!(
            next_tick(due, due + Duration::from_secs(5), i),
            (due + i, 0)
        );
    }

    #[test]
    fn ticks_missed_while_a_poll_ran_are_counted_in_one_step() {
        let due = Instant::now();
        let i = Duration::from_secs(60);
        // Ended 150 s after it was due: the ticks at 60 s and 120 s passed; the next is at 180 s.
        let (next, missed) = next_tick(due, due + Duration::from_secs(150), i);
        assert_eq!((next - due, missed), (Duration::from_secs(180), 2));
        // Exactly on a tick: that tick is missed too, the next is one interval on.
        let (next, missed) = next_tick(due, due + Duration::from_secs(120), i);
        assert_eq!((next - due, missed), (Duration::from_secs(180), 2));
    }

    /// The loop once walked tick by tick, logging each: at 1 ns and a 10 s poll that was 10^10
    /// steps (26 GB of log in 8 minutes, and no exit on SIGTERM). Now it is arithmetic.
    #[test]
    fn a_nanosecond_interval_behind_by_seconds_is_one_step() {
        let due = Instant::now();
        let now = due + Duration::from_secs(10);
        let (next, missed) = next_tick(due, now, Duration::from_nanos(1));
        assert_eq!(missed, 10_000_000_000);
        assert!(next > now && next <= now + Duration::from_nanos(1));
    }
}
