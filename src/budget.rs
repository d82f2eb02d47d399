//! Rate budgets: one GCRA limiter per documented limit scope of a target, pauses after 429s, and
//! the jittered backoff between retries.
//!
//! A limiter spaces requests evenly at its rate with no burst above one request, so at most
//! `rate × window + 1` requests fall in any window: a 48/min budget never sends more than 49
//! requests in any 60 seconds, whichever way the server counts its minute. Slots are reserved
//! before sleeping, so concurrent pollers of one scope queue fairly and share the budget.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// A documented throughput limit of a platform, shared by the APIs in it.
#[derive(Clone, Copy, Debug)]
pub struct LimitScope {
    /// Name used in config (`budgets.<name>`) and the `scope` label.
    pub name: &'static str,
    /// The documented limit, in requests per minute.
    pub documented_per_minute: f64,
    /// A lower self-imposed default where the documented limit is far above what a capacity
    /// poller needs (e.g. 4000 TPS).
    pub default_cap_per_minute: Option<f64>,
    /// How long to pause the scope after a 429 without `Retry-After`.
    pub default_pause: Duration,
    /// A 429 in this scope bans the client from the whole platform (Sangfor SCP bans the client
    /// IP), so every scope of the target pauses, not only this one.
    pub throttle_pauses_target: bool,
    /// The limit counts per client IP (not per credential): targets on one host share it.
    pub per_client_ip: bool,
    pub description: &'static str,
}

/// The budget of one scope could not give a slot before the poll's deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct OverBudget {
    pub per_minute: f64,
    /// The scope is paused after the platform throttled it (a 429), so the wait is the
    /// platform's doing, not the budget's: the poll's reason is `throttled`.
    pub paused: bool,
}

#[derive(Debug)]
struct State {
    /// Theoretical arrival time of the next request (GCRA).
    tat: Instant,
    paused_until: Option<Instant>,
}

/// A GCRA limiter with burst 1 and a pause switch.
#[derive(Debug)]
pub struct Limiter {
    pub scope: LimitScope,
    per_minute: f64,
    emission: Duration,
    state: Mutex<State>,
}

impl Limiter {
    pub fn new(scope: LimitScope, per_minute: f64) -> Limiter {
        let per_minute = per_minute.max(0.001);
        Limiter {
            scope,
            per_minute,
            emission: Duration::from_secs_f64(60.0 / per_minute),
            state: Mutex::new(State {
                tat: Instant::now(),
                paused_until: None,
            }),
        }
    }

    /// The configured rate, in requests per minute.
    pub fn per_minute(&self) -> f64 {
        self.per_minute
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update is a plain assignment, so a poisoned lock holds consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot. Returns how long it waited, or [`OverBudget`] without waiting when the
    /// slot would come after `deadline`.
    pub async fn acquire(&self, deadline: Instant) -> Result<Duration, OverBudget> {
        let start = Instant::now();
        loop {
            let slot = {
                let mut st = self.lock();
                let now = Instant::now();
                let pause = st.paused_until.filter(|p| *p > now);
                let slot = st.tat.max(pause.unwrap_or(now));
                if slot > deadline {
                    return Err(OverBudget {
                        per_minute: self.per_minute,
                        paused: pause.is_some(),
                    });
                }
                st.tat = slot + self.emission;
                slot
            };
            tokio::time::sleep_until(slot).await;
            // A pause that began while we slept (another poller got a 429) holds us too.
            let paused = self.lock().paused_until.is_some_and(|p| p > Instant::now());
            if !paused {
                return Ok(start.elapsed());
            }
        }
    }

    /// Pauses the scope until `until`; later slots start after it.
    pub fn pause_until(&self, until: Instant) {
        let mut st = self.lock();
        st.paused_until = Some(st.paused_until.map_or(until, |p| p.max(until)));
        st.tat = st.tat.max(until);
    }

    /// Carries the timing of a limiter being replaced (a reload), so the new one does not allow a
    /// request the old one would have held back.
    pub fn inherit(&self, old: &Limiter) {
        let (tat, paused) = {
            let o = old.lock();
            (o.tat, o.paused_until)
        };
        let mut st = self.lock();
        st.tat = st.tat.max(tat);
        st.paused_until = paused;
    }
}

/// The limiters of one target, by scope name.
#[derive(Debug, Default)]
pub struct Budgets {
    limiters: BTreeMap<&'static str, Arc<Limiter>>,
}

impl Budgets {
    /// Builds the limiters of a target from the platform's scopes and the configured rates,
    /// inheriting timing from the target's previous budgets on a reload.
    pub fn new(
        scopes: &[LimitScope],
        per_minute: &BTreeMap<&'static str, f64>,
        previous: Option<&Budgets>,
    ) -> Budgets {
        let mut limiters = BTreeMap::new();
        for scope in scopes {
            let rate = per_minute
                .get(scope.name)
                .copied()
                .unwrap_or(scope.documented_per_minute * 0.8);
            let limiter = Limiter::new(*scope, rate);
            if let Some(old) = previous.and_then(|p| p.limiters.get(scope.name)) {
                limiter.inherit(old);
            }
            limiters.insert(scope.name, Arc::new(limiter));
        }
        Budgets { limiters }
    }

