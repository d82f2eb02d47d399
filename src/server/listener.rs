//! The accept loop: one task per connection, the TLS handshake (when the web configuration has
//! TLS) inside that task with a deadline, HTTP/1.1 with a header deadline (which also closes a
//! keep-alive connection idle that long), a bound on open connections where a new one takes the
//! oldest one's place, and a graceful drain on shutdown.
//!
//! Each new connection reads the web configuration current at its accept, so a reload changes
//! certificates, client authentication or TLS itself for new connections while the listener and
//! the connections already open stay as they are.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use super::web_config::WebConfig;

/// How long a new connection at the bound waits for the oldest one to close.
const EVICTION_WAIT: Duration = Duration::from_millis(500);
/// A client has this long for its TLS handshake, and then for each request's headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The client policy ([`WebConfig::client_policy`]) a connection was accepted under, in every
/// request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptedUnder(pub [u8; 32]);

/// The web configuration new connections and requests are served with; replaced on reload.
#[derive(Clone)]
pub struct WebState {
    current: Arc<RwLock<Arc<WebConfig>>>,
    /// The client policy of the current configuration, watched by every open connection.
    policy: Arc<watch::Sender<[u8; 32]>>,
}

impl Default for WebState {
    fn default() -> WebState {
        WebState::new(WebConfig::default())
    }
}

impl WebState {
    pub fn new(config: WebConfig) -> WebState {
        let (policy, _) = watch::channel(config.client_policy());
        WebState {
            current: Arc::new(RwLock::new(Arc::new(config))),
            policy: Arc::new(policy),
        }
    }
    pub fn current(&self) -> Arc<WebConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }
    /// Serves `config` from now on. Open connections whose client policy differs are closed
    /// once idle (a request in flight finishes first), so clients connect again under the new
    /// rule; with the same policy (a renewed server certificate, other users) they go on.
    pub fn replace(&self, config: WebConfig) {
        let policy = config.client_policy();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        self.policy.send_if_modified(|p| {
            let changed = *p != policy;
            *p = policy;
            changed
        });
    }
}

/// The open connections, oldest first, each with the switch that closes it gracefully (idle:
/// at once; busy: after the answer in flight). At the bound the oldest is closed for the new
/// one: clients that open connections and hold them idle (3,000 half-open, 1,100 idle ones once
/// locked every scrape out) can no longer keep a real scraper out, which reconnects at worst.
#[derive(Default)]
struct Open {
    next_id: u64,
    queue: std::collections::VecDeque<(u64, CancellationToken)>,
}

impl Open {
    fn add(&mut self) -> (u64, CancellationToken) {
        self.next_id += 1;
        let token = CancellationToken::new();
        self.queue.push_back((self.next_id, token.clone()));
        (self.next_id, token)
    }

    fn remove(&mut self, id: u64) {
        self.queue.retain(|(i, _)| *i != id);
    }

