//! `tls_server_config` of the web configuration file: the exporter-toolkit keys read into a
//! rustls server configuration, with every key rustls cannot honour refused by name rather than
//! silently ignored.
//!
//! The toolkit's keys are Go's `crypto/tls` names. What maps, and the decisions where Go offers
//! more than rustls (each refused with a message that says what to use instead):
//!
//! | toolkit key | here |
//! |---|---|
//! | `cert_file`/`cert`, `key_file`/`key` | PEM chain and key (PKCS#8, PKCS#1 or SEC1); one of each pair |
//! | `client_auth_type` | `NoClientCert`; `VerifyClientCertIfGiven`; `RequireAndVerifyClientCert`. `RequestClientCert` and `RequireAnyClientCert` accept a certificate without verifying it, which authenticates nobody: refused |
//! | `client_ca_file`/`client_ca` | the roots client certificates must chain to |
//! | `client_allowed_sans` | exact match of a DNS, IP or URI SAN of the client's certificate, checked in the handshake. E-mail SANs are not readable through webpki: an entry with `@` is refused |
//! | `min_version`, `max_version` | `TLS12`, `TLS13` (rustls has no TLS 1.0 or 1.1) |
//! | `cipher_suites` | the six ECDHE AEAD suites of TLS 1.2; TLS 1.3 names are accepted and, as in Go, change nothing (every TLS 1.3 suite stays on); CBC, RSA-key-exchange and 3DES suites are refused |
//! | `prefer_server_cipher_suites` | rustls `ignore_client_order` (default true, as in the toolkit) |
//! | `curve_preferences` | `X25519`, `CurveP256`, `CurveP384`, in the given order; `CurveP521` and hybrid post-quantum groups are not in rustls's ring provider: refused |

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::ring as provider;
use rustls::crypto::SupportedKxGroup;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme, SupportedCipherSuite};

use crate::config::tree::{self, Ctx, Obj};

/// Largest PEM file read (a certificate chain or a CA bundle is a few KiB; a CA bundle of a
/// whole distribution is about 200 KiB).
const MAX_PEM_BYTES: u64 = 4 << 20;

/// A TLS server configuration and how it treats client certificates.
#[derive(Debug, Clone)]
pub struct TlsServer {
    pub config: Arc<rustls::ServerConfig>,
    /// The toolkit's `client_auth_type`, for the log.
    pub client_auth: &'static str,
    /// A digest of who may connect (client authentication mode, client CAs, allowed SANs): a
    /// reload that changes it ends connections made under the old rule (see `server::guard`);
    /// a new server certificate alone does not.
    pub client_policy: [u8; 32],
}

