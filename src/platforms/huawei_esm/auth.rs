//! The ESM token: IAM (Keystone v3) password authentication scoped to a project, cached for the
//! target's collectors by the shared [`TokenCache`].

use std::time::Duration;

use tokio::time::Instant;

use super::{EsmTarget, SCOPE_IAM};
use crate::collect::PollError;
use crate::config::Secret;
use crate::http::ApiClient;
use crate::platforms::keystone::{self, PasswordLogin};
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

async fn fetch(client: &ApiClient, s: &EsmTarget, deadline: Instant) -> Result<Token, PollError> {
    let login = PasswordLogin {
        url: &s.token_url,
        scope: SCOPE_IAM,
        service: "IAM",
        username: &s.username,
        password: &s.password,
        domain: &s.domain,
        project: &s.project,
        scope_names_domain: false,
        default_lifetime: DEFAULT_LIFETIME,
    };
    keystone::password_token(client, &login, deadline).await
}
