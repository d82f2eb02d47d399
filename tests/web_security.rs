//! The inbound endpoint secured with an exporter-toolkit web configuration: a real Prometheus
//! scrapes `headroom run` over HTTPS with basic auth, then (after SIGHUP) over mutual TLS;
//! clients without credentials, with a wrong password, without a certificate, with a
//! certificate of another CA or with a SAN not allowed are refused; a connection opened before
//! the reload does not keep the old rule; a bad file keeps the running configuration. And every
//! problem of a web configuration is named by its field path.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::prom;
use headroom::server::web_config;
use serde_json::Value;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A CA, a server certificate for 127.0.0.1 from it, a client certificate from it
/// (SAN prometheus.example), one from it with another SAN, and one from a second CA.
fn make_pki(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let ca = |name: &str, file: &str| {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.self_signed(&key).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join(file), cert.pem()).unwrap_or_else(|e| panic!("{e}"));
        Issuer::new(p, key)
    };
    let leaf = |issuer: &Issuer<'_, KeyPair>, sans: &[&str], client: bool, name: &str| {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap_or_else(|e| panic!("{e}"));
        p.distinguished_name.push(DnType::CommonName, name);
        if client {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let cert = p.signed_by(&key, issuer).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem())
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem())
            .unwrap_or_else(|e| panic!("{e}"));
    };
    let site = ca("site CA", "ca.pem");
    let other = ca("another CA", "other-ca.pem");
    leaf(&site, &["localhost", "127.0.0.1"], false, "server");
    leaf(&site, &["prometheus.example"], true, "client");
    leaf(&site, &["intruder.example"], true, "wrong-san");
    leaf(&other, &["prometheus.example"], true, "rogue");
}