/// Reads `tls_server_config`. `None` when TLS is off: the section is absent, or names neither a
/// certificate nor a key (as in the toolkit, which then serves plain HTTP). Problems go to `ctx`.
pub fn read(tls: &mut Obj<'_>, base: &Path, ctx: &mut Ctx) -> Option<TlsServer> {
    let path = tls.path().to_string();
    let at = |key: &str| format!("{path}.{key}");
    let cert = pem_source(tls, "cert", "cert_file", base, ctx);
    let key = pem_source(tls, "key", "key_file", base, ctx);
    let client_ca = pem_source(tls, "client_ca", "client_ca_file", base, ctx);
    let client_auth = tls.opt_str("client_auth_type", ctx);
    let allowed_sans = tls
        .opt_str_list("client_allowed_sans", ctx)
        .unwrap_or_default();
    let min_version = tls.opt_str("min_version", ctx);
    let max_version = tls.opt_str("max_version", ctx);
    let cipher_names = tls.opt_str_list("cipher_suites", ctx);
    let prefer_server = tls
        .opt_bool("prefer_server_cipher_suites", ctx)
        .unwrap_or(true);
    let curve_names = tls.opt_str_list("curve_preferences", ctx);

    // Versions, suites and curves are checked whatever else is wrong, so one run of
    // check-config lists every problem.
    let versions = versions(min_version.as_deref(), max_version.as_deref(), &path, ctx);
    let mut crypto = provider::default_provider();
    let mut choices_ok = versions.is_some();
    if let Some(names) = cipher_names {
        match cipher_suites(&names, &at("cipher_suites"), ctx) {
            Some(c) => crypto.cipher_suites = c,
            None => choices_ok = false,
        }
    }
    if let Some(names) = curve_names {
        match curves(&names, &at("curve_preferences"), ctx) {
            Some(c) => crypto.kx_groups = c,
            None => choices_ok = false,
        }
    }
    let crypto = Arc::new(crypto);
    // A file that cannot be read has said so already.
    if [&cert, &key, &client_ca]
        .iter()
        .any(|s| matches!(s, Source::Unreadable))
    {
        return None;
    }
    let (cert, key, client_ca) = (cert.given(), key.given(), client_ca.given());

    let (cert, key) = match (cert, key) {
        (None, None) => {
            if client_auth.is_some() || client_ca.is_some() {
                ctx.problems.add(
                    &at("cert_file"),
                    "client authentication needs TLS: give the server's cert_file and key_file",
                );
            }
            return None;
        }
        (Some(c), Some(k)) => (c, k),
        (Some(_), None) => {
            ctx.problems.add(
                &at("key_file"),
                "missing: cert_file is given, so is its key (key_file or key)",
            );
            return None;
        }
        (None, Some(_)) => {
            ctx.problems.add(
                &at("cert_file"),
                "missing: key_file is given, so is its certificate (cert_file or cert)",
            );
            return None;
        }
    };
    let chain: Vec<CertificateDer<'static>> =
        match CertificateDer::pem_slice_iter(&cert.bytes).collect::<Result<Vec<_>, _>>() {
            Ok(c) if !c.is_empty() => c,
            Ok(_) => {
                ctx.problems.add(
                    &cert.field,
                    format!("{}: no PEM certificate in it", cert.origin),
                );
                return None;
            }
            Err(e) => {
                ctx.problems.add(
                    &cert.field,
                    format!("{}: not a PEM certificate chain: {e}", cert.origin),
                );
                return None;
            }
        };
    // The key's bytes never reach a message: only where it came from and what is wrong.
    let key_der = match PrivateKeyDer::from_pem_slice(&key.bytes) {
        Ok(k) => k,
        Err(_) => {
            ctx.problems.add(
                &key.field,
                format!(
                    "{}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it",
                    key.origin
                ),
            );
            return None;
        }
    };

    let versions = versions?;
    if !choices_ok {
        return None;
    }

    let mut mode_name = "NoClientCert";
    let mut policy = ring::digest::Context::new(&ring::digest::SHA256);
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match client_auth
        .as_deref()
        .unwrap_or("NoClientCert")
    {
        "NoClientCert" => None,
        mode @ ("VerifyClientCertIfGiven" | "RequireAndVerifyClientCert") => {
            let Some(ca) = client_ca else {
                ctx.problems.add(
                    &at("client_ca_file"),
                    format!(
                        "missing: client_auth_type {mode} verifies client certificates against it"
                    ),
                );
                return None;
            };
            policy.update(&ca.bytes);
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&ca.bytes) {
                match c
                    .map_err(|e| e.to_string())
                    .and_then(|c| roots.add(c).map_err(|e| e.to_string()))
                {
                    Ok(()) => {}
                    Err(e) => {
                        ctx.problems.add(
                            &ca.field,
                            format!("{}: not a PEM CA certificate: {e}", ca.origin),
                        );
                        return None;
                    }
                }
            }
            if roots.is_empty() {
                ctx.problems.add(
                    &ca.field,
                    format!("{}: no PEM certificate in it", ca.origin),
                );
                return None;
            }
            let mut builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&crypto));
            if mode == "VerifyClientCertIfGiven" {
                builder = builder.allow_unauthenticated();
                mode_name = "VerifyClientCertIfGiven";
            } else {
                mode_name = "RequireAndVerifyClientCert";
            }
            match builder.build() {
                Ok(v) => Some(v),
                Err(e) => {
                    ctx.problems.add(
                        &at("client_ca_file"),
                        format!("cannot verify clients with it: {e}"),
                    );
                    return None;
                }
            }
        }
        mode @ ("RequestClientCert" | "RequireAnyClientCert") => {
            ctx.problems.add(
                &at("client_auth_type"),
                format!(
                    "{mode} accepts a client certificate without verifying it, which authenticates \
                     nobody; use RequireAndVerifyClientCert (or VerifyClientCertIfGiven) with client_ca_file"
                ),
            );
            return None;
        }
        other => {
            ctx.problems.add(
                &at("client_auth_type"),
                format!("`{other}` is not one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"),
            );
            return None;
        }
    };
    let verifier = match (verifier, allowed_sans.is_empty()) {
        (v, true) => v,
        (None, false) => {
            ctx.problems.add(
                &at("client_allowed_sans"),
                "checks client certificates, so client_auth_type must verify them (RequireAndVerifyClientCert)",
            );
            return None;
        }
        (Some(inner), false) => {
            let allowed = allowed_sans_of(&allowed_sans, &at("client_allowed_sans"), ctx)?;
            Some(Arc::new(SanCheck { inner, allowed }) as Arc<dyn ClientCertVerifier>)
        }
    };

    let builder = match rustls::ServerConfig::builder_with_provider(crypto)
        .with_protocol_versions(&versions)
    {
        Ok(b) => b,
        Err(e) => {
            ctx.problems.add(
                &path,
                format!(
                    "no cipher suite of the chosen ones works with the chosen TLS versions: {e}"
                ),
            );
            return None;
        }
    };
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut config = match builder.with_single_cert(chain, key_der) {
        Ok(c) => c,
        Err(e) => {
            ctx.problems.add(
                &key.field,
                format!(
                    "the key does not fit the certificate ({}): {e}",
                    cert.origin
                ),
            );
            return None;
        }
    };
    config.ignore_client_order = prefer_server;
    // headroom serves HTTP/1.1 (what Prometheus scrapes with); offering only it keeps a client
    // from choosing HTTP/2 and failing.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    policy.update(mode_name.as_bytes());
    for san in &allowed_sans {
        policy.update(&(san.len() as u64).to_be_bytes());
        policy.update(san.as_bytes());
    }
    let mut client_policy = [0u8; 32];
    client_policy.copy_from_slice(policy.finish().as_ref());
    Some(TlsServer {
        config: Arc::new(config),
        client_auth: mode_name,
        client_policy,
    })
}

