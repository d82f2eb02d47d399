//! SCP authentication, both documented methods (spec §2):
//!
//! - **EC2 (AK/SK)**: every request carries the document's AWS4-HMAC-SHA256 variant: an
//!   always-empty canonical query string, no `host`, `X-Amz-Date` in the basic format
//!   (`20210104T063141Z`), and `SignedHeaders=x-amz-date` (see [`SIGNED_HEADERS`] for why not the
//!   document's `path;x-amz-date`). The server accepts a signature for about 15 minutes, so each
//!   request is signed when it is sent.
//! - **Password**: the RSA modulus from `/janus/public-key`, the password encrypted with it
//!   (PKCS#1 v1.5, hex), `POST /janus/authenticate`, then `Authorization: Token <id>`; the token
//!   is cached by the shared [`TokenCache`](crate::token::TokenCache).

use std::time::{Duration, SystemTime};

use num_bigint::BigUint;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use ring::rand::SecureRandom;
use serde::Deserialize;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{OpenStackTenant, SCOPE_PUBLIC_KEY, SCOPE_WRITE};
use crate::collect::{ErrorReason, PollError};
use crate::config::Secret;
use crate::http::{error_summary, ApiClient, ApiRequest};
use crate::token::Token;

pub const PATH_PUBLIC_KEY: &str = "/janus/public-key";
pub const PATH_AUTHENTICATE: &str = "/janus/authenticate";
/// The OpenStack API's Keystone v2 login (OpenStack document §4.1.2.1).
pub const PATH_OPENSTACK_TOKENS: &str = "/openstack/identity/v2.0/tokens";
/// An OpenStack-API token's lifetime when the answer states none: the document's example
/// issues one for an hour.
const OPENSTACK_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The signed-header list headroom sends: `x-amz-date` alone.
///
/// Document 004 lets a client sign "any header present except host" and takes the list from the
/// `Authorization` header; its samples send `path;x-amz-date` (`path` is no header, so a server
/// that skips absent headers canonicalises `x-amz-date` only) and `cookie;x-amz-date`. The one
/// open-source SCP client, run by its author on a real site (SCP 6.11.2), sends `x-amz-date`.
/// That list needs nothing of the server but the document's rule, is standard SigV4 (an
/// independent implementation reproduces it, `tests/scp_sigv4_oracle.rs`), and is proven on a
/// real site; the document's `path;` form also relies on the server skipping a header that is
/// not there. Both are accepted by a server that follows the document, as the simulator does.
pub const SIGNED_HEADERS: &str = "x-amz-date";
/// The document's own list, which its signature vectors (§2.1.5) were computed with.
pub const DOCUMENT_SIGNED_HEADERS: &str = "path;x-amz-date";
/// SHA-256 of the empty body.
pub const EMPTY_BODY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Token lifetime when the answer has no readable `expires` (the document says 24 h).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// Bytes of a hex string (either case; an odd length reads as if it had a leading 0, as a
/// big number printed without one does); `None` if it is not hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let padded;
    let t = if text.len() % 2 != 0 {
        padded = format!("0{text}");
        padded.as_bytes()
    } else {
        text.as_bytes()
    };
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    t.chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&k, msg).as_ref().to_vec()
}

/// `X-Amz-Date` of a time: UTC, basic ISO 8601 (`20210104T063141Z`).
pub fn amz_date(t: SystemTime) -> String {
    // "2021-01-04T06:31:41Z" → "20210104T063141Z"
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace(['-', ':'], "")
}

/// What one signature covers.
#[derive(Debug, Clone)]
pub struct SignInput<'a> {
    pub method: &'a str,
    /// The URL path as sent, without the query (the query is never signed).
    pub path: &'a str,
    pub body: &'a [u8],
    pub amz_date: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

/// The canonical request: method, path, empty query, `x-amz-date` as the only canonical header,
/// the signed-header list, and the body hash.
pub fn canonical_request(input: &SignInput) -> String {
    canonical_request_listing(input, SIGNED_HEADERS)
}