    /// Asks the oldest connection to close; false if there is none.
    fn evict_oldest(&mut self) -> bool {
        match self.queue.pop_front() {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` until `shutdown`, at most `max_connections` at once (at the
/// bound a new connection takes the place of the oldest, see [`Open`]); open connections get
/// `drain` to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    web: WebState,
    shutdown: CancellationToken,
    drain: Duration,
    max_connections: usize,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    // Every update is one push, retain or pop: a poisoned lock still holds a consistent queue.
    let open = Arc::new(std::sync::Mutex::new(Open::default()));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "Cannot accept a connection.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => Some(slot),
            Err(_) => {
                let evicted = open
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .evict_oldest();
                if evicted {
                    tokio::time::timeout(EVICTION_WAIT, Arc::clone(&slots).acquire_owned())
                        .await
                        .ok()
                        .and_then(Result::ok)
                } else {
                    None
                }
            }
        };
        let Some(slot) = slot else {
            tracing::warn!(peer = %peer, limit = max_connections, "Too many open connections; closing a new one.");
            continue;
        };
        let (id, evict) = open.lock().unwrap_or_else(|e| e.into_inner()).add();
        let open = Arc::clone(&open);
        let _ = stream.set_nodelay(true);
        let config = web.current();
        let under = AcceptedUnder(config.client_policy());
        let service = TowerToHyperService::new(app.clone().layer(axum::Extension(under)));
        let policy = web.policy.subscribe();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _registered = Registered(Arc::clone(&open), id);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let result = match config.tls.clone() {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    run_connection(conn, under, policy, shutdown, evict).await
                }
                Some(tls) => {
                    // A client speaking plain HTTP to the TLS port (a scrape job without
                    // `scheme: https`) gets an answer that says so, as Go's servers give,
                    // instead of a closed connection.
                    // Until its handshake is done a connection is closed at once when it is
                    // the oldest at the bound (a half-open one holds nothing worth keeping).
                    let plain = tokio::select! {
                        plain = plain_http_to_tls(&stream) => plain,
                        _ = evict.cancelled() => return,
                    };
                    if plain {
                        let mut stream = stream;
                        let _ = tokio::time::timeout(HEADER_TIMEOUT, async {
                            use tokio::io::AsyncWriteExt as _;
                            let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
                            let _ = stream.shutdown().await;
                        })
                        .await;
                        return;
                    }
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config);
                    let handshake = tokio::select! {
                        done = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => done,
                        _ = evict.cancelled() => return,
                    };
                    match handshake {
                        Ok(Ok(stream)) => {
                            let conn = builder.serve_connection(TokioIo::new(stream), service);
                            run_connection(conn, under, policy, shutdown, evict).await
                        }
                        Ok(Err(e)) => {
                            log_handshake_failure(peer, &e);
                            Ok(())
                        }
                        Err(_) => {
                            tracing::debug!(peer = %peer, "TLS handshake timed out.");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(peer = %peer, error = %e, "Connection ended with an error.");
            }
        });
    }
    drop(listener);
    // Every connection holds a slot until it ends: all slots back means all drained.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(drain, slots.acquire_many(all)).await;
}

/// Takes a connection out of [`Open`] when it ends, however it ends.
struct Registered(Arc<std::sync::Mutex<Open>>, u64);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(self.1);
    }
}

const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server: use https:// (in Prometheus, scheme: https).\n";

/// Whether the first byte a client sends is not a TLS handshake record (22) but a letter, as an
/// HTTP request line starts. Waits for that byte as long as a handshake may take.
async fn plain_http_to_tls(stream: &tokio::net::TcpStream) -> bool {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) => first[0].is_ascii_uppercase(),
        _ => false,
    }
}

/// Serves one connection until it ends; shuts it down gracefully (idle: at once; busy: after
/// the answer in flight) on shutdown or when the client policy it was accepted under is
/// replaced.
async fn run_connection<I, S>(
    conn: hyper::server::conn::http1::Connection<I, S>,
    under: AcceptedUnder,
    mut policy: watch::Receiver<[u8; 32]>,
    shutdown: CancellationToken,
    evict: CancellationToken,
) -> Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => return result,
            _ = shutdown.cancelled(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = evict.cancelled(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            changed = policy.changed(), if !closing => {
                if changed.is_err() || *policy.borrow_and_update() != under.0 {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// A refused client certificate is worth a warning (someone misconfigured, or probing), once a
/// minute at most: a Prometheus with the wrong certificate retries every scrape interval, and
/// would fill the journal. The refusals in between go to debug and are counted in the next
/// warning. A client that hangs up mid-handshake (a port scan, a load balancer's check) is
/// debug only.
fn log_handshake_failure(peer: SocketAddr, e: &std::io::Error) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_WARNING: AtomicU64 = AtomicU64::new(0);
    static SINCE: AtomicU64 = AtomicU64::new(0);
    let message = e.to_string();
    // By type: rustls' certificate errors, inside the I/O error the handshake returns.
    let certificate = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|t| {
            matches!(
                t,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::InvalidCertRevocationList(_)
            )
        });
    if !certificate {
        tracing::debug!(peer = %peer, error = %message, "TLS handshake failed.");
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let last = LAST_WARNING.load(Ordering::Relaxed);
    if now >= last + 60
        && LAST_WARNING
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let others = SINCE.swap(0, Ordering::Relaxed);
        tracing::warn!(peer = %peer, error = %message, refused_since_last_warning = others, "TLS handshake refused (more within a minute are logged at debug).");
    } else {
        SINCE.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(peer = %peer, error = %message, "TLS handshake refused.");
    }
}