/// PEM bytes from an inline key or a file key, with the field and origin for messages.
struct Pem {
    bytes: Vec<u8>,
    field: String,
    origin: String,
}

/// What a pair of keys (`cert` / `cert_file`) gave.
enum Source {
    Absent,
    Given(Pem),
    /// Named but unreadable, or both keys given: the problem is already recorded.
    Unreadable,
}

impl Source {
    fn given(self) -> Option<Pem> {
        match self {
            Source::Given(p) => Some(p),
            _ => None,
        }
    }
}

fn pem_source(
    obj: &mut Obj<'_>,
    inline: &'static str,
    file: &'static str,
    base: &Path,
    ctx: &mut Ctx,
) -> Source {
    let inline_value = obj.opt_str(inline, ctx).filter(|s| !s.trim().is_empty());
    let file_value = obj.opt_str(file, ctx).filter(|s| !s.trim().is_empty());
    match (inline_value, file_value) {
        (Some(_), Some(_)) => {
            ctx.problems.add(
                &obj.key_path(inline),
                format!("give either `{inline}` or `{file}`, not both"),
            );
            Source::Unreadable
        }
        (Some(text), None) => Source::Given(Pem {
            bytes: text.into_bytes(),
            field: obj.key_path(inline),
            origin: format!("the inline `{inline}`"),
        }),
        (None, Some(name)) => {
            let path = base.join(&name);
            let field = obj.key_path(file);
            match tree::read_bounded(&path, MAX_PEM_BYTES) {
                Ok(bytes) => Source::Given(Pem {
                    bytes,
                    field,
                    origin: path.display().to_string(),
                }),
                Err(e) => {
                    ctx.problems
                        .add(&field, format!("cannot read {}: {e}", path.display()));
                    Source::Unreadable
                }
            }
        }
        (None, None) => Source::Absent,
    }
}

fn version(name: &str) -> Result<&'static rustls::SupportedProtocolVersion, String> {
    match name {
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS10" | "TLS11" => Err(format!("{name} is not offered (rustls speaks TLS 1.2 and 1.3 only; both older versions are broken); use TLS12")),
        other => Err(format!("`{other}` is not a TLS version; use TLS12 or TLS13")),
    }
}

fn versions(
    min: Option<&str>,
    max: Option<&str>,
    path: &str,
    ctx: &mut Ctx,
) -> Option<Vec<&'static rustls::SupportedProtocolVersion>> {
    let mut ok = true;
    let mut pick = |key: &str, name: Option<&str>, default: &'static str| match version(
        name.unwrap_or(default),
    ) {
        Ok(v) => Some(v),
        Err(e) => {
            ctx.problems.add(&format!("{path}.{key}"), e);
            ok = false;
            None
        }
    };
    let lo = pick("min_version", min, "TLS12");
    let hi = pick("max_version", max, "TLS13");
    let (lo, hi) = (lo?, hi?);
    let all = [&rustls::version::TLS12, &rustls::version::TLS13];
    let rank = |v: &rustls::SupportedProtocolVersion| {
        all.iter().position(|a| a.version == v.version).unwrap_or(0)
    };
    let chosen: Vec<_> = all
        .into_iter()
        .filter(|v| rank(v) >= rank(lo) && rank(v) <= rank(hi))
        .collect();
    if chosen.is_empty() || !ok {
        ctx.problems
            .add(&format!("{path}.min_version"), "is above max_version");
        return None;
    }
    Some(chosen)
}

