//! Keystone v3 password tokens, shared by the platforms whose identity service is Keystone or a
//! copy of it (Huawei IAM, H3C CloudOS, CECSTACK): the project-scoped password body, the token
//! read from `X-Subject-Token`, and its lifetime from `token.expires_at`.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::collect::{ErrorReason, PollError};
use crate::config::Secret;
use crate::http::{error_summary, ApiClient, ApiRequest};
use crate::token::Token;

/// One password login.
#[derive(Debug, Clone, Copy)]
pub struct PasswordLogin<'a> {
    pub url: &'a reqwest::Url,
    /// The limit scope the request spends.
    pub scope: &'static str,
    /// What the identity service is called in messages ("IAM", "Keystone").
    pub service: &'static str,
    pub username: &'a str,
    pub password: &'a Secret,
    pub domain: &'a str,
    pub project: &'a str,
    /// Whether the project scope names its domain too. Plain Keystone needs it to resolve a
    /// project by name; Huawei IAM documents the scope as the project name alone, so ESM sends
    /// exactly the documented body.
    pub scope_names_domain: bool,
    /// Token lifetime when the answer does not state one.
    pub default_lifetime: Duration,
}

/// The password body, scoped to the project by name (within the user's domain when
/// `scope_names_domain`).
pub fn password_body(login: &PasswordLogin) -> Vec<u8> {
    let project = if login.scope_names_domain {
        serde_json::json!({ "name": login.project, "domain": { "name": login.domain } })
    } else {
        serde_json::json!({ "name": login.project })
    };
    serde_json::json!({
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": login.username,
                        "password": login.password.expose(),
                        "domain": { "name": login.domain }
                    }
                }
            },
            "scope": { "project": project }
        }
    })
    .to_string()
    .into_bytes()
}

/// Asks for a token; a 400/401/403 is an `auth` error naming the keys to check.
pub async fn password_token(
    client: &ApiClient,
    login: &PasswordLogin<'_>,
    deadline: Instant,
) -> Result<Token, PollError> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let req = ApiRequest {
        api: "token",
        scope: login.scope,
        method: Method::POST,
        url: login.url.clone(),
        headers,
        body: Some(password_body(login)),
    };
    let resp = client.send(&req, deadline).await?;
    let service = login.service;
    match resp.status {
        200 | 201 => {}
        400 | 401 | 403 => {
            warn!(target_name = client.target(), user = %login.username, status = resp.status, "{service} rejected the credentials.");
            return Err(PollError::new(
                ErrorReason::Auth,
                format!(
                    "{service} rejected the credentials of user `{}` (HTTP {}{}); check auth.username, password, domain and project",
                    login.username,
                    resp.status,
                    error_summary(&resp.body)
                ),
            ));
        }
        other => {
            return Err(PollError::new(
                ErrorReason::Auth,
                format!(
                    "{service} token request to {} answered HTTP {other}{}; check auth.token_url",
                    login.url.path(),
                    error_summary(&resp.body)
                ),
            ));
        }
    }
    let value = resp
        .headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            PollError::new(
                ErrorReason::Auth,
                format!(
                    "{service} answered without an X-Subject-Token header; check auth.token_url"
                ),
            )
        })?
        .to_string();
    let lifetime = expires_in(&resp.body).unwrap_or(login.default_lifetime);
    info!(
        target_name = client.target(),
        lifetime_seconds = lifetime.as_secs(),
        "Obtained a {service} token."
    );
    Ok(Token {
        value: Secret::new(value),
        lifetime,
    })
}

/// Remaining lifetime from `token.expires_at` in the body, when present.
pub fn expires_in(body: &[u8]) -> Option<Duration> {
    let v: serde_json::Value =
        serde_json::from_slice(crate::json::small("token", body).ok()?).ok()?;
    let at = v.get("token")?.get("expires_at")?.as_str()?;
    let when = humantime::parse_rfc3339_weak(at.trim_end_matches('Z').split('.').next()?).ok()?;
    when.duration_since(SystemTime::now()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_expiry_from_the_body() {
        let at = humantime::format_rfc3339_micros(SystemTime::now() + Duration::from_secs(7200))
            .to_string();
        let body = format!(r#"{{"token":{{"expires_at":"{at}"}}}}"#);
        let d = expires_in(body.as_bytes()).unwrap_or_default();
        assert!(
            d > Duration::from_secs(7100) && d <= Duration::from_secs(7200),
            "{d:?}"
        );
        assert_eq!(expires_in(b"{}"), None);
    }

    #[test]
    fn body_is_the_project_scoped_password_body() {
        let url = reqwest::Url::parse("http://127.0.0.1/v3/auth/tokens")
            .unwrap_or_else(|e| panic!("{e}"));
        let password = Secret::new("p");
        let login = PasswordLogin {
            url: &url,
            scope: "iam",
            service: "IAM",
            username: "u",
            password: &password,
            domain: "d",
            project: "pr",
            scope_names_domain: true,
            default_lifetime: Duration::from_secs(60),
        };
        let v: serde_json::Value =
            serde_json::from_slice(&password_body(&login)).unwrap_or_default();
        assert_eq!(v["auth"]["identity"]["methods"][0], "password");
        assert_eq!(v["auth"]["identity"]["password"]["user"]["name"], "u");
        assert_eq!(v["auth"]["identity"]["password"]["user"]["password"], "p");
        assert_eq!(
            v["auth"]["identity"]["password"]["user"]["domain"]["name"],
            "d"
        );
        assert_eq!(v["auth"]["scope"]["project"]["name"], "pr");
        assert_eq!(v["auth"]["scope"]["project"]["domain"]["name"], "d");

        let iam = PasswordLogin {
            scope_names_domain: false,
            ..login
        };
        let v: serde_json::Value = serde_json::from_slice(&password_body(&iam)).unwrap_or_default();
        assert_eq!(
            v["auth"]["scope"],
            serde_json::json!({ "project": { "name": "pr" } })
        );
    }
}