/// The canonical request with another signed-header list whose only present header is
/// `x-amz-date` (the document's `path;x-amz-date`, for its vectors).
pub fn canonical_request_listing(input: &SignInput, signed_headers: &str) -> String {
    format!(
        "{}\n{}\n\nx-amz-date:{}\n\n{}\n{}",
        input.method,
        input.path,
        input.amz_date,
        signed_headers,
        sha256_hex(input.body)
    )
}

/// `YYYYMMDD/region/service/aws4_request`.
pub fn credential_scope(input: &SignInput) -> String {
    format!(
        "{}/{}/{}/aws4_request",
        input.amz_date.get(..8).unwrap_or(""),
        input.region,
        input.service
    )
}

pub fn string_to_sign(input: &SignInput) -> String {
    string_to_sign_listing(input, SIGNED_HEADERS)
}

pub fn string_to_sign_listing(input: &SignInput, signed_headers: &str) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        input.amz_date,
        credential_scope(input),
        sha256_hex(canonical_request_listing(input, signed_headers).as_bytes())
    )
}

/// `kSigning` = HMAC chain over date, region, service and `aws4_request`.
pub fn signing_key(secret_key: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret_key}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The hex signature of a request.
pub fn signature(input: &SignInput) -> String {
    signature_listing(input, SIGNED_HEADERS)
}

/// The signature with another signed-header list (see [`canonical_request_listing`]).
pub fn signature_listing(input: &SignInput, signed_headers: &str) -> String {
    let key = signing_key(
        input.secret_key,
        input.amz_date.get(..8).unwrap_or(""),
        input.region,
        input.service,
    );
    hex(&hmac(
        &key,
        string_to_sign_listing(input, signed_headers).as_bytes(),
    ))
}

/// The `Authorization` header value of a request.
pub fn authorization(input: &SignInput) -> String {
    format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={SIGNED_HEADERS}, Signature={}",
        input.access_key,
        credential_scope(input),
        signature(input)
    )
}

/// RSA public-key encryption with PKCS#1 v1.5 padding (type 2) of `plaintext`, under the modulus
/// `n` (hex) and exponent 65537, as the document's sample does; the result is lower-case hex of
/// the modulus' length. The padding bytes come from the system CSPRNG.
pub fn encrypt_password(modulus_hex: &str, plaintext: &[u8]) -> Result<String, String> {
    // The document: "the modulus string ends with \n; remove it". Sites print it either as a
    // real newline or as the two characters `\n`.
    let cleaned = modulus_hex.trim().trim_end_matches("\\n").trim();
    let n_bytes = unhex(cleaned).ok_or("the public key modulus is not hex")?;
    let n = BigUint::from_bytes_be(&n_bytes);
    let k = n.bits().div_ceil(8) as usize;
    if k < 64 {
        return Err(format!(
            "the public key modulus is too short ({} bits)",
            n.bits()
        ));
    }
    if plaintext.len() + 11 > k {
        return Err("the password is too long for the platform's key".into());
    }
    // EM = 0x00 || 0x02 || PS (non-zero random, ≥ 8 bytes) || 0x00 || M
    let mut em = vec![0u8; k];
    em[1] = 2;
    let ps_len = k - 3 - plaintext.len();
    let rng = ring::rand::SystemRandom::new();
    let mut filled = 0;
    let mut buf = [0u8; 64];
    while filled < ps_len {
        rng.fill(&mut buf)
            .map_err(|_| "the system random number generator failed")?;
        for b in buf.iter().filter(|b| **b != 0) {
            if filled == ps_len {
                break;
            }
            em[2 + filled] = *b;
            filled += 1;
        }
    }
    em[2 + ps_len] = 0;
    em[3 + ps_len..].copy_from_slice(plaintext);
    let c = BigUint::from_bytes_be(&em).modpow(&BigUint::from(65537u32), &n);
    let mut out = c.to_bytes_be();
    while out.len() < k {
        out.insert(0, 0);
    }
    Ok(hex(&out))
}

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    code: serde_json::Value,
    #[serde(default)]
    message: Option<String>,
    data: Option<T>,
}

#[derive(Debug, Deserialize)]
struct PublicKey {
    public_key: String,
}

