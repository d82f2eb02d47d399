//! The CloudOS token: a Keystone v3 password token (the document has no login API; the URL is
//! configurable, see `DEFAULT_TOKEN_PATH`), sent as `X-Auth-Token`, cached for the target's
//! collectors by the shared [`TokenCache`].

use tokio::time::Instant;

use super::{CloudosTarget, SCOPE_API};
use crate::collect::PollError;
use crate::config::Secret;
use crate::http::ApiClient;
use crate::platforms::keystone::{self, PasswordLogin};
use crate::token::TokenCache;

/// The cached CloudOS token of one target.
#[derive(Debug, Default)]
pub struct CloudosToken {
    cache: TokenCache,
}

impl CloudosToken {
    pub fn new() -> CloudosToken {
        CloudosToken::default()
    }

    /// A valid token, fetched once however many collectors ask.
    pub async fn get(
        &self,
        client: &ApiClient,
        s: &CloudosTarget,
        deadline: Instant,
    ) -> Result<Secret, PollError> {
        let login = PasswordLogin {
            url: &s.token_url,
            scope: SCOPE_API,
            service: "Keystone",
            username: &s.username,
            password: &s.password,
            domain: &s.domain,
            project: &s.project,
            scope_names_domain: true,
            default_lifetime: s.token_ttl,
        };
        self.cache
            .get(client, || {
                keystone::password_token(client, &login, deadline)
            })
            .await
    }

    /// Forgets a token the platform rejected.
    pub async fn invalidate(&self, stale: &Secret) {
        self.cache.invalidate(stale).await
    }
}
