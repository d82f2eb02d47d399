//! Simulators of the platforms' management APIs, for the demo, the tests and the benchmarks:
//! documented paths, auth, paging and limits, a seeded synthetic fleet, its ground truth, and
//! fault injection.
//!
//! A simulator knows what its fleet really holds: every simulator serves `GET /sim/truth`, the
//! fleet's amounts in base units at the pool level (a [`Truth`]), summed from the fleet's own
//! hosts, VMs, datastores and GPUs while the fleet is generated. Nothing of it comes from the
//! collectors' code or from reading the simulator's own API answers back, so a test that compares
//! headroom's pool view with it checks the collector's reading of the API, not its agreement
//! with itself.

pub mod cecstack;
pub mod h3c_cloudos;
pub mod huawei_esm;
pub mod sangfor_scp;
pub mod scp_auth;

use std::collections::{BTreeMap, VecDeque};
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
    /// Answer 200 with valid JSON whose values are made hostile: numbers as strings, nulls,
    /// negative, huge and non-numeric values, keys missing and added, list items repeated,
    /// values buried deep in lists (what a vendor's bugs send; the property tests use it).
    pub mutate_rate: f64,
    /// When above 0, every data response's first list is grown by this many `{"id":1}` items
    /// (not a probability): the page of a million small records that once took 3 GB to read.
    pub flood_items: usize,
}

/// What a fault roll decided for one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    Error,
    Throttle,
    Malformed,
    Truncate,
    /// Mutate the body's values, from this seed.
    Mutate(u64),
    /// Grow the body's first list by this many small items.
    Flood(usize),
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
        } else if hit(rng, self.mutate_rate) {
            Fault::Mutate(rng.u64(..))
        } else if self.flood_items > 0 {
            Fault::Flood(self.flood_items)
        } else {
            Fault::None
        }
    }
}

/// The fault switches and the random source of a running simulator.
#[derive(Debug)]
pub struct FaultState {
    pub faults: Mutex<Faults>,
    pub rng: Mutex<fastrand::Rng>,
}

impl FaultState {
    pub fn new(faults: Faults, seed: u64) -> FaultState {
        FaultState {
            faults: Mutex::new(faults),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        }
    }

    pub fn set(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Waits the configured latency, then decides the fault of one response.
    pub async fn next(&self) -> Fault {
        let faults = self
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if faults.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
        }
        faults.roll(&mut self.rng.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A random number from the simulator's seeded source (tokens, ids).
    pub fn random(&self) -> u128 {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).u128(..)
    }
}

impl Fault {
    /// The body this fault makes of a good one: not JSON, or cut in half.
    pub fn mangle(self, body: Vec<u8>) -> Vec<u8> {
        match self {
            Fault::Malformed => b"<html><body>502 Bad Gateway</body></html>".to_vec(),
            Fault::Truncate => {
                let half = body.len() / 2;
                body[..half].to_vec()
            }
            Fault::Mutate(seed) => match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(mut v) => {
                    mutate(&mut v, &mut fastrand::Rng::with_seed(seed), 0);
                    serde_json::to_vec(&v).unwrap_or(body)
                }
                Err(_) => body,
            },
            Fault::Flood(n) => flood(body, n),
            _ => body,
        }
    }
}

/// `body` with `n` items `{"id":1}` put first in its first list (found by a scan that skips
/// strings), written as bytes: building a tree of millions of items would cost the simulator
/// what the flood is meant to cost the collector. A body without a list is left alone.
pub fn flood(body: Vec<u8>, n: usize) -> Vec<u8> {
    let mut in_string = false;
    let mut escaped = false;
    let mut open = None;
    for (i, &b) in body.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b'[' {
            open = Some(i);
            break;
        }
    }
    let Some(at) = open else {
        return body;
    };
    let rest = &body[at + 1..];
    let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b']');
    const ITEM: &[u8] = br#"{"id":1}"#;
    let mut out = Vec::with_capacity(body.len() + n * (ITEM.len() + 1));
    out.extend_from_slice(&body[..=at]);
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(ITEM);
    }
    if !empty && n > 0 {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    out
}