fn hash(password: &str) -> String {
    bcrypt::hash_with_salt(password, 8, [3; 16])
        .map(|h| h.to_string())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Prometheus's view of every scrape job: (health, last error).
async fn targets(http: &reqwest::Client, prometheus: &str) -> Vec<(String, String, String)> {
    let Ok(r) = http
        .get(format!("{prometheus}/api/v1/targets"))
        .send()
        .await
    else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or_default();
    v["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| {
            (
                t["labels"]["job"].as_str().unwrap_or_default().to_string(),
                t["health"].as_str().unwrap_or_default().to_string(),
                t["lastError"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Waits until every job in `want` has the health given (`up` or `down`), scraped after `since`.
async fn wait_for_health(
    http: &reqwest::Client,
    prometheus: &str,
    want: &[(&str, &str)],
    what: &str,
) -> Vec<(String, String, String)> {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let got = targets(http, prometheus).await;
        let ok = want
            .iter()
            .all(|(job, health)| got.iter().any(|(j, h, _)| j == job && h == health));
        if ok {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: want {want:?}, Prometheus says {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn error_of<'a>(got: &'a [(String, String, String)], job: &str) -> &'a str {
    got.iter()
        .find(|(j, _, _)| j == job)
        .map(|(_, _, e)| e.as_str())
        .unwrap_or("")
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_over_https_with_basic_auth_then_mutual_tls_and_the_rest_is_refused() {
    let dir = std::env::temp_dir().join(format!("headroom-web-security-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    make_pki(&dir);
    let (sim, _) = common::esm_sim(Default::default()).await;
    let only = "    collectors:\n      service_capacity: {enabled: false}\n      cloud_service_alarms: {enabled: false}\n      hardware_alarms: {enabled: false}\n      host_metrics: {enabled: false}\n      tenant_resources: {enabled: false}\n      devices: {enabled: false}\n";
    let config = dir.join("config.yaml");
    write(
        &config,
        &format!(
            "server: {{listen: \"127.0.0.1:0\"}}\ntargets:\n{}",
            common::esm_target("esm", sim, "demo-password", only)
        ),
    );

    // Phase 1: HTTPS and basic auth; /healthz open; a header for every answer. File names are
    // relative to the web configuration's folder, as in the exporter toolkit.
    let web = dir.join("web.yml");
    let users = format!("basic_auth_users:\n  prometheus: '{}'\n", hash("scrape-pw"));
    let phase1 = format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n{users}\
         auth_excluded_paths: [/healthz]\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
    );
    write(&web, &phase1);
    let check = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["check-config", "--config"])
        .arg(&config)
        .arg("--web.config.file")
        .arg(&web)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let said = String::from_utf8_lossy(&check.stdout).to_string();
    assert!(
        check.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        said.contains("TLS") && said.contains("basic auth (1 user(s))"),
        "{said}"
    );

    let headroom = common::RunningDaemon::start(&[
        "--config".as_ref(),
        config.as_os_str(),
        "--web.config.file".as_ref(),
        web.as_os_str(),
    ]);
    let (pid, addr) = (headroom.pid, headroom.addr.clone());

    // What curl would see.
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    headroom::http::install_crypto_provider();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca.clone())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let base = format!("https://{addr}");
    let status =
        |r: Result<reqwest::Response, reqwest::Error>| r.map(|r| r.status().as_u16()).unwrap_or(0);
    assert_eq!(
        status(client.get(format!("{base}/metrics")).send().await),
        401
    );
    assert_eq!(
        status(
            client
                .get(format!("{base}/metrics"))
                .basic_auth("prometheus", Some("wrong"))
                .send()
                .await
        ),
        401
    );
    assert_eq!(
        status(
            client
                .get(format!("{base}/metrics"))
                .basic_auth("nobody", Some("scrape-pw"))
                .send()
                .await
        ),
        401
    );
    let refused = client
        .get(format!("{base}/status"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        refused
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Basic realm=\"headroom\", charset=\"UTF-8\"")
    );
    let ok = client
        .get(format!("{base}/metrics"))
        .basic_auth("prometheus", Some("scrape-pw"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    assert!(ok
        .text()
        .await
        .unwrap_or_default()
        .contains("headroom_build_info"));
    assert_eq!(
        status(client.get(format!("{base}/healthz")).send().await),
        200,
        "/healthz is excluded from auth"
    );
    // Plain HTTP to the TLS port is told to use https.
    let plain = common::http()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plain.status(), 400);
    assert!(plain
        .text()
        .await
        .unwrap_or_default()
        .contains("use https://"));
    // /sd tells Prometheus to scrape https.
    let sd_text = client
        .get(format!("{base}/sd"))
        .basic_auth("prometheus", Some("scrape-pw"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    let sd: Value = serde_json::from_str(&sd_text).unwrap_or_default();
    assert_eq!(sd[0]["labels"]["__scheme__"], "https", "{sd}");

    // The real Prometheus, with one job per kind of client.
    let d = dir.display();
    let job = |name: &str, tls: &str, auth: &str| {
        format!("  - job_name: {name}\n    scheme: https\n    tls_config: {{ca_file: {d}/ca.pem{tls}}}\n{auth}    static_configs: [{{targets: ['{addr}']}}]\n")
    };
    let good_auth = "    basic_auth: {username: prometheus, password: scrape-pw}\n";
    let client_cert = |name: &str| format!(", cert_file: {d}/{name}.pem, key_file: {d}/{name}.key");
    let scrape = [
        job("good", &client_cert("client"), good_auth),
        job("no_credentials", &client_cert("client"), ""),
        job(
            "wrong_password",
            &client_cert("client"),
            "    basic_auth: {username: prometheus, password: guessed}\n",
        ),
        job("no_certificate", "", good_auth),
        job("other_ca", &client_cert("rogue"), good_auth),
        job("wrong_san", &client_cert("wrong-san"), good_auth),
    ]
    .concat();
    let prom_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        l.local_addr().map(|a| a.port()).unwrap_or(0)
    };
    write(
        &dir.join("prometheus.yml"),
        &format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n{scrape}"),
    );
    let prometheus = Killed(
        Command::new(prom::tool("prometheus", "PROMETHEUS"))
            .arg(format!("--config.file={d}/prometheus.yml"))
            .arg(format!("--storage.tsdb.path={d}/prom-data"))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.join("prometheus.log"))
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start prometheus (./scripts/test.sh installs it): {e}")
            }),
    );
    let prom_api = format!("http://127.0.0.1:{prom_port}");
    let http = common::http();

    // Phase 1: basic auth decides; no client certificate is asked for.
    let got = wait_for_health(
        &http,
        &prom_api,
        &[
            ("good", "up"),
            ("no_credentials", "down"),
            ("wrong_password", "down"),
            ("no_certificate", "up"),
            ("other_ca", "up"),
            ("wrong_san", "up"),
        ],
        "HTTPS with basic auth",
    )
    .await;
    for refused in ["no_credentials", "wrong_password"] {
        assert!(
            error_of(&got, refused).contains("401"),
            "{refused}: {got:?}"
        );
    }

    // Phase 2 (SIGHUP): client certificates of the site CA with the SAN prometheus.example are
    // required too. The listener stays; connections Prometheus keeps open from phase 1 must not
    // keep phase 1's rule.
    let phase2 = format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  \
         client_ca_file: ca.pem\n  client_allowed_sans: [prometheus.example]\n  min_version: TLS12\n{users}"
    );
    write(&web, &phase2);
    common::signal(pid, "-HUP");
    let got = wait_for_health(
        &http,
        &prom_api,
        &[
            ("good", "up"),
            ("no_credentials", "down"),
            ("wrong_password", "down"),
            ("no_certificate", "down"),
            ("other_ca", "down"),
            ("wrong_san", "down"),
        ],
        "mutual TLS after SIGHUP",
    )
    .await;
    for refused in ["no_credentials", "wrong_password"] {
        assert!(
            error_of(&got, refused).contains("401"),
            "{refused}: {got:?}"
        );
    }
    for refused in ["no_certificate", "other_ca", "wrong_san"] {
        let e = error_of(&got, refused);
        assert!(
            !e.contains("401") && !e.is_empty(),
            "{refused} is refused in the handshake: {got:?}"
        );
    }
    // The same port throughout: the listener was not dropped. This client's idle connection
    // from phase 1 was closed by the reload, so its request goes on a new connection, which
    // without a client certificate fails the handshake.
    assert_eq!(
        status(client.get(format!("{base}/healthz")).send().await),
        0,
        "no client certificate: refused"
    );
    let log_text = headroom.log();
    assert!(
        log_text.contains("client_auth_type RequireAndVerifyClientCert"),
        "{log_text}"
    );

    // Phase 3: a bad file keeps the running web configuration, and says so.
    write(&web, "tls_server_config:\n  cert_file: missing.pem\n  key_file: server.key\n  min_version: TLS10\n");
    common::signal(pid, "-HUP");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = http.get(format!("{prom_api}/api/v1/query?query=headroom_config_last_reload_successful%7Bjob%3D%22good%22%7D")).send().await;
        let v: Value = match r {
            Ok(r) => serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or_default(),
            Err(_) => Value::Null,
        };
        if v["data"]["result"][0]["value"][1] == "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failed reload is not reported: {v}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    wait_for_health(
        &http,
        &prom_api,
        &[("good", "up"), ("other_ca", "down")],
        "the running configuration kept",
    )
    .await;
    let log_text = headroom.log();
    assert!(
        log_text.contains("tls_server_config.min_version")
            && log_text.contains("tls_server_config.cert_file"),
        "{log_text}"
    );
    drop(prometheus);
    let _ = std::fs::remove_dir_all(&dir);
}

fn problems(text: &str, base: &Path) -> String {
    match web_config::parse(text, base, &|_| None) {
        Ok(_) => String::new(),
        Err(p) => p.to_string(),
    }
}

#[test]
fn every_problem_of_a_web_configuration_is_named_by_its_field() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("headroom-web-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    make_pki(&dir);
    let tls = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";
    // A good file, with every key the toolkit documents.
    let full = format!(
        "{tls}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n  client_allowed_sans: [prometheus.example, 10.0.0.1, spiffe://site/prom]\n  \
         min_version: TLS12\n  max_version: TLS13\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]\n  \
         prefer_server_cipher_suites: true\n  curve_preferences: [X25519, CurveP256]\nhttp_server_config:\n  http2: true\n  headers:\n    \
         Strict-Transport-Security: max-age=31536000\n    X-Frame-Options: deny\nbasic_auth_users:\n  prometheus: '{}'\nauth_excluded_paths: [/healthz]\n",
        hash("x")
    );
    assert_eq!(problems(&full, &dir), "");
    let ok = web_config::parse(&full, &dir, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.summary(), "TLS, client_auth_type VerifyClientCertIfGiven, basic auth (1 user(s)), open paths /healthz");
    // An empty file: plain HTTP, no authentication (as without a file).
    let empty = web_config::parse("", &dir, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    assert!(empty.tls.is_none() && empty.users.is_none());

    let cases: &[(&str, &[&str])] = &[
        (&format!("{tls}  min_version: TLS10\n"), &["tls_server_config.min_version: TLS10 is not offered"]),
        (&format!("{tls}  max_version: TLS12\n  min_version: TLS13\n"), &["tls_server_config.min_version: is above max_version"]),
        (&format!("{tls}  client_auth_type: RequestClientCert\n"), &["tls_server_config.client_auth_type: RequestClientCert accepts a client certificate without verifying it"]),
        (&format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n"), &["tls_server_config.client_ca_file: missing"]),
        (&format!("{tls}  client_auth_type: Sometimes\n"), &["tls_server_config.client_auth_type: `Sometimes` is not one of"]),
        (&format!("{tls}  client_allowed_sans: [a.example]\n"), &["tls_server_config.client_allowed_sans: checks client certificates"]),
        (&format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: [ops@site.example]\n"), &["tls_server_config.client_allowed_sans[0]: `ops@site.example`: e-mail SANs"]),
        (&format!("{tls}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"), &["tls_server_config.cipher_suites[0]: `TLS_RSA_WITH_AES_128_CBC_SHA` is not offered"]),
        (&format!("{tls}  curve_preferences: [CurveP521]\n"), &["tls_server_config.curve_preferences[0]: `CurveP521` is not offered"]),
        ("tls_server_config:\n  cert_file: server.pem\n", &["tls_server_config.key_file: missing"]),
        ("tls_server_config:\n  cert_file: nowhere.pem\n  key_file: server.key\n", &["tls_server_config.cert_file: cannot read", "nowhere.pem"]),
        ("tls_server_config:\n  cert_file: server.pem\n  key_file: ca.pem\n", &["tls_server_config.key_file:", "no PEM private key"]),
        ("tls_server_config:\n  cert_file: server.pem\n  key_file: client.key\n", &["tls_server_config.key_file: the key does not fit the certificate"]),
        ("tls_server_config:\n  cert_file: server.pem\n  cert: inline\n  key_file: server.key\n", &["tls_server_config.cert: give either `cert` or `cert_file`, not both"]),
        (&format!("{tls}  cert_flie: x\n"), &["tls_server_config.cert_flie: unknown key (did you mean `cert_file`?)"]),
        ("basic_auth_users:\n  prometheus: hunter2\n", &["basic_auth_users.prometheus: the password hash is not a bcrypt hash"]),
        (&format!("basic_auth_users:\n  prometheus: '$2y$20${}'\n", "a".repeat(53)), &["basic_auth_users.prometheus: the password hash has bcrypt cost 20"]),
        ("http_server_config:\n  headers:\n    Server: headroom\n", &["http_server_config.headers.Server: not a header the web configuration sets"]),
        ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", &["http_server_config.headers.X-Frame-Options: `allow` is not accepted; use deny or sameorigin"]),
        ("auth_excluded_paths: [healthz]\n", &["auth_excluded_paths[0]: `healthz` is not a path"]),
        ("tls_server_config: [\n", &["not valid YAML"]),
    ];
    for (text, wants) in cases {
        let got = problems(text, &dir);
        for want in *wants {
            assert!(
                got.contains(want),
                "for\n{text}\nwant {want:?}, got:\n{got}"
            );
        }
        // A secret never reaches a message: not a password, a hash, or a key's bytes.
        for secret in ["hunter2", "aaaaaaaa", "PRIVATE KEY"] {
            assert!(!got.contains(secret), "{got}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_web_configuration_fails_check_config_and_keeps_run_from_starting() {
    let dir = std::env::temp_dir().join(format!("headroom-web-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let web = dir.join("web.yml");
    write(&web, "basic_auth_users:\n  prometheus: hunter2\n");
    let config = dir.join("config.yaml");
    write(
        &config,
        &format!(
            "server: {{listen: \"127.0.0.1:0\", web_config_file: {}}}\ntargets:\n{}",
            web.display(),
            common::esm_target(
                "esm",
                "127.0.0.1:9".parse().unwrap_or_else(|e| panic!("{e}")),
                "pw",
                ""
            )
        ),
    );
    let check = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let said = String::from_utf8_lossy(&check.stderr).to_string();
    assert_eq!(check.status.code(), Some(1), "{said}");
    assert!(
        said.contains("web.yml")
            && said.contains("basic_auth_users.prometheus: the password hash is not a bcrypt hash"),
        "{said}"
    );
    assert!(!said.contains("hunter2"), "{said}");
    // `run` exits with the configuration status the unit does not restart on.
    let run = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        run.status.code(),
        Some(i32::from(headroom::cli::EXIT_CONFIG))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
