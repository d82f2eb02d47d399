//! The auth token of one target, shared by its collectors: fetched once however many collectors
//! ask at the same time, renewed before it expires and after the platform rejects it.
//!
//! Each platform supplies only how to fetch a token ([`Token`]); caching, single-flight,
//! renewal margin and the refresh self-metrics are the same for all of them.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::collect::PollError;
use crate::config::Secret;
use crate::http::ApiClient;

/// A token as the platform issued it.
#[derive(Debug)]
pub struct Token {
    pub value: Secret,
    /// How long the platform says it is valid from now.
    pub lifetime: Duration,
}

/// How early a token is renewed: a tenth of its lifetime, at most an hour (a 24 h token is
/// renewed after 23 h; a 1 h token after 54 min).
pub fn renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(3600))
}

#[derive(Debug)]
struct Cached {
    value: Secret,
    refresh_at: Instant,
}

/// The cached token of one target.
#[derive(Debug, Default)]
pub struct TokenCache {
    current: Mutex<Option<Cached>>,
}

impl TokenCache {
    pub fn new() -> TokenCache {
        TokenCache::default()
    }

    /// A valid token: the cached one, or one from `fetch` if none is cached or it is due for
    /// renewal. The lock is held while fetching, so concurrent callers wait for one request.
    pub async fn get<F, Fut>(&self, client: &ApiClient, fetch: F) -> Result<Secret, PollError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token, PollError>>,
    {
        let mut current = self.current.lock().await;
        if let Some(t) = current.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok(t.value.clone());
            }
        }
        let result = fetch().await;
        let label = if result.is_ok() { "success" } else { "failure" };
        client
            .metrics()
            .token_refreshes
            .with_label_values(&[client.target(), label])
            .inc();
        match result {
            Ok(t) => {
                let value = t.value.clone();
                *current = Some(Cached {
                    refresh_at: Instant::now()
                        + t.lifetime.saturating_sub(renewal_margin(t.lifetime)),
                    value: t.value,
                });
                Ok(value)
            }
            Err(e) => {
                *current = None;
                Err(e)
            }
        }
    }

    /// Forgets `stale` after the platform rejected it; a token renewed meanwhile by another
    /// collector is kept.
    pub async fn invalidate(&self, stale: &Secret) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|t| &t.value == stale) {
            *current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_a_tenth_early_at_most_an_hour() {
        assert_eq!(
            renewal_margin(Duration::from_secs(24 * 3600)),
            Duration::from_secs(3600)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(3600)),
            Duration::from_secs(360)
        );
    }
}