/// Makes a tenth of the values of `v` hostile, as a vendor's bugs would: every number and
/// string may become another type, a sign-flipped or huge number, a number as text, `"null"`,
/// or be nested 100 lists deep; objects lose and gain keys; lists repeat or lose items.
pub fn mutate(v: &mut serde_json::Value, rng: &mut fastrand::Rng, depth: usize) {
    use serde_json::{json, Value};
    if depth > 64 {
        return;
    }
    let hit = rng.f64() < 0.1;
    match v {
        Value::Object(map) => {
            if hit && !map.is_empty() {
                let keys: Vec<String> = map.keys().cloned().collect();
                map.remove(&keys[rng.usize(..keys.len())]);
            }
            if hit {
                map.insert("unexpected_extra".into(), json!({"a": [1, "2", null]}));
            }
            for value in map.values_mut() {
                mutate(value, rng, depth + 1);
            }
        }
        Value::Array(items) => {
            if hit && !items.is_empty() {
                match rng.u8(..3) {
                    0 => {
                        let i = rng.usize(..items.len());
                        let copy = items[i].clone();
                        items.push(copy);
                    }
                    1 => {
                        items.remove(rng.usize(..items.len()));
                    }
                    _ => items.push(Value::Null),
                }
            }
            for item in items.iter_mut() {
                mutate(item, rng, depth + 1);
            }
        }
        _ if hit => {
            let n = v.as_f64().unwrap_or(1.0);
            *v = match rng.u8(..9) {
                0 => json!(-n.abs() - 64.0),
                1 => json!(1e308),
                2 => json!(n.to_string()),
                3 => json!("null"),
                4 => Value::Null,
                5 => json!("NaN"),
                6 => json!([[[[n]]]]),
                7 => {
                    let mut deep = json!(n);
                    for _ in 0..100 {
                        deep = json!([deep]);
                    }
                    deep
                }
                _ => json!({"value": n}),
            };
        }
        _ => {}
    }
}

/// Tokens a simulator issued, with their expiry.
#[derive(Debug, Default)]
pub struct TokenStore(Mutex<std::collections::HashMap<String, Instant>>);

impl TokenStore {
    pub fn issue(&self, id: String, ttl: Duration) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Instant::now() + ttl);
    }

    /// `true` if `id` was issued and has not expired.
    pub fn valid(&self, id: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .is_some_and(|exp| *exp > Instant::now())
    }

    /// Expires every token now (the `/sim/expire-tokens` control).
    pub fn expire_all(&self) {
        for exp in self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values_mut()
        {
            *exp = Instant::now();
        }
    }
}

/// One amount of a simulated fleet: what it really holds of a resource, at one place.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Figure {
    /// `capacity`, `allocatable`, `allocated`, `used`, `free` or `reserved`.
    pub family: String,
    /// A resource name of headroom's vocabulary (`vcpu`, `cpu_cores`, `memory`, ...).
    pub resource: String,
    /// Where the amount is: the scope labels of the pool level (`az`, `region`, `datastore`, ...).
    pub at: BTreeMap<String, String>,
    /// In the base unit (bytes, hertz, counts).
    pub value: f64,
}

/// One host of a simulated fleet as the platform's scheduler sees it: what may be allocated on
/// it (capacity × the site's overcommit − reserved) and what is, in base units. Tests count
/// free slots from these with their own arithmetic.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct HostTruth {
    pub host: String,
    /// The place its slots count in (`az`, `pool`, ...).
    pub at: BTreeMap<String, String>,
    /// `false` for a host that is down, in maintenance or disabled for scheduling.
    pub usable: bool,
    pub vcpu_allocatable: f64,
    pub vcpu_allocated: f64,
    pub memory_allocatable: f64,
    pub memory_allocated: f64,
    /// `None`: the host's instance disks go to shared storage (`disk_group`).
    pub disk_allocatable: Option<f64>,
    pub disk_allocated: Option<f64>,
    pub disk_group: Option<String>,
    /// GPU cards per model: [allocatable, allocated].
    #[serde(default)]
    pub gpus: BTreeMap<String, [f64; 2]>,
}

/// An instance size of the platform's catalogue (bytes for memory and disk).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct FlavorTruth {
    pub name: String,
    pub vcpus: f64,
    pub memory: f64,
    pub disk: f64,
    /// GPU cards an instance needs, of `gpu_model` (any one model when `None`).
    #[serde(default)]
    pub gpus: f64,
    #[serde(default)]
    pub gpu_model: Option<String>,
}

/// Shared storage instance disks go to: (allocatable, allocated) bytes.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct DiskGroupTruth {
    pub allocatable: f64,
    pub allocated: f64,
}

/// The ground truth of a simulated fleet, built while the fleet is generated.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Truth {
    pub figures: Vec<Figure>,
    /// Every compute host (where the simulator models placement).
    pub hosts: Vec<HostTruth>,
    /// The enabled flavors of the catalogue.
    pub flavors: Vec<FlavorTruth>,
    pub disk_groups: BTreeMap<String, DiskGroupTruth>,
    /// Free slots per flavor where the platform counts them itself (family `free_slots`).
    pub platform_slots: Vec<Figure>,
    /// Tenants' quota limits summed per resource and place (family `quota_limit`; an
    /// unlimited quota adds nothing), in base units.
    pub quota_limits: Vec<Figure>,
}

