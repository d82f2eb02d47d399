//! The ESM token: IAM password authentication scoped to a project, read from `X-Subject-Token`,
//! and cached for the target's collectors by the shared [`TokenCache`].

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::Method;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{EsmTarget, SCOPE_IAM};
use crate::collect::{ErrorReason, PollError};
use crate::config::Secret;
use crate::http::{error_summary, ApiClient, ApiRequest};
use crate::token::{Token, TokenCache};

/// Token lifetime when the IAM answer does not state one (the document says 24 h).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The cached ESM token of one target.
#[derive(Debug, Default)]
pub struct EsmToken {
    cache: TokenCache,
}

impl EsmToken {
    pub fn new() -> EsmToken {
        EsmToken::default()
    }

    /// A valid token, fetched once however many collectors ask (see [`TokenCache`]).
    pub async fn get(
        &self,
        client: &ApiClient,
        settings: &EsmTarget,
        deadline: Instant,
    ) -> Result<Secret, PollError> {
        self.cache
            .get(client, || fetch(client, settings, deadline))
            .await
    }

    /// Forgets a token the platform rejected.
    pub async fn invalidate(&self, stale: &Secret) {
        self.cache.invalidate(stale).await
    }
}

/// The documented password body, scoped to the project (ESM is a project-level service).
fn token_body(s: &EsmTarget) -> Vec<u8> {
    serde_json::json!({
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": s.username,
                        "password": s.password.expose(),
                        "domain": { "name": s.domain }
                    }
                }
            },
            "scope": { "project": { "name": s.project } }
        }
    })
    .to_string()
    .into_bytes()
}

async fn fetch(client: &ApiClient, s: &EsmTarget, deadline: Instant) -> Result<Token, PollError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    let req = ApiRequest {
        api: "iam_token",
        scope: SCOPE_IAM,
        method: Method::POST,
        url: s.token_url.clone(),
        headers,
        body: Some(token_body(s)),
    };
    let resp = client.send(&req, deadline).await?;
    match resp.status {
        200 | 201 => {}
        400 | 401 | 403 => {
            warn!(target_name = client.target(), user = %s.username, status = resp.status, "IAM rejected the credentials.");
            return Err(PollError::new(
                ErrorReason::Auth,
                format!(
                    "IAM rejected the credentials of user `{}` (HTTP {}{}); check auth.username, password, domain and project",
                    s.username,
                    resp.status,
                    error_summary(&resp.body)
                ),
            ));
        }
        other => {
            return Err(PollError::new(
                ErrorReason::Auth,
                format!(
                    "IAM token request answered HTTP {other}{}",
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
                "IAM answered without an X-Subject-Token header",
            )
        })?
        .to_string();
    let lifetime = expires_in(&resp.body).unwrap_or(DEFAULT_LIFETIME);
    info!(
        target_name = client.target(),
        lifetime_seconds = lifetime.as_secs(),
        "Obtained an ESM token."
    );
    Ok(Token {
        value: Secret::new(value),
        lifetime,
    })
}

/// Remaining lifetime from `token.expires_at` in the IAM body, when present.
fn expires_in(body: &[u8]) -> Option<Duration> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
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
    fn body_is_the_documented_project_scoped_password_body() {
        let s = EsmTarget {
            token_url: reqwest::Url::parse("http://127.0.0.1/v3/auth/tokens")
                .unwrap_or_else(|e| panic!("{e}")),
            username: "u".into(),
            password: Secret::new("p"),
            domain: "d".into(),
            project: "pr".into(),
            apig_appcode: Secret::new("a"),
            hcso_appcode: Secret::new("a"),
            hcso_domain_id: None,
            terabyte_bytes: 1.0,
            page_size: 1000,
            offset_mode: super::super::OffsetMode::Record,
            max_pages: 10,
        };
        let v: serde_json::Value = serde_json::from_slice(&token_body(&s)).unwrap_or_default();
        assert_eq!(v["auth"]["identity"]["methods"][0], "password");
        assert_eq!(v["auth"]["identity"]["password"]["user"]["name"], "u");
        assert_eq!(v["auth"]["identity"]["password"]["user"]["password"], "p");
        assert_eq!(
            v["auth"]["identity"]["password"]["user"]["domain"]["name"],
            "d"
        );
        assert_eq!(v["auth"]["scope"]["project"]["name"], "pr");
    }
}