    pub fn get(&self, scope: &str) -> Option<&Arc<Limiter>> {
        self.limiters.get(scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Limiter>> {
        self.limiters.values()
    }
}

/// Jittered exponential backoff before retry `attempt` (1-based): 0.5 s, 1 s, 2 s, ... capped at
/// 30 s, each scaled by a random factor in [0.5, 1.0) so pollers that failed together spread out.
pub fn backoff(attempt: u32) -> Duration {
    let base = 0.5 * 2f64.powi(attempt.saturating_sub(1).min(10) as i32);
    Duration::from_secs_f64(base.min(30.0) * (0.5 + fastrand::f64() * 0.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCOPE: LimitScope = LimitScope {
        name: "test",
        documented_per_minute: 60.0,
        default_cap_per_minute: None,
        default_pause: Duration::from_secs(1),
        throttle_pauses_target: false,
        per_client_ip: false,
        description: "test",
    };

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_at_the_rate_with_no_burst() {
        let limiter = Limiter::new(SCOPE, 60.0);
        let far = Instant::now() + Duration::from_secs(3600);
        let t0 = Instant::now();
        let mut times = Vec::new();
        for _ in 0..5 {
            limiter.acquire(far).await.ok();
            times.push(t0.elapsed());
        }
        let secs: Vec<u64> = times.iter().map(|d| d.as_millis() as u64).collect();
        assert_eq!(secs, vec![0, 1000, 2000, 3000, 4000]);
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_a_slot_past_the_deadline_without_waiting() {
        let limiter = Limiter::new(SCOPE, 6.0); // one per 10 s
        let deadline = Instant::now() + Duration::from_secs(15);
        assert!(limiter.acquire(deadline).await.is_ok());
        assert!(limiter.acquire(deadline).await.is_ok()); // at 10 s
        let before = Instant::now();
        assert_eq!(
            limiter.acquire(deadline).await,
            Err(OverBudget {
                per_minute: 6.0,
                paused: false
            })
        ); // would be 20 s
        assert_eq!(Instant::now(), before);
    }

    /// A pause after a 429 that outlasts the poll once made every other request of the target
    /// fail with reason `budget` and the advice to raise the interval.
    #[tokio::test(start_paused = true)]
    async fn a_slot_held_back_by_a_throttle_pause_says_so() {
        let limiter = Limiter::new(SCOPE, 600.0);
        limiter.pause_until(Instant::now() + Duration::from_secs(65));
        let deadline = Instant::now() + Duration::from_secs(30);
        assert_eq!(
            limiter.acquire(deadline).await,
            Err(OverBudget {
                per_minute: 600.0,
                paused: true
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_caller() {
        let limiter = Limiter::new(SCOPE, 600.0);
        let far = Instant::now() + Duration::from_secs(3600);
        limiter.acquire(far).await.ok();
        limiter.pause_until(Instant::now() + Duration::from_secs(30));
        let t0 = Instant::now();
        limiter.acquire(far).await.ok();
        assert!(t0.elapsed() >= Duration::from_secs(30));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            let d = backoff(attempt).as_secs_f64();
            let base = (0.5 * 2f64.powi(attempt as i32 - 1)).min(30.0);
            assert!(d >= base * 0.5 && d < base, "attempt {attempt}: {d}");
        }
    }
}
