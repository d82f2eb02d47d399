//! `basic_auth_users` of the web configuration file: users with bcrypt hashes, checked so that
//! neither a wrong password nor an unknown user can be told apart by the time the answer takes.
//!
//! - A known user's password is checked with bcrypt, whose final comparison is constant-time
//!   (`subtle`). An unknown user is checked against a dummy hash of the highest cost among the
//!   configured users, so a 401 for a user that does not exist takes as long as one for a wrong
//!   password. (Give every user the same cost: a user with a cheaper hash answers faster.)
//! - Prometheus sends the same credentials every scrape: once verified, a credential is kept as
//!   a SHA-256 of user and password (never the password), so later scrapes cost a hash, not a
//!   bcrypt. The cache is bounded and is dropped with the configuration on reload.
//! - bcrypt runs on the blocking pool, at most [`CONCURRENT_CHECKS`] at a time: a flood of wrong
//!   passwords queues there instead of starving the pollers.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use tokio::sync::Semaphore;

/// bcrypt checks running at once (each takes one core for its cost's time).
pub const CONCURRENT_CHECKS: usize = 2;
/// Highest bcrypt cost accepted: cost 15 is about 2 s per check on these hosts; above that a
/// single request would hold a core for many seconds.
pub const MAX_COST: u32 = 15;
/// Verified credentials remembered (Prometheus servers and people, not an unbounded set).
const CACHE_ENTRIES: usize = 64;
/// Users accepted in one file.
pub const MAX_USERS: usize = 1000;

