//! The poll loop keeps firing and skips (and counts) ticks a slow poll overlaps; reload applies a
//! good configuration and keeps the running one on a bad one; shutdown ends cleanly.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use headroom::collect::{Batch, BoxFuture, Collector, PollContext, PollError};
use headroom::schedule::PollTask;
use headroom::store::Store;
use headroom::telemetry::SelfMetrics;
use tokio_util::sync::CancellationToken;

struct Counting {
    polls: Arc<AtomicU64>,
    takes: Duration,
}

impl Collector for Counting {
    fn poll<'a>(&'a self, _ctx: &'a PollContext) -> BoxFuture<'a, Result<Batch, PollError>> {
        Box::pin(async move {
            self.polls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.takes).await;
            Ok(Batch::new())
        })
    }
}

async fn run_for(takes: Duration, interval: Duration, virtual_time: Duration) -> (u64, u64) {
    let polls = Arc::new(AtomicU64::new(0));
    let store = Arc::new(Store::new());
    let metrics = Arc::new(SelfMetrics::new());
    store.register("t", "c", "test", interval, interval * 3);
    let task = PollTask {
        target: "t".into(),
        platform: "test",
        collector_name: "c",
        interval,
        collector: Arc::new(Counting {
            polls: Arc::clone(&polls),
            takes,
        }),
        store,
        metrics: Arc::clone(&metrics),
        health: Default::default(),
    };
    let cancel = CancellationToken::new();
    let handle = tokio::spawn(task.run(cancel.clone()));
    tokio::time::sleep(virtual_time).await;
    cancel.cancel();
    let _ = handle.await;
    (
        polls.load(Ordering::SeqCst),
        SelfMetrics::counter_value(&metrics.collector_skipped, &["t", "c"]),
    )
}

#[tokio::test(start_paused = true)]
async fn repeated_polls_keep_firing_for_a_day() {
    // The scheduler this replaces (tokio-cron-scheduler#113) could stop firing repeated jobs.
    let (polls, skipped) = run_for(
        Duration::from_millis(10),
        Duration::from_secs(10),
        Duration::from_secs(86_400),
    )
    .await;
    assert!(
        (8639..=8641).contains(&polls),
        "{polls} polls in a day at 10 s"
    );
    assert_eq!(skipped, 0);
}

#[tokio::test(start_paused = true)]
async fn a_slow_poll_never_overlaps_and_the_skipped_ticks_are_counted() {
    // Each poll would take 25 s at a 10 s interval: it is cut at its interval (a timeout), the
    // tick that came meanwhile is skipped and counted, and the next poll starts on the tick after:
    // one poll every 20 s, never two at once.
    let (polls, skipped) = run_for(
        Duration::from_secs(25),
        Duration::from_secs(10),
        Duration::from_secs(300),
    )
    .await;
    assert!((14..=16).contains(&polls), "{polls}");
    assert!(skipped + 1 >= polls, "{skipped} skipped for {polls} polls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_good_config_keeps_old_on_bad_and_shutdown_ends() {
    let (sim, _) = common::esm_sim(Default::default()).await;
    let dir = std::env::temp_dir().join(format!("headroom-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("config.yaml");
    let only_devices = "    collectors:\n      physical_capacity: {enabled: false}\n      service_capacity: {enabled: false}\n      cloud_service_alarms: {enabled: false}\n      hardware_alarms: {enabled: false}\n      host_metrics: {enabled: false}\n      tenant_resources: {enabled: false}\n";
    let one = format!(
        "targets:\n{}",
        common::esm_target("a", sim, "demo-password", only_devices)
    );
    std::fs::write(&path, &one).unwrap_or_else(|e| panic!("{e}"));
    let cfg = headroom::config::load(&path).unwrap_or_else(|p| panic!("{p}"));
    let daemon = headroom::cli::Daemon::start(
        cfg,
        "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        CancellationToken::new(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(daemon.store.targets(), vec!["a".to_string()]);

    let two = format!(
        "{one}{}",
        common::esm_target("b", sim, "demo-password", only_devices)
    );
    std::fs::write(&path, &two).unwrap_or_else(|e| panic!("{e}"));
    assert!(daemon.reload(&path));
    assert_eq!(
        daemon.store.targets(),
        vec!["a".to_string(), "b".to_string()]
    );
    assert_eq!(daemon.metrics.reload_successful.get(), 1);

    std::fs::write(&path, "targets: [").unwrap_or_else(|e| panic!("{e}"));
    assert!(!daemon.reload(&path));
    assert_eq!(
        daemon.store.targets(),
        vec!["a".to_string(), "b".to_string()],
        "a bad reload keeps the running config"
    );
    assert_eq!(daemon.metrics.reload_successful.get(), 0);

    let addr = daemon.addr;
    tokio::time::timeout(Duration::from_secs(15), daemon.stop())
        .await
        .unwrap_or_else(|_| panic!("shutdown hung"));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the server still listens after shutdown"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
