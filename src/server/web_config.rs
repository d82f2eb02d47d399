//! The web configuration file (`--web.config.file`, `server.web_config_file`) in the Prometheus
//! exporter-toolkit format, so the file a node_exporter user already has works here: TLS
//! (`tls_server_config`, see [`super::tls`]), `basic_auth_users` (see [`super::basic_auth`]),
//! `http_server_config.headers` and `auth_excluded_paths`. Every problem is named by its field
//! path; relative file names are read from the file's own folder, as the toolkit does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use axum::http::{HeaderName, HeaderValue};
use serde_json::Value;

use super::basic_auth::{self, Users};
use super::tls;
use crate::config::tree::{self, Ctx, Obj, Problems};

/// Largest web configuration file read.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The response headers the toolkit lets a file set, with the values it accepts (`None`: any).
const HEADERS: &[(&str, Option<&[&str]>)] = &[
    ("Content-Security-Policy", None),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-XSS-Protection", None),
    ("Strict-Transport-Security", None),
];

/// A validated web configuration: what every new connection and request is served with.
#[derive(Debug, Default)]
pub struct WebConfig {
    /// TLS for new connections; `None`: plain HTTP.
    pub tls: Option<tls::TlsServer>,
    /// `None`: no authentication.
    pub users: Option<Users>,
    /// Paths served without authentication (exact match, as in the toolkit), e.g. `/healthz`.
    pub excluded_paths: BTreeSet<String>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl WebConfig {
    /// Who may connect: all zeros for plain HTTP, else the TLS client policy's digest.
    pub fn client_policy(&self) -> [u8; 32] {
        self.tls
            .as_ref()
            .map(|t| t.client_policy)
            .unwrap_or([0; 32])
    }

    /// One line for the log: what is on.
    pub fn summary(&self) -> String {
        let mut parts = vec![if self.tls.is_some() {
            "TLS"
        } else {
            "plain HTTP"
        }
        .to_string()];
        if let Some(tls) = &self.tls {
            parts.push(format!("client_auth_type {}", tls.client_auth));
        }
        match &self.users {
            Some(u) => parts.push(format!("basic auth ({} user(s))", u.len())),
            None => parts.push("no basic auth".into()),
        }
        if !self.excluded_paths.is_empty() {
            parts.push(format!(
                "open paths {}",
                self.excluded_paths
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        parts.join(", ")
    }
}

/// Reads and validates the file at `path`.
pub fn load(path: &Path) -> Result<WebConfig, Problems> {
    let mut problems = Problems::default();
    let text = tree::read_bounded(path, MAX_FILE_BYTES)
        .and_then(|bytes| String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string()));
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            problems.add(
                "",
                format!("cannot read web configuration {}: {e}", path.display()),
            );
            return Err(problems);
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base, &|k| std::env::var(k).ok())
}

/// Validates a web configuration's text; relative file names are read from `base`.
pub fn parse(
    text: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<WebConfig, Problems> {
    let root = tree::parse_yaml(text).map_err(|e| {
        let mut p = Problems::default();
        p.add("", e);
        p
    })?;
    let mut ctx = Ctx {
        warnings: Vec::new(),
        problems: Problems::default(),
        env,
    };
    let mut top = Obj::new(Some(&root), "", &mut ctx);

    let mut tls_obj = top.obj("tls_server_config", &mut ctx);
    let tls_config = tls::read(&mut tls_obj, base, &mut ctx);
    tls_obj.finish(&mut ctx);

    let mut http = top.obj("http_server_config", &mut ctx);
    // headroom serves HTTP/1.1, which Prometheus scrapes with; `http2` is accepted so a
    // toolkit file loads, and changes nothing.
    let _ = http.opt_bool("http2", &mut ctx);
    let headers = read_headers(http.raw("headers"), "http_server_config.headers", &mut ctx);
    http.finish(&mut ctx);

    let users = read_users(top.raw("basic_auth_users"), &mut ctx);
    let excluded_paths: BTreeSet<String> = top
        .opt_str_list("auth_excluded_paths", &mut ctx)
        .unwrap_or_default()
        .into_iter()
        .collect();
    for (i, p) in excluded_paths.iter().enumerate() {
        if !p.starts_with('/') {
            ctx.problems.add(
                &format!("auth_excluded_paths[{i}]"),
                format!("`{p}` is not a path (it starts with /, e.g. /healthz)"),
            );
        }
    }
    top.finish(&mut ctx);
    if !ctx.problems.is_empty() {
        return Err(ctx.problems);
    }
    Ok(WebConfig {
        tls: tls_config,
        users,
        excluded_paths,
        headers,
    })
}

fn read_headers(raw: Option<&Value>, path: &str, ctx: &mut Ctx) -> Vec<(HeaderName, HeaderValue)> {
    let Some(raw) = raw else { return Vec::new() };
    let Value::Object(map) = raw else {
        ctx.problems
            .add(path, "expected a mapping of header names to values");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, value) in map {
        let at = format!("{path}.{name}");
        let Some((canonical, allowed)) = HEADERS.iter().find(|(h, _)| h.eq_ignore_ascii_case(name))
        else {
            let known: Vec<&str> = HEADERS.iter().map(|(h, _)| *h).collect();
            ctx.problems.add(
                &at,
                format!(
                    "not a header the web configuration sets; these are: {}",
                    known.join(", ")
                ),
            );
            continue;
        };
        let Value::String(value) = value else {
            ctx.problems.add(&at, "expected a string");
            continue;
        };
        if value.is_empty() {
            continue; // "Unset if blank."
        }
        if let Some(allowed) = allowed {
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) {
                ctx.problems.add(
                    &at,
                    format!("`{value}` is not accepted; use {}", allowed.join(" or ")),
                );
                continue;
            }
        }
        match (
            HeaderName::from_bytes(canonical.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => out.push((n, v)),
            _ => ctx
                .problems
                .add(&at, "not a valid header value (control characters?)"),
        }
    }
    out
}

fn read_users(raw: Option<&Value>, ctx: &mut Ctx) -> Option<Users> {
    let path = "basic_auth_users";
    let Value::Object(map) = raw? else {
        ctx.problems
            .add(path, "expected a mapping of user names to bcrypt hashes");
        return None;
    };
    if map.len() > basic_auth::MAX_USERS {
        ctx.problems.add(
            path,
            format!(
                "{} users; headroom takes up to {} (use client certificates or a proxy for more)",
                map.len(),
                basic_auth::MAX_USERS
            ),
        );
        return None;
    }
    let mut hashes = BTreeMap::new();
    for (user, hash) in map {
        match hash {
            Value::String(h) => {
                hashes.insert(user.clone(), h.trim().to_string());
            }
            _ => ctx.problems.add(
                &format!("{path}.{user}"),
                "expected a bcrypt hash (a string)",
            ),
        }
    }
    if hashes.is_empty() {
        return None;
    }
    match Users::new(hashes) {
        Ok(u) => Some(u),
        Err(problems) => {
            for (user, message) in problems {
                ctx.problems.add(&format!("{path}.{user}"), message);
            }
            None
        }
    }
}