#[derive(Debug, Deserialize)]
struct Access {
    access: AccessInner,
}
#[derive(Debug, Deserialize)]
struct AccessInner {
    token: TokenBody,
}
#[derive(Debug, Deserialize)]
struct TokenBody {
    id: String,
    #[serde(default)]
    expires: Option<String>,
}

fn code_ok(code: &serde_json::Value) -> bool {
    match code {
        serde_json::Value::Null => true,
        serde_json::Value::Number(n) => n.as_i64() == Some(0),
        serde_json::Value::String(s) => s.trim() == "0",
        _ => false,
    }
}

fn login_headers(legacy_cookie: Option<&HeaderValue>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(c) = legacy_cookie {
        h.insert(reqwest::header::COOKIE, c.clone());
    }
    h
}

/// Logs in with the password: public key, encryption, `POST /janus/authenticate`.
pub async fn login(
    client: &ApiClient,
    endpoint: &reqwest::Url,
    username: &str,
    password: &Secret,
    legacy_cookie: Option<&HeaderValue>,
    deadline: Instant,
) -> Result<Token, PollError> {
    let auth_err = |m: String| PollError::new(ErrorReason::Auth, m);
    // 1. The modulus. No cookie on 6.3.70+ (the document warns it may cause a 401).
    let req = ApiRequest {
        api: "public_key",
        scope: SCOPE_PUBLIC_KEY,
        method: Method::GET,
        url: super::api::join(endpoint, PATH_PUBLIC_KEY, &[]),
        headers: login_headers(legacy_cookie),
        body: None,
    };
    let resp = client.send(&req, deadline).await?;
    if resp.status == 403 {
        // The document: 403 while the global public-key limit (1000/min) blocks the endpoint.
        if let Some(l) = client.budgets.get(SCOPE_PUBLIC_KEY) {
            l.pause_until(Instant::now() + super::BAN_PAUSE);
        }
        return Err(PollError::new(
            ErrorReason::Throttled,
            format!("public_key answered 403: the endpoint is blocked for about a minute after too many logins{}", error_summary(&resp.body)),
        ));
    }
    if !(200..300).contains(&resp.status) {
        return Err(auth_err(format!(
            "public_key answered HTTP {}{}",
            resp.status,
            error_summary(&resp.body)
        )));
    }
    let body = crate::json::small("public_key", &resp.body)?;
    let env: Envelope<PublicKey> = serde_json::from_slice(body).map_err(|e| {
        PollError::new(
            ErrorReason::Parse,
            format!("public_key answered with an unexpected body ({e})"),
        )
    })?;
    let modulus = env.data.map(|d| d.public_key).ok_or_else(|| {
        PollError::new(
            ErrorReason::Parse,
            "public_key answered without data.public_key",
        )
    })?;
    let encrypted = encrypt_password(&modulus, password.expose().as_bytes())
        .map_err(|e| auth_err(format!("cannot encrypt the password: {e}")))?;

    // 2. The login.
    let body = serde_json::json!({
        "auth": {"passwordCredentials": {"username": username, "password": encrypted}}
    })
    .to_string()
    .into_bytes();
    let req = ApiRequest {
        api: "authenticate",
        scope: SCOPE_WRITE,
        method: Method::POST,
        url: super::api::join(endpoint, PATH_AUTHENTICATE, &[]),
        headers: login_headers(legacy_cookie),
        body: Some(body),
    };
    let resp = client.send(&req, deadline).await?;
    let env: Option<Envelope<Access>> = crate::json::small("login", &resp.body)
        .ok()
        .and_then(|b| serde_json::from_slice(b).ok());
    let rejected =
        !(200..300).contains(&resp.status) || env.as_ref().is_some_and(|e| !code_ok(&e.code));
    if rejected {
        warn!(target_name = client.target(), user = %username, status = resp.status, "SCP rejected the password login.");
        let message = env.and_then(|e| e.message).filter(|m| !m.is_empty());
        return Err(auth_err(format!(
            "SCP rejected the login of user `{username}` (HTTP {}{}); check auth.username and auth.password",
            resp.status,
            message.map(|m| format!(": {m}")).unwrap_or_else(|| error_summary(&resp.body)),
        )));
    }
    let token = env
        .and_then(|e| e.data)
        .map(|d| d.access.token)
        .ok_or_else(|| {
            PollError::new(
                ErrorReason::Parse,
                "authenticate answered without data.access.token",
            )
        })?;
    issued(client, token, "authenticate", DEFAULT_TOKEN_LIFETIME, "SCP")
}

