//! The outbound HTTP client of one target: TLS settings, timeouts, the rate budget in front of
//! every request, retries with jittered backoff, 429 handling, a cap on response size, and the
//! per-request self-metrics.

use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::Method;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::budget::{backoff, Budgets};
use crate::collect::{ErrorReason, PollError};
use crate::config::TargetConfig;
use crate::telemetry::SelfMetrics;

/// One request to a platform API.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// Short API name for the `api` label (e.g. `service_capacity`).
    pub api: &'static str,
    /// The limit scope whose budget the request spends.
    pub scope: &'static str,
    pub method: Method,
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
}

/// A response whose status the caller has to interpret (anything but 429, 5xx or a transport
/// failure, which [`ApiClient::send`] retries).
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The outbound client of one target.
pub struct ApiClient {
    target: String,
    http: reqwest::Client,
    pub budgets: Arc<Budgets>,
    metrics: Arc<SelfMetrics>,
    timeout: Duration,
    max_body_bytes: usize,
    retries: u32,
    throttle_pause: Option<Duration>,
    max_retry_after: Duration,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("target", &self.target)
            .finish()
    }
}

static CRYPTO: Once = Once::new();

/// Installs rustls's `ring` provider once, before any client is built (reqwest is built without a
/// default provider to keep the build light).
pub fn install_crypto_provider() {
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A sensitive header value: `Debug` output of requests redacts it.
pub fn sensitive(value: &str) -> Result<HeaderValue, PollError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        PollError::new(
            ErrorReason::Auth,
            "a credential contains characters not allowed in an HTTP header",
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

impl ApiClient {
    /// Builds the client of a target. Fails only on an unreadable or invalid CA file.
    pub fn new(
        target: &TargetConfig,
        budgets: Arc<Budgets>,
        metrics: Arc<SelfMetrics>,
    ) -> Result<ApiClient, String> {
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(target.connect_timeout)
            // Below the usual 60-75 s keep-alive of load balancers, so an idle pooled connection
            // is not reused just as the server closes it.
            .pool_idle_timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(4)
            .user_agent(concat!("headroom/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &target.tls.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("cannot read CA file {}: {e}", ca.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                format!(
                    "CA file {} holds no usable PEM certificate: {e}",
                    ca.display()
                )
            })?;
            if certs.is_empty() {
                return Err(format!("CA file {} holds no PEM certificate", ca.display()));
            }
            builder = builder.tls_certs_only(certs);
        }
        if target.tls.insecure_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
            metrics
                .tls_insecure
                .with_label_values(&[&target.name])
                .set(1);
        } else {
            metrics
                .tls_insecure
                .with_label_values(&[&target.name])
                .set(0);
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        for limiter in budgets.iter() {
            metrics
                .api_budget
                .with_label_values(&[&target.name, limiter.scope.name])
                .set(limiter.per_minute() / 60.0);
        }
        Ok(ApiClient {
            target: target.name.clone(),
            http,
            budgets,
            metrics,
            timeout: target.timeout,
            max_body_bytes: target.max_body_bytes,
            retries: target.retries,
            throttle_pause: target.throttle_pause,
            max_retry_after: target.max_retry_after,
        })
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn metrics(&self) -> &Arc<SelfMetrics> {
        &self.metrics
    }

    /// Sends a request within the scope's budget, retrying timeouts, transport errors, 5xx and
    /// 429 with backoff while the poll's deadline allows. Other statuses are returned as they are.
    pub async fn send(
        &self,
        req: &ApiRequest,
        deadline: Instant,
    ) -> Result<ApiResponse, PollError> {
        let limiter = self.budgets.get(req.scope).ok_or_else(|| {
            PollError::new(
                ErrorReason::Budget,
                format!("no budget for scope {}", req.scope),
            )
        })?;
        let mut attempt = 0u32;
        let mut last_failure: Option<PollError> = None;
        loop {
            let waited = limiter.acquire(deadline).await.map_err(|over| {
                // After a failed attempt (e.g. a 429 whose pause outlasts the poll), that
                // failure is the reason, not the budget.
                if let Some(f) = last_failure.take() {
                    return f;
                }
                if over.paused {
                    return PollError::new(
                        ErrorReason::Throttled,
                        format!(
                            "request to {} cannot start before the poll's deadline: the `{}` scope is paused after the platform throttled it (429)",
                            req.api, req.scope
                        ),
                    );
                }
                PollError::new(
                    ErrorReason::Budget,
                    format!(
                        "request to {} cannot start before the poll's deadline within the `{}` budget of {:.1} requests/min: \
                         the poll needs more requests than its interval allows; raise the collector's interval",
                        req.api, req.scope, over.per_minute
                    ),
                )
            })?;
            if !waited.is_zero() {
                self.metrics
                    .api_budget_wait
                    .with_label_values(&[&self.target, req.scope])
                    .inc_by(waited.as_secs_f64());
            }
            let outcome = self.send_once(req).await;
            let (retryable, failure) = match outcome {
                Ok(resp) if resp.status == 429 => {
                    self.metrics
                        .api_throttled
                        .with_label_values(&[&self.target, req.scope])
                        .inc();
                    let pause = throttle_pause(
                        retry_after(&resp.headers),
                        self.throttle_pause,
                        limiter.scope.default_pause,
                        self.max_retry_after,
                    );
                    warn!(target_name = %self.target, api = req.api, scope = req.scope, pause_seconds = pause.as_secs_f64(),
                        "Throttled by the platform (429); pausing the scope.");
                    let until = Instant::now() + pause;
                    if limiter.scope.throttle_pauses_target {
                        for l in self.budgets.iter() {
                            l.pause_until(until);
                        }
                    } else {
                        limiter.pause_until(until);
                    }
                    (
                        true,
                        PollError::new(
                            ErrorReason::Throttled,
                            format!("{} answered 429 Too Many Requests", req.api),
                        ),
                    )
                }
                Ok(resp) if resp.status >= 500 => (
                    true,
                    PollError::new(
                        ErrorReason::Http,
                        format!(
                            "{} answered HTTP {}{}",
                            req.api,
                            resp.status,
                            error_summary(&resp.body)
                        ),
                    ),
                ),
                Ok(resp) => return Ok(resp),
                Err(f) => (f.retryable, f.error),
            };
            attempt += 1;
            if !retryable || attempt > self.retries {
                return Err(failure);
            }
            let failure_reason = failure.clone();
            let delay = backoff(attempt);
            if Instant::now() + delay > deadline {
                return Err(failure);
            }
            debug!(target_name = %self.target, api = req.api, attempt, error = %failure, "Retrying request.");
            self.metrics
                .api_retries
                .with_label_values(&[&self.target, req.api])
                .inc();
            tokio::time::sleep(delay).await;
            last_failure = Some(failure_reason);
        }
    }

    async fn send_once(&self, req: &ApiRequest) -> Result<ApiResponse, Failure> {
        let started = std::time::Instant::now();
        let mut builder = self
            .http
            .request(req.method.clone(), req.url.clone())
            .headers(req.headers.clone())
            .timeout(self.timeout);
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let result = async {
            let mut resp = builder
                .send()
                .await
                .map_err(|e| Failure::from_transport(req.api, &e))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            // Sized once from Content-Length (capped), so a large answer is held once, not
            // grown by doubling through twice its size. Capacity reserved is not memory used
            // until written: a false Content-Length costs nothing.
            let hint = resp
                .content_length()
                .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
                .min(self.max_body_bytes);
            let mut body = Vec::with_capacity(hint);
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| Failure::from_transport(req.api, &e))?
            {
                if body.len() + chunk.len() > self.max_body_bytes {
                    // The same answer would come again: not worth a retry.
                    return Err(Failure {
                        retryable: false,
                        error: PollError::new(
                            ErrorReason::Http,
                            format!(
                                "{} response exceeds max_body_bytes ({} bytes)",
                                req.api, self.max_body_bytes
                            ),
                        ),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(ApiResponse {
                status,
                headers,
                body,
            })
        }
        .await;
        let code = match &result {
            Ok(r) => r.status.to_string(),
            Err(_) => "error".to_string(),
        };
        self.metrics
            .api_requests
            .with_label_values(&[&self.target, req.api, &code])
            .inc();
        self.metrics
            .api_request_duration
            .with_label_values(&[&self.target, req.api])
            .observe(started.elapsed().as_secs_f64());
        result
    }
}

/// A failed attempt, and whether trying again may help.
struct Failure {
    error: PollError,
    retryable: bool,
}

impl Failure {
    /// A transport failure: worth retrying, except a rejected certificate, which will be
    /// rejected again.
    fn from_transport(api: &str, e: &reqwest::Error) -> Failure {
        let error = transport_error(api, e);
        let retryable = error.reason != ErrorReason::Tls;
        Failure { error, retryable }
    }
}

/// The TLS failure beneath a transport error, if there is one: found by type in the error's
/// chain (rustls' error inside the I/O error hyper reports), never by its message.
fn tls_failure(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        // An I/O error's `source` skips the error it wraps (and hyper wraps one in another).
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            cur = Some(inner);
            continue;
        }
        cur = err.source();
    }
    None
}

fn transport_error(api: &str, e: &reqwest::Error) -> PollError {
    if let Some(t) = tls_failure(e) {
        return PollError::new(
            ErrorReason::Tls,
            format!("TLS handshake for {api} failed: {t}; check tls.ca_file (the CA that signed the endpoint's certificate) and the endpoint's host name"),
        );
    }
    if e.is_timeout() {
        PollError::new(
            ErrorReason::Timeout,
            format!("{api} did not answer in time"),
        )
    } else if e.is_connect() {
        PollError::new(
            ErrorReason::Http,
            format!("cannot connect for {api}: {}", root_cause(e)),
        )
    } else {
        PollError::new(
            ErrorReason::Http,
            format!("{api} request failed: {}", root_cause(e)),
        )
    }
}

/// The innermost error message (reqwest's own Display repeats the URL, which may carry query
/// parameters; the innermost cause is what tells the user what went wrong).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// How long a 429 pauses its scope: the platform's `Retry-After`, at most `max` (one answer
/// of `Retry-After: 999999999` once silenced a target for an hour), else the configured
/// `throttle_pause`, else the scope's documented default.
pub fn throttle_pause(
    retry_after: Option<Duration>,
    configured: Option<Duration>,
    default: Duration,
    max: Duration,
) -> Duration {
    match retry_after {
        Some(d) => d.min(max),
        None => configured.unwrap_or(default),
    }
}

/// The `Retry-After` header as a duration: delta-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(3600)));
    }
    let when = httpdate(raw)?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(3600)),
    )
}

