//! The inbound HTTP server: `/metrics` (gzip when asked), `/probe?target=NAME`, `/sd` (Prometheus
//! HTTP service discovery), `/healthz`, `/readyz` and the `/` status page. Every answer is built
//! from the store; no handler ever calls a vendor API. TLS, basic auth and response headers come
//! from the exporter-toolkit web configuration (`web_config`), applied per connection
//! (`listener`) and per request (`guard`).

pub mod basic_auth;
pub mod listener;
pub mod status;
pub mod tls;
pub mod web_config;

pub use listener::WebState;
pub use web_config::WebConfig;

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
    /// TLS, users and headers of the web configuration (replaced on reload).
    pub web: WebState,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/probe", get(probe))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/sd", get(service_discovery))
        .layer(axum::middleware::from_fn_with_state(
            state.web.clone(),
            guard,
        ))
        .with_state(state)
}

/// Basic auth (when the web configuration has users) and the configured response headers, on
/// every request. A refused request gets 401 and `WWW-Authenticate`, and nothing else: no body
/// from the handler, no hint whether the user exists.
async fn guard(
    State(web): State<WebState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let config = web.current();
    // A connection made before a reload changed who may connect (TLS turned on, client
    // certificates now required, other CAs or SANs) must not keep the old rule: refuse and
    // close, so the client connects again under the new one. Without a change, open
    // connections go on (a new server certificate alone is used by new connections).
    let under = request
        .extensions()
        .get::<listener::AcceptedUnder>()
        .copied();
    if under.is_some_and(|u| u.0 != config.client_policy()) {
        let mut r = (
            StatusCode::MISDIRECTED_REQUEST,
            "The server's client authentication changed; connect again.\n",
        )
            .into_response();
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    let open = config.excluded_paths.contains(request.uri().path());
    let allowed = match (&config.users, open) {
        (None, _) | (_, true) => true,
        (Some(users), false) => match request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| basic_auth::parse_basic(v.as_bytes()))
        {
            Some((user, password)) => users.check(&user, &password).await,
            None => false,
        },
    };
    let mut response = if allowed {
        next.run(request).await
    } else {
        let mut r = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"headroom\", charset=\"UTF-8\""),
        );
        r
    };
    for (name, value) in &config.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
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
    max_connections: usize,
) {
    let web = state.web.clone();
    listener::serve(
        listener,
        router(state),
        web,
        shutdown,
        drain,
        max_connections,
    )
    .await;
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
    // Over TLS, Prometheus must scrape https (credentials stay its scrape configuration's).
    let scheme = if s.web.current().tls.is_some() {
        "https"
    } else {
        "http"
    };
    let groups: Vec<serde_json::Value> = s
        .store
        .targets()
        .into_iter()
        .map(|t| {
            serde_json::json!({"targets": [address], "labels": {
                "__metrics_path__": "/probe", "__param_target": t, "__scheme__": scheme,
                "instance": format!("{address}/{t}")}})
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
    // The page reads back what /metrics serves (status.rs), only the families it shows: no
    // vendor call, and no work for the rest of a large site's series.
    let exposition = String::from_utf8_lossy(&s.store.render_platform_families(None, now, |d| {
        status::READS.iter().any(|p| d.name.starts_with(p))
    }))
    .into_owned();
    let mut self_metrics = Vec::new();
    s.metrics.encode(&mut self_metrics, None);
    let (headroom, budgets) = status::sections(
        &exposition,
        &String::from_utf8_lossy(&self_metrics),
        &views,
        now,
    );
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>headroom</title><style>{}</style></head><body>\
         <h1>headroom {}</h1><p>Capacity telemetry exporter. <a href=\"/metrics\">/metrics</a> · <a href=\"/readyz\">/readyz</a> · <a href=\"/healthz\">/healthz</a> · <code>/probe?target=NAME</code> · <a href=\"/sd\">/sd</a></p>\
         <h2>Headroom</h2><p>Allocated (or used) share of what may be allocated, per target and place; free slots of the configured instance sizes, after losing a host in brackets; whether the place survives losing its largest host.</p>\n{headroom}\
         <h2>Collectors</h2><table><tr><th>target</th><th>platform</th><th>collector</th><th>state</th><th>interval</th><th>last success</th><th>data age</th><th>last poll</th><th>series</th><th>dropped values</th><th>last error</th></tr>\n{rows}</table>\
         <h2>Rate budgets</h2>{budgets}</body></html>\n",
        status::STYLE,
        env!("CARGO_PKG_VERSION")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    fn app(web: &WebState) -> Router {
        Router::new()
            .route("/x", get(|| async { "served\n" }))
            .layer(axum::middleware::from_fn_with_state(web.clone(), guard))
    }

    async fn call(app: Router, under: Option<[u8; 32]>, auth: Option<&str>) -> Response {
        let mut req = axum::http::Request::builder().uri("/x");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let mut req = req.body(axum::body::Body::empty()).unwrap_or_default();
        if let Some(u) = under {
            req.extensions_mut().insert(listener::AcceptedUnder(u));
        }
        app.oneshot(req).await.unwrap_or_else(|e| match e {})
    }

    #[tokio::test]
    async fn a_request_on_a_connection_accepted_under_another_client_policy_is_refused_and_closed()
    {
        let web = WebState::default();
        // Accepted under the current policy (plain HTTP): served.
        let ok = call(app(&web), Some([0; 32]), None).await;
        assert_eq!(ok.status(), StatusCode::OK);
        // Accepted under a policy a reload has since replaced: 421, and the connection closes.
        let old = call(app(&web), Some([9; 32]), None).await;
        assert_eq!(old.status(), StatusCode::MISDIRECTED_REQUEST);
        assert_eq!(
            old.headers().get(header::CONNECTION).map(|v| v.as_bytes()),
            Some(&b"close"[..])
        );
    }

    #[tokio::test]
    async fn basic_auth_answers_401_with_a_challenge_and_headers_reach_every_answer() {
        let hash = bcrypt::hash_with_salt("pw", 4, [5; 16])
            .map(|h| h.to_string())
            .unwrap_or_default();
        let text = format!("basic_auth_users: {{prom: '{hash}'}}\nhttp_server_config: {{headers: {{X-Frame-Options: deny}}}}\n");
        let cfg = web_config::parse(&text, std::path::Path::new("."), &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        let web = WebState::new(cfg);
        let refused = call(app(&web), None, None).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert!(refused.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(
            refused
                .headers()
                .get("x-frame-options")
                .map(|v| v.as_bytes()),
            Some(&b"deny"[..])
        );
        // prom:pw
        let ok = call(app(&web), None, Some("Basic cHJvbTpwdw==")).await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(
            ok.headers().get("x-frame-options").map(|v| v.as_bytes()),
            Some(&b"deny"[..])
        );
        // prom:pW
        let wrong = call(app(&web), None, Some("Basic cHJvbTpwVw==")).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

        // A reload with other users applies to the next request, on the same router (and so on
        // connections already open): the old user is out, the new one in.
        let other = bcrypt::hash_with_salt("new", 4, [6; 16])
            .map(|h| h.to_string())
            .unwrap_or_default();
        let text = format!("basic_auth_users: {{ops: '{other}'}}\n");
        let cfg = web_config::parse(&text, std::path::Path::new("."), &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        web.replace(cfg);
        let old_user = call(app(&web), None, Some("Basic cHJvbTpwdw==")).await;
        assert_eq!(old_user.status(), StatusCode::UNAUTHORIZED);
        // ops:new
        let new_user = call(app(&web), None, Some("Basic b3BzOm5ldw==")).await;
        assert_eq!(new_user.status(), StatusCode::OK);
    }

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