/// The token of a login's `access.token`, valid until its `expires` (else `default`); an empty
/// id is an `auth` error.
fn issued(
    client: &ApiClient,
    token: TokenBody,
    api: &str,
    default: Duration,
    what: &str,
) -> Result<Token, PollError> {
    if token.id.is_empty() {
        return Err(PollError::new(
            ErrorReason::Auth,
            format!("{api} answered with an empty token id"),
        ));
    }
    let lifetime = token
        .expires
        .as_deref()
        .and_then(lifetime_until)
        .unwrap_or(default);
    info!(
        target_name = client.target(),
        lifetime_seconds = lifetime.as_secs(),
        "Obtained an {what} token."
    );
    Ok(Token {
        value: Secret::new(token.id),
        lifetime,
    })
}

/// Logs a tenant in to the OpenStack API (Keystone v2, plain password in the body as the
/// document sends it, TLS protecting it): `access.token.id`, valid until `access.token.expires`.
pub async fn openstack_login(
    client: &ApiClient,
    endpoint: &reqwest::Url,
    tenant: &OpenStackTenant,
    deadline: Instant,
) -> Result<Token, PollError> {
    let body = serde_json::json!({
        "auth": {
            "tenantName": tenant.tenant,
            "passwordCredentials": {"username": tenant.username, "password": tenant.password.expose()}
        }
    })
    .to_string()
    .into_bytes();
    let req = ApiRequest {
        api: "openstack_token",
        scope: SCOPE_WRITE,
        method: Method::POST,
        url: super::api::join(endpoint, PATH_OPENSTACK_TOKENS, &[]),
        headers: login_headers(None),
        body: Some(body),
    };
    let resp = client.send(&req, deadline).await?;
    if !(200..300).contains(&resp.status) {
        warn!(target_name = client.target(), user = %tenant.username, status = resp.status, "SCP's OpenStack API rejected the tenant login.");
        return Err(PollError::new(
            ErrorReason::Auth,
            format!(
                "the OpenStack API rejected the login of user `{}` of tenant `{}` (HTTP {}{}); check scp.openstack.tenant, username and password (a tenant's account, not an administrator's)",
                tenant.username,
                tenant.tenant,
                resp.status,
                error_summary(&resp.body)
            ),
        ));
    }
    let token = serde_json::from_slice::<Access>(&resp.body)
        .map(|a| a.access.token)
        .map_err(|e| {
            PollError::new(
                ErrorReason::Parse,
                format!("openstack_token answered without access.token ({e})"),
            )
        })?;
    issued(
        client,
        token,
        "openstack_token",
        OPENSTACK_TOKEN_LIFETIME,
        "SCP OpenStack-API",
    )
}