fn httpdate(raw: &str) -> Option<SystemTime> {
    // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT": humantime parses RFC 3339, so reshape it.
    let parts: Vec<&str> = raw.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])?
        + 1;
    let text = format!("{}-{:02}-{:0>2}T{}Z", parts[3], month, parts[1], parts[4]);
    humantime::parse_rfc3339(&text).ok()
}

/// A short, safe summary of an error body: the vendor's error code and message fields if it is
/// JSON, never the raw body (which may echo credentials).
pub fn error_summary(body: &[u8]) -> String {
    // Scanned, not parsed into a tree: an error body may be as large as any answer.
    let Ok(doc) = crate::json::Doc::parse("", body) else {
        return String::new();
    };
    let pick = |keys: &[&str]| {
        keys.iter().find_map(|k| {
            doc.get(k).and_then(|x| match x.kind() {
                crate::json::Kind::String | crate::json::Kind::Number => {
                    let v = x.value();
                    v.as_str()
                        .map(str::to_string)
                        .or_else(|| v.as_i64().map(|i| i.to_string()))
                }
                _ => None,
            })
        })
    };
    let code = pick(&["error_code", "code", "errorCode"]);
    let msg = pick(&["error_msg", "message", "msg", "errorMsg"]);
    match (code, msg) {
        (Some(c), Some(m)) => format!(" ({c}: {})", truncate(&m, 200)),
        (Some(c), None) => format!(" ({c})"),
        (None, Some(m)) => format!(" ({})", truncate(&m, 200)),
        (None, None) => String::new(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// A URL under a target's endpoint (whose own path, if any, is kept as a prefix), with the
/// query pairs encoded.
pub fn join_url(endpoint: &reqwest::Url, path: &str, query: &[(&str, String)]) -> reqwest::Url {
    let mut url = endpoint.clone();
    let base = url.path().trim_end_matches('/').to_string();
    url.set_path(&format!("{base}{path}"));
    url.set_query(None);
    if !query.is_empty() {
        let mut q = url.query_pairs_mut();
        for (k, v) in query {
            q.append_pair(k, v);
        }
    }
    url
}

/// A header name known at compile time to be valid.
pub fn header(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_after_is_capped_and_the_configured_pause_is_the_fallback() {
        let min = Duration::from_secs(60);
        let cap = Duration::from_secs(300);
        let huge = Some(Duration::from_secs(999_999_999));
        assert_eq!(throttle_pause(huge, None, min, cap), cap);
        assert_eq!(
            throttle_pause(Some(Duration::from_secs(7)), None, min, cap),
            Duration::from_secs(7)
        );
        assert_eq!(
            throttle_pause(None, Some(Duration::from_secs(65)), min, cap),
            Duration::from_secs(65)
        );
        assert_eq!(throttle_pause(None, None, min, cap), min);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn error_summary_shows_codes_not_bodies() {
        assert_eq!(
            error_summary(br#"{"error_msg":"bad token","error_code":"APIGW.0301"}"#),
            " (APIGW.0301: bad token)"
        );
        assert_eq!(error_summary(b"<html>password=hunter2</html>"), "");
    }
}
