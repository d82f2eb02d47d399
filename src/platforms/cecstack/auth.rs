//! CECSTACK credentials. The ECS document says signature and authentication are described in a
//! separate 《公共说明 API 参考》 that we do not have, so headroom offers what works with any
//! gateway: static headers from the config (a token or cookie, as secrets), or a Keystone-style
//! password token sent in a configurable header, cached by the shared [`TokenCache`].

use reqwest::header::{HeaderMap, HeaderName};
use tokio::time::Instant;

use super::{CecAuth, SCOPE_API};
use crate::collect::{ErrorReason, PollError};
use crate::config::Secret;
use crate::http::{sensitive, ApiClient};
use crate::platforms::keystone::{self, PasswordLogin};
use crate::token::TokenCache;

/// The credentials of one target.
#[derive(Debug, Default)]
pub struct CecCredentials {
    cache: TokenCache,
}

impl CecCredentials {
    pub fn new() -> CecCredentials {
        CecCredentials::default()
    }

    /// Adds the auth headers to `h`; returns the token used, if any (to drop it after a 401).
    pub async fn apply(
        &self,
        client: &ApiClient,
        auth: &CecAuth,
        h: &mut HeaderMap,
        deadline: Instant,
    ) -> Result<Option<Secret>, PollError> {
        let name = |n: &str| {
            HeaderName::from_bytes(n.as_bytes()).map_err(|_| {
                PollError::new(
                    ErrorReason::Auth,
                    format!("`{n}` is not a valid header name"),
                )
            })
        };
        match auth {
            CecAuth::Headers(headers) => {
                for (n, v) in headers {
                    h.insert(name(n)?, sensitive(v.expose())?);
                }
                Ok(None)
            }
            CecAuth::Password {
                token_url,
                username,
                password,
                domain,
                project,
                header,
                token_ttl,
            } => {
                let login = PasswordLogin {
                    url: token_url,
                    scope: SCOPE_API,
                    service: "Keystone",
                    username,
                    password,
                    domain,
                    project,
                    scope_names_domain: true,
                    default_lifetime: *token_ttl,
                };
                let token = self
                    .cache
                    .get(client, || {
                        keystone::password_token(client, &login, deadline)
                    })
                    .await?;
                h.insert(name(header)?, sensitive(token.expose())?);
                Ok(Some(token))
            }
        }
    }

    /// Forgets a token the platform rejected.
    pub async fn invalidate(&self, stale: &Secret) {
        self.cache.invalidate(stale).await
    }
}