fn cipher_suites(
    names: &[String],
    field: &str,
    ctx: &mut Ctx,
) -> Option<Vec<SupportedCipherSuite>> {
    use provider::cipher_suite as cs;
    // TLS 1.3 suites are always on, as in Go (whose cipher_suites only covers TLS 1.2).
    let mut out: Vec<SupportedCipherSuite> = vec![
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS13_AES_128_GCM_SHA256,
        cs::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    let mut bad = false;
    for (i, name) in names.iter().enumerate() {
        let suite = match name.as_str() {
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => {
                cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            }
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => {
                cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            }
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
            | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
                cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            }
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"
            | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
                cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
            }
            "TLS_AES_128_GCM_SHA256"
            | "TLS_AES_256_GCM_SHA384"
            | "TLS_CHACHA20_POLY1305_SHA256" => continue,
            other => {
                ctx.problems.add(
                    &format!("{field}[{i}]"),
                    format!(
                        "`{other}` is not offered (rustls has no CBC, RSA key exchange or 3DES suites); \
                         choose among TLS_ECDHE_{{ECDSA,RSA}}_WITH_{{AES_128_GCM_SHA256,AES_256_GCM_SHA384,CHACHA20_POLY1305}}"
                    ),
                );
                bad = true;
                continue;
            }
        };
        if !out.iter().any(|s| s.suite() == suite.suite()) {
            out.push(suite);
        }
    }
    (!bad).then_some(out)
}

fn curves(
    names: &[String],
    field: &str,
    ctx: &mut Ctx,
) -> Option<Vec<&'static dyn SupportedKxGroup>> {
    use provider::kx_group as kx;
    let mut out: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    let mut bad = false;
    for (i, name) in names.iter().enumerate() {
        let group = match name.as_str() {
            "X25519" => kx::X25519,
            "CurveP256" => kx::SECP256R1,
            "CurveP384" => kx::SECP384R1,
            other => {
                ctx.problems.add(
                    &format!("{field}[{i}]"),
                    format!("`{other}` is not offered (rustls's ring provider has X25519, CurveP256 and CurveP384)"),
                );
                bad = true;
                continue;
            }
        };
        if !out.iter().any(|g| g.name() == group.name()) {
            out.push(group);
        }
    }
    if out.is_empty() && !bad {
        ctx.problems.add(
            field,
            "is empty: give at least one curve, or leave the key out",
        );
        bad = true;
    }
    (!bad).then_some(out)
}

/// One allowed SAN of `client_allowed_sans`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum San {
    Ip(ServerName<'static>),
    Dns(String),
    Uri(String),
}

fn allowed_sans_of(names: &[String], field: &str, ctx: &mut Ctx) -> Option<Vec<San>> {
    let mut out = Vec::new();
    let mut bad = false;
    for (i, name) in names.iter().enumerate() {
        let name = name.trim();
        if name.contains('@') {
            ctx.problems.add(&format!("{field}[{i}]"), format!("`{name}`: e-mail SANs cannot be checked here; use the certificate's DNS, IP or URI SAN"));
            bad = true;
        } else if let Ok(ip) = name.parse::<std::net::IpAddr>() {
            out.push(San::Ip(ServerName::IpAddress(ip.into())));
        } else if name.contains("://") || name.starts_with("urn:") {
            out.push(San::Uri(name.to_string()));
        } else if name.is_empty() {
            ctx.problems.add(&format!("{field}[{i}]"), "is empty");
            bad = true;
        } else {
            out.push(San::Dns(name.to_ascii_lowercase()));
        }
    }
    (!bad).then_some(out)
}

/// A verifier that, after the inner one accepts a client certificate, also requires one of its
/// SANs to be exactly one of `allowed` (the toolkit's `client_allowed_sans`). A certificate
/// that fails fails the handshake, as in Go.
#[derive(Debug)]
struct SanCheck {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<San>,
}

impl SanCheck {
    fn matches(&self, end_entity: &CertificateDer<'_>) -> bool {
        let Ok(cert) = webpki::EndEntityCert::try_from(end_entity) else {
            return false;
        };
        self.allowed.iter().any(|san| match san {
            San::Ip(ip) => cert.verify_is_valid_for_subject_name(ip).is_ok(),
            San::Dns(name) => cert.valid_dns_names().any(|d| d.eq_ignore_ascii_case(name)),
            San::Uri(uri) => cert.valid_uri_names().any(|u| u == uri),
        })
    }
}

impl ClientCertVerifier for SanCheck {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if self.matches(end_entity) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