impl Truth {
    /// Adds `value` to the figure of (family, resource, at), starting it at 0.
    pub fn add(&mut self, family: &str, resource: &str, at: &[(&str, &str)], value: f64) {
        let at: BTreeMap<String, String> = at
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match self
            .figures
            .iter_mut()
            .find(|f| f.family == family && f.resource == resource && f.at == at)
        {
            Some(f) => f.value += value,
            None => self.figures.push(Figure {
                family: family.to_string(),
                resource: resource.to_string(),
                at,
                value,
            }),
        }
    }

    /// The sum of the figures of (family, resource) whose place includes `within`.
    pub fn total(&self, family: &str, resource: &str, within: &[(&str, &str)]) -> f64 {
        // As in a Prometheus matcher, an empty value wants the label empty or absent.
        self.figures
            .iter()
            .filter(|f| f.family == family && f.resource == resource)
            .filter(|f| {
                within
                    .iter()
                    .all(|(k, v)| f.at.get(*k).map(String::as_str).unwrap_or("") == *v)
            })
            .map(|f| f.value)
            .sum()
    }
}

/// What the control endpoints every simulator shares need from it.
pub trait SimControl: Send + Sync + 'static {
    fn faults(&self) -> &FaultState;
    fn tokens(&self) -> &TokenStore;
    /// What the fleet holds now.
    fn truth(&self) -> Truth;
}

/// The control endpoints every simulator serves: `POST /sim/faults`, `POST /sim/expire-tokens`
/// and `GET /sim/truth`; merge into a simulator's router before its state is set.
pub fn control_routes<S: SimControl>() -> axum::Router<std::sync::Arc<S>> {
    axum::Router::new()
        .route("/sim/faults", axum::routing::post(set_faults::<S>))
        .route(
            "/sim/expire-tokens",
            axum::routing::post(expire_tokens::<S>),
        )
        .route("/sim/truth", axum::routing::get(truth::<S>))
}

/// `GET /sim/truth`: the fleet's ground truth as JSON.
pub async fn truth<S: SimControl>(
    axum::extract::State(sim): axum::extract::State<std::sync::Arc<S>>,
) -> axum::Json<Truth> {
    axum::Json(sim.truth())
}

/// `POST /sim/faults` with a JSON [`Faults`].
pub async fn set_faults<S: SimControl>(
    axum::extract::State(sim): axum::extract::State<std::sync::Arc<S>>,
    axum::Json(f): axum::Json<Faults>,
) -> axum::http::StatusCode {
    sim.faults().set(f);
    axum::http::StatusCode::NO_CONTENT
}

/// `POST /sim/expire-tokens`.
pub async fn expire_tokens<S: SimControl>(
    axum::extract::State(sim): axum::extract::State<std::sync::Arc<S>>,
) -> axum::http::StatusCode {
    sim.tokens().expire_all();
    axum::http::StatusCode::NO_CONTENT
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

/// A certificate authority and a server certificate for 127.0.0.1 and localhost, made at start,
/// so a simulator can serve HTTPS and a client can trust it through `tls.ca_file`.
pub struct TlsIdentity {
    /// The CA certificate (PEM), for the client's `ca_file`.
    pub ca_pem: String,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity")
    }
}

impl TlsIdentity {
    pub fn generate() -> Result<TlsIdentity, String> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let err = |e: rcgen::Error| format!("cannot make the simulator's certificate: {e}");
        let ca_key = KeyPair::generate().map_err(err)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "headroom simulator CA");
        let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().map_err(err)?;
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .map_err(err)?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "headroom simulator");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(err)?;
        let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der())
            .map_err(|e| format!("simulator key: {e}"))?;
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("simulator TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca_cert.der().clone()], key)
        .map_err(|e| format!("simulator TLS: {e}"))?;
        Ok(TlsIdentity {
            ca_pem: ca_cert.pem(),
            acceptor: tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)),
        })
    }
}

/// A TCP listener that completes a TLS handshake before handing a connection to the server.
pub struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl TlsListener {
    pub fn new(tcp: tokio::net::TcpListener, identity: &TlsIdentity) -> TlsListener {
        TlsListener {
            tcp,
            acceptor: identity.acceptor.clone(),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            // A client that rejects the certificate aborts the handshake: wait for the next one.
            if let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(5), self.acceptor.accept(stream)).await
            {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_grows_the_first_list_and_keeps_the_json_valid() {
        let grown = |body: &str, n| {
            let out = flood(body.as_bytes().to_vec(), n);
            serde_json::from_slice::<serde_json::Value>(&out).unwrap_or_else(|e| panic!("{e}"))
        };
        let v = grown(r#"{"note": "a [ in text", "hypervisors": [{"id": 7}]}"#, 3);
        assert_eq!(v["hypervisors"].as_array().map(Vec::len), Some(4));
        assert_eq!(v["note"], "a [ in text");
        let v = grown(r#"{"data": {"list": [ ]}}"#, 2);
        assert_eq!(v["data"]["list"].as_array().map(Vec::len), Some(2));
        assert_eq!(flood(b"{}".to_vec(), 5), b"{}");
    }
}
