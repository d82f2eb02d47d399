//! Simulators of the platforms' management APIs, for the demo, the tests and the benchmarks:
//! documented paths, auth, paging and limits, a seeded synthetic fleet, and fault injection.

pub mod huawei_esm;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Faults a simulator injects into data responses, each with a probability 0-1.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every data response.
    pub latency_ms: u64,
    /// Answer 500 with the platform's error body.
    pub error_rate: f64,
    /// Answer 429 although the limit was not reached.
    pub throttle_rate: f64,
    /// Answer 200 with a body that is not JSON.
    pub malformed_rate: f64,
    /// Answer 200 with the JSON body cut in half.
    pub truncate_rate: f64,
}

/// What a fault roll decided for one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    Error,
    Throttle,
    Malformed,
    Truncate,
}

impl Faults {
    pub fn roll(&self, rng: &mut fastrand::Rng) -> Fault {
        let hit = |rng: &mut fastrand::Rng, p: f64| p > 0.0 && rng.f64() < p;
        if hit(rng, self.error_rate) {
            Fault::Error
        } else if hit(rng, self.throttle_rate) {
            Fault::Throttle
        } else if hit(rng, self.malformed_rate) {
            Fault::Malformed
        } else if hit(rng, self.truncate_rate) {
            Fault::Truncate
        } else {
            Fault::None
        }
    }
}

/// Counts requests in a sliding window and refuses those over the limit.
#[derive(Debug)]
pub struct SlidingWindow {
    window: Duration,
    limit: usize,
    accepted: Mutex<VecDeque<Instant>>,
    max_seen: Mutex<usize>,
}

impl SlidingWindow {
    pub fn new(limit: usize, window: Duration) -> SlidingWindow {
        SlidingWindow {
            window,
            limit,
            accepted: Mutex::new(VecDeque::new()),
            max_seen: Mutex::new(0),
        }
    }

    /// Records a request if it fits; `false` means it must be refused (429).
    pub fn admit(&self) -> bool {
        let now = Instant::now();
        let mut q = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.limit {
            return false;
        }
        q.push_back(now);
        let mut m = self.max_seen.lock().unwrap_or_else(|e| e.into_inner());
        *m = (*m).max(q.len());
        true
    }

    /// The most requests ever accepted within one window.
    pub fn max_in_window(&self) -> usize {
        *self.max_seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Binds a simulator's listener.
pub async fn bind(listen: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen).await
}