/// Time from now until an ISO 8601 UTC instant like `2021-01-05T06:31:41.000000Z`.
fn lifetime_until(expires: &str) -> Option<Duration> {
    let when =
        humantime::parse_rfc3339_weak(expires.trim().trim_end_matches('Z').split('.').next()?)
            .ok()?;
    when.duration_since(SystemTime::now()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_a() -> SignInput<'static> {
        SignInput {
            method: "GET",
            path: "/janus/20180725/azs",
            body: b"",
            amz_date: "20210104T063141Z",
            access_key: "e96a96326f2841ba8bdf2242f6cb832e",
            secret_key: "68176b3ec9d64394bdfcbe124b3e6078",
            region: "cn-south-1",
            service: "open-api",
        }
    }

    /// Spec §2.1.5 vector A, byte for byte.
    #[test]
    fn vector_a_matches_the_spec() {
        let a = vector_a();
        let doc = DOCUMENT_SIGNED_HEADERS;
        assert_eq!(
            canonical_request_listing(&a, doc),
            "GET\n/janus/20180725/azs\n\nx-amz-date:20210104T063141Z\n\npath;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(canonical_request_listing(&a, doc).as_bytes()),
            "76dea511bf715c8c31cc6aee1af04a77b9e0a99221d8d37fddcdb8b7d930660b"
        );
        assert_eq!(
            string_to_sign_listing(&a, doc),
            "AWS4-HMAC-SHA256\n20210104T063141Z\n20210104/cn-south-1/open-api/aws4_request\n76dea511bf715c8c31cc6aee1af04a77b9e0a99221d8d37fddcdb8b7d930660b"
        );
        assert_eq!(
            hex(&signing_key(a.secret_key, "20210104", a.region, a.service)),
            "7a8bf2bb980eb84a4be40012ed3785210d0f3597ced4e9725b57dbea43965ca6"
        );
        assert_eq!(
            signature_listing(&a, doc),
            "24444496d2a8d263721dc6cdde90991aeb8ee35618ce02b3a84a3d9b12e04a01"
        );
    }

    /// What headroom sends: the same request signed with `x-amz-date` alone.
    #[test]
    fn headroom_signs_x_amz_date_alone() {
        let a = vector_a();
        assert_eq!(
            canonical_request(&a),
            "GET\n/janus/20180725/azs\n\nx-amz-date:20210104T063141Z\n\nx-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(string_to_sign(&a), string_to_sign_listing(&a, "x-amz-date"));
        assert_eq!(
            authorization(&a),
            format!(
                "AWS4-HMAC-SHA256 Credential=e96a96326f2841ba8bdf2242f6cb832e/20210104/cn-south-1/open-api/aws4_request, SignedHeaders=x-amz-date, Signature={}",
                signature_listing(&a, "x-amz-date")
            )
        );
        assert_ne!(
            signature(&a),
            signature_listing(&a, DOCUMENT_SIGNED_HEADERS)
        );
    }

    /// Spec §2.1.5 vector B (a POST body is hashed).
    #[test]
    fn vector_b_matches_the_spec() {
        let body = br#"{"auth": {"passwordCredentials": {"username": "admin", "password": "encrypted_password"}}}"#;
        let b = SignInput {
            method: "POST",
            path: "/janus/authenticate",
            body,
            ..vector_a()
        };
        assert_eq!(
            sha256_hex(body),
            "c2ce6aebe49bdebec6ffd329f8bd32da0e875d573778ec3547537aa1c7a9b07c"
        );
        assert_eq!(
            sha256_hex(canonical_request_listing(&b, DOCUMENT_SIGNED_HEADERS).as_bytes()),
            "b3d8235f870d5f90c5e185013eb62d42b4802268c1d1cfb35e203e738cb5750b"
        );
        assert_eq!(
            signature_listing(&b, DOCUMENT_SIGNED_HEADERS),
            "ca166e80446762125717676aab13bf99af38d55d25dc8d40ecade12099674fff"
        );
    }

    #[test]
    fn amz_date_is_basic_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_609_741_901);
        assert_eq!(amz_date(t), "20210104T063141Z");
    }

    #[test]
    fn password_encryption_is_hex_of_the_modulus_length_with_random_padding() {
        let n = crate::sim::sangfor_scp::RSA_MODULUS_HEX;
        let one = encrypt_password(&format!("{n}\\n"), "Admin123.".as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let two = encrypt_password(&format!("{n}\n"), "Admin123.".as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one.len(), 512, "2048-bit ciphertext as hex");
        assert!(one
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(one, two, "PKCS#1 v1.5 padding is random");
        assert!(encrypt_password("zz", b"x").is_err());
        assert!(encrypt_password("abcd", b"x").is_err());
    }

    #[test]
    fn reads_the_token_expiry() {
        let at = humantime::format_rfc3339_micros(SystemTime::now() + Duration::from_secs(7200))
            .to_string();
        let d = lifetime_until(&at).unwrap_or_default();
        assert!(
            d > Duration::from_secs(7100) && d <= Duration::from_secs(7200),
            "{d:?}"
        );
        assert_eq!(
            lifetime_until("2021-01-05T06:31:41.000000Z"),
            None,
            "in the past"
        );
    }
}
