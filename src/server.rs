//! The inbound HTTP server: `/metrics` (gzip when asked), `/probe?target=NAME`, `/sd` (Prometheus
//! HTTP service discovery), `/healthz`, `/readyz` and the `/` status page. Every answer is built from the store; no handler ever calls
//! a vendor API.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::store::{self, Store};
use crate::telemetry::SelfMetrics;

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub metrics: Arc<SelfMetrics>,
    /// The `host:port` `/sd` lists (from the configuration, never from a request).
    pub external: Arc<std::sync::RwLock<String>>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/probe", get(probe))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/sd", get(service_discovery))
        .with_state(state)
}

/// Binds the listener (so the caller knows the port at once) and serves until `shutdown`;
/// open connections get `drain` to finish before the server gives up on them.
pub async fn bind(listen: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen).await
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
    drain: std::time::Duration,
) {
    let server = axum::serve(listener, router(state)).with_graceful_shutdown({
        let s = shutdown.clone();
        async move { s.cancelled().await }
    });
    // An idle keep-alive connection would hold a graceful shutdown forever; bound the drain.
    tokio::select! {
        r = server => if let Err(e) = r { tracing::error!(error = %e, "HTTP server failed.") },
        _ = async { shutdown.cancelled().await; tokio::time::sleep(drain).await } => {}
    }
}

/// Whether an `Accept-Encoding` value accepts gzip (RFC 9110 §12.5.3): `gzip` with a q-value
/// above 0, or, when gzip is not named, `*` with one; `q=0` refuses.
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    let (mut gzip, mut any) = (None, None);
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => any = Some(q),
            _ => {}
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

fn exposition(body: Vec<u8>, headers: &HeaderMap) -> Response {
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    // The answer depends on Accept-Encoding: caches in between must know.
    let mut resp_headers = vec![
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(store::CONTENT_TYPE),
        ),
        (header::VARY, HeaderValue::from_static("Accept-Encoding")),
    ];
    let body = if gzip {
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 8),
            flate2::Compression::fast(),
        );
        match enc.write_all(&body).and_then(|_| enc.finish()) {
            Ok(z) => {
                resp_headers.push((header::CONTENT_ENCODING, HeaderValue::from_static("gzip")));
                z
            }
            Err(_) => body,
        }
    } else {
        body
    };
    let mut resp = body.into_response();
    for (k, v) in resp_headers {
        resp.headers_mut().insert(k, v);
    }
    resp
}

async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    exposition(
        s.store.render(None, &s.metrics, SystemTime::now()),
        &headers,
    )
}

#[derive(serde::Deserialize)]
struct ProbeQuery {
    target: Option<String>,
}

async fn probe(
    State(s): State<AppState>,
    Query(q): Query<ProbeQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(target) = q.target else {
        return (StatusCode::BAD_REQUEST, "missing ?target=NAME\n").into_response();
    };
    if !s.store.targets().contains(&target) {
        return (
            StatusCode::NOT_FOUND,
            format!(
                "no target named `{}`; see / for the list\n",
                html_escape(&target)
            ),
        )
            .into_response();
    }
    exposition(
        s.store.render(Some(&target), &s.metrics, SystemTime::now()),
        &headers,
    )
}

/// Prometheus HTTP service discovery: one scrape target per configured target, scraped through
/// `/probe`, so several Prometheus servers can split targets with `hashmod` relabelling. Each
/// has an `instance` of its own (`address/target`): with the address alone, every target would
/// share one `up` series.
async fn service_discovery(State(s): State<AppState>) -> Response {
    let address = s.external.read().unwrap_or_else(|e| e.into_inner()).clone();
    let groups: Vec<serde_json::Value> = s
        .store
        .targets()
        .into_iter()
        .map(|t| {
            serde_json::json!({"targets": [address], "labels": {
                "__metrics_path__": "/probe", "__param_target": t, "instance": format!("{address}/{t}")}})
        })
        .collect();
    axum::Json(groups).into_response()
}

async fn ready(State(s): State<AppState>) -> Response {
    if s.store.all_attempted() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for every collector's first poll\n",
        )
            .into_response()
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn ago(t: Option<SystemTime>, now: SystemTime) -> String {
    match t {
        None => "never".into(),
        Some(t) => match now.duration_since(t) {
            Ok(d) => format!(
                "{} ago",
                humantime::format_duration(std::time::Duration::from_secs(d.as_secs()))
            ),
            Err(_) => "just now".into(),
        },
    }
}

async fn status_page(State(s): State<AppState>) -> Html<String> {
    let now = SystemTime::now();
    let views = s.store.views(now);
    let mut rows = String::new();
    for v in &views {
        let (state, class) = match (&v.status.last_error, v.status.last_success) {
            (None, Some(_)) => ("up", "up"),
            (Some(_), _) => ("DOWN", "down"),
            (None, None) => ("waiting", "wait"),
        };
        let error = v
            .status
            .last_error
            .as_ref()
            .map(|(r, m)| format!("<b>{}</b>: {}", r, html_escape(m)))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{state}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{error}</td></tr>\n",
            html_escape(&v.target),
            html_escape(&v.status.platform),
            html_escape(&v.collector),
            humantime::format_duration(v.status.interval),
            ago(v.status.last_success, now),
            ago(v.data_taken_at, now),
            v.status.last_duration.map(|d| format!("{:.2}s", d.as_secs_f64())).unwrap_or_default(),
            v.series,
            v.status.dropped_values,
        ));
    }
    let mut budget = String::new();
    let mut out = Vec::new();
    s.metrics.encode(&mut out, None);
    for line in String::from_utf8_lossy(&out).lines() {
        if line.starts_with("headroom_api_budget_requests_per_second{")
            || line.starts_with("headroom_api_throttled_total{")
            || line.starts_with("headroom_api_budget_wait_seconds_total{")
        {
            budget.push_str(&format!("<li><code>{}</code></li>", html_escape(line)));
        }
    }
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>headroom</title><style>\
         body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}\
         tr.down{{background:#fdd}}tr.up{{background:#efe}}tr.wait{{background:#ffd}}</style></head><body>\
         <h1>headroom {}</h1><p>Capacity telemetry exporter. <a href=\"/metrics\">/metrics</a> · <a href=\"/readyz\">/readyz</a> · <a href=\"/healthz\">/healthz</a> · <code>/probe?target=NAME</code> · <a href=\"/sd\">/sd</a></p>\
         <h2>Collectors</h2><table><tr><th>target</th><th>platform</th><th>collector</th><th>state</th><th>interval</th><th>last success</th><th>data age</th><th>last poll</th><th>series</th><th>dropped values</th><th>last error</th></tr>\n{rows}</table>\
         <h2>Rate budgets</h2><ul>{budget}</ul></body></html>\n",
        env!("CARGO_PKG_VERSION")
    ))
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_follows_the_q_values() {
        for (header, want) in [
            ("gzip", true),
            ("gzip, deflate, br", true),
            ("deflate, gzip;q=0.5", true),
            ("gzip;q=0", false),
            ("gzip;q=0.0, identity", false),
            ("*", true),
            ("*;q=0", false),
            ("gzip;q=0, *", false),
            ("identity", false),
            ("", false),
            ("GZIP;Q=1", true),
        ] {
            assert_eq!(accepts_gzip(header), want, "{header:?}");
        }
    }
}