/// The configured users and what checking them needs.
pub struct Users {
    hashes: BTreeMap<String, String>,
    /// A hash of a random password at the highest configured cost, checked for unknown users.
    dummy: String,
    verified: Mutex<HashSet<[u8; 32]>>,
    checks: Semaphore,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: the hashes are secrets too (they can be attacked offline).
        f.debug_struct("Users")
            .field("names", &self.hashes.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What a hash from the file is, for the message of one that is not a bcrypt hash. Never the
/// hash itself.
fn cost_of(hash: &str) -> Result<u32, String> {
    let parts: Vec<&str> = hash.split('$').collect();
    let [empty, prefix, cost, rest] = parts.as_slice() else {
        return Err("is not a bcrypt hash ($2y$COST$ and 53 characters); make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`".into());
    };
    if !empty.is_empty() || !["2a", "2b", "2x", "2y"].contains(prefix) || rest.len() != 53 {
        return Err("is not a bcrypt hash ($2y$COST$ and 53 characters); make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`".into());
    }
    let cost: u32 = cost
        .parse()
        .map_err(|_| "has no bcrypt cost after $2y$".to_string())?;
    if !(4..=MAX_COST).contains(&cost) {
        return Err(format!("has bcrypt cost {cost}; headroom takes 4 to {MAX_COST} (10 is usual; each step doubles the time of every check)"));
    }
    Ok(cost)
}

impl Users {
    /// Validates the hashes (problems are `(user, message)`) and makes the dummy hash.
    pub fn new(hashes: BTreeMap<String, String>) -> Result<Users, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut max_cost = 4;
        for (user, hash) in &hashes {
            if user.contains(':') {
                problems.push((
                    user.clone(),
                    "a user name cannot contain `:` (Basic auth splits on it)".into(),
                ));
            }
            match cost_of(hash) {
                Ok(c) => max_cost = max_cost.max(c),
                Err(e) => problems.push((user.clone(), format!("the password hash {e}"))),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let dummy = dummy_hash(max_cost).map_err(|e| vec![(String::new(), e)])?;
        Ok(Users {
            hashes,
            dummy,
            verified: Mutex::new(HashSet::new()),
            checks: Semaphore::new(CONCURRENT_CHECKS),
        })
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether `user` with `password` may in.
    pub async fn check(&self, user: &str, password: &[u8]) -> bool {
        let key = credential_key(user, password);
        if self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return true;
        }
        let (hash, known) = match self.hashes.get(user) {
            Some(h) => (h.clone(), true),
            None => (self.dummy.clone(), false),
        };
        let Ok(_permit) = self.checks.acquire().await else {
            return false;
        };
        let password = password.to_vec();
        let matched =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        let ok = matched && known;
        if ok {
            let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key);
        }
        ok
    }
}

fn credential_key(user: &str, password: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&(user.len() as u64).to_be_bytes());
    ctx.update(user.as_bytes());
    ctx.update(password);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn dummy_hash(cost: u32) -> Result<String, String> {
    use ring::rand::SecureRandom as _;
    let rng = ring::rand::SystemRandom::new();
    let (mut salt, mut password) = ([0u8; 16], [0u8; 24]);
    rng.fill(&mut salt)
        .and_then(|_| rng.fill(&mut password))
        .map_err(|_| "the system random number generator failed".to_string())?;
    bcrypt::hash_with_salt(password, cost, salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot make the comparison hash: {e}"))
}

/// The user and password of an `Authorization: Basic` value; `None` if it is not one.
pub fn parse_basic(value: &[u8]) -> Option<(String, Vec<u8>)> {
    use base64::Engine as _;
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > 4096 {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(pairs: &[(&str, &str)]) -> Users {
        let map = pairs
            .iter()
            .map(|(u, p)| {
                (
                    u.to_string(),
                    bcrypt::hash_with_salt(p, 4, [7; 16])
                        .map(|h| h.to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        Users::new(map).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[tokio::test]
    async fn the_right_password_passes_and_anything_else_fails() {
        let u = users(&[("prometheus", "s3cret"), ("ops", "other")]);
        assert!(u.check("prometheus", b"s3cret").await);
        // Again, from the cache.
        assert!(u.check("prometheus", b"s3cret").await);
        assert!(!u.check("prometheus", b"s3cre").await);
        assert!(!u.check("prometheus", b"other").await);
        assert!(!u.check("nobody", b"s3cret").await);
        assert!(!u.check("", b"").await);
        // The cache is per credential: one user's password does not open another's account.
        assert!(!u.check("ops", b"s3cret").await);
    }

    #[test]
    fn the_dummy_hash_has_the_highest_configured_cost() {
        let map = [
            (
                "a".to_string(),
                bcrypt::hash_with_salt("x", 4, [1; 16])
                    .map(|h| h.to_string())
                    .unwrap_or_default(),
            ),
            (
                "b".to_string(),
                bcrypt::hash_with_salt("y", 6, [2; 16])
                    .map(|h| h.to_string())
                    .unwrap_or_default(),
            ),
        ]
        .into_iter()
        .collect();
        let u = Users::new(map).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(cost_of(&u.dummy), Ok(6));
    }

    #[test]
    fn bad_hashes_are_refused_without_echoing_them() {
        let map = [
            ("plain".to_string(), "hunter2".to_string()),
            ("costly".to_string(), format!("$2y$20${}", "a".repeat(53))),
        ]
        .into_iter()
        .collect();
        let problems = Users::new(map).err().unwrap_or_default();
        assert_eq!(problems.len(), 2, "{problems:?}");
        for (_, msg) in &problems {
            assert!(!msg.contains("hunter2") && !msg.contains("aaaa"), "{msg}");
        }
        assert!(
            problems
                .iter()
                .any(|(u, m)| u == "costly" && m.contains("cost 20")),
            "{problems:?}"
        );
    }

    #[test]
    fn basic_headers_parse() {
        assert_eq!(
            parse_basic(b"Basic cHJvbTpwYTpzcw=="),
            Some(("prom".into(), b"pa:ss".to_vec()))
        );
        assert_eq!(
            parse_basic(b"basic cHJvbTo="),
            Some(("prom".into(), Vec::new()))
        );
        assert_eq!(parse_basic(b"Bearer abc"), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        assert_eq!(parse_basic(b"Basic bm9jb2xvbg=="), None);
    }
}
