//! The SCP simulator's side of authentication: parsing and checking an AWS4-HMAC-SHA256
//! signature the way document 004 describes the server, and decrypting a password login.
//!
//! Written apart from the client's signer (`platforms::sangfor_scp::auth`), with its own HMAC
//! chain, so the simulator checks a client instead of agreeing with it. As the document says
//! ("any header present except host may be signed"), the signed-header list is the client's
//! own, taken from its `Authorization` header: a listed header that the request does not carry
//! adds nothing (which is how the document's `path;x-amz-date` works), `host` is refused, and
//! `x-amz-date` must be signed. The canonical query is empty, as in the document's signer.

use axum::http::HeaderMap;
use num_bigint::BigUint;
use ring::{digest, hmac};

/// The parts of a received `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, PartialEq, Eq)]
pub struct Signed {
    pub access_key: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    pub region: String,
    pub service: String,
    /// The client's list, as it sent it (`a;b;c`).
    pub signed_headers: String,
    pub signature: String,
}

/// Parses an `Authorization` value; `None` if it is not an AWS4 one.
pub fn parse(value: &str) -> Option<Signed> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256")?.trim();
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed_headers = Some(v.trim()),
            // The document's sample ends the header with `;`.
            "Signature" => signature = Some(v.trim().trim_end_matches(';')),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let signed = Signed {
        access_key: scope.next()?.to_string(),
        date: scope.next()?.to_string(),
        region: scope.next()?.to_string(),
        service: scope.next()?.to_string(),
        signed_headers: signed_headers?.to_string(),
        signature: signature?.to_string(),
    };
    (scope.next()? == "aws4_request" && scope.next().is_none()).then_some(signed)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
        .as_ref()
        .to_vec()
}

/// The signature the request must carry, or why it cannot be valid.
pub fn expected(
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    signed: &Signed,
    secret_key: &str,
) -> Result<String, &'static str> {
    let names: Vec<String> = signed
        .signed_headers
        .split(';')
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    if names.iter().any(|n| n == "host") {
        return Err("host may not be a signed header");
    }
    if !names.iter().any(|n| n == "x-amz-date") {
        return Err("x-amz-date must be signed");
    }
    let mut canonical_headers = String::new();
    for name in &names {
        // A listed header the request does not carry adds nothing (the document's `path`).
        if let Some(v) = headers.get(name.as_str()).and_then(|v| v.to_str().ok()) {
            canonical_headers.push_str(&format!("{name}:{}\n", v.trim()));
        }
    }
    let body_hash = hex(digest::digest(&digest::SHA256, body).as_ref());
    let canonical = format!(
        "{method}\n{path}\n\n{canonical_headers}\n{}\n{body_hash}",
        signed.signed_headers
    );
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or("x-amz-date is missing")?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        signed.date, signed.region, signed.service
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mut key = mac(
        format!("AWS4{secret_key}").as_bytes(),
        signed.date.as_bytes(),
    );
    for part in [
        signed.region.as_str(),
        signed.service.as_str(),
        "aws4_request",
    ] {
        key = mac(&key, part.as_bytes());
    }
    Ok(hex(&mac(&key, to_sign.as_bytes())))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let t = if text.len() % 2 == 1 {
        format!("0{text}")
    } else {
        text.to_string()
    };
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Decrypts a PKCS#1 v1.5 (type 2) password encrypted under the simulator's key.
pub fn decrypt_password(
    modulus_hex: &str,
    private_exponent_hex: &str,
    cipher_hex: &str,
) -> Option<Vec<u8>> {
    let n = BigUint::from_bytes_be(&unhex(modulus_hex)?);
    let d = BigUint::from_bytes_be(&unhex(private_exponent_hex)?);
    let k = n.bits().div_ceil(8) as usize;
    let c = BigUint::from_bytes_be(&unhex(cipher_hex)?);
    if c >= n {
        return None;
    }
    let mut em = c.modpow(&d, &n).to_bytes_be();
    while em.len() < k {
        em.insert(0, 0);
    }
    if em.first() != Some(&0) || em.get(1) != Some(&2) {
        return None;
    }
    let sep = em.iter().skip(2).position(|b| *b == 0)? + 2;
    (sep >= 10).then(|| em[sep + 1..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(date: &str, cookie: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-date",
            HeaderValue::from_str(date).unwrap_or_else(|e| panic!("{e}")),
        );
        if let Some(c) = cookie {
            h.insert(
                "cookie",
                HeaderValue::from_str(c).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        h
    }

    /// The document's vector A (§2.1.5), signed with `path;x-amz-date`, checks out.
    #[test]
    fn the_documents_vector_verifies() {
        let a = parse("AWS4-HMAC-SHA256 Credential=e96a96326f2841ba8bdf2242f6cb832e/20210104/cn-south-1/open-api/aws4_request, SignedHeaders=path;x-amz-date, Signature=24444496d2a8d263721dc6cdde90991aeb8ee35618ce02b3a84a3d9b12e04a01")
            .unwrap_or_else(|| panic!("no parse"));
        let want = expected(
            "GET",
            "/janus/20180725/azs",
            &headers("20210104T063141Z", None),
            b"",
            &a,
            "68176b3ec9d64394bdfcbe124b3e6078",
        );
        assert_eq!(want.as_deref(), Ok(a.signature.as_str()));
    }

    #[test]
    fn the_clients_list_decides_what_is_signed() {
        let s = |list: &str| Signed {
            access_key: "ak".into(),
            date: "20210104".into(),
            region: "r".into(),
            service: "s".into(),
            signed_headers: list.into(),
            signature: String::new(),
        };
        let h = headers("20210104T063141Z", Some("aCMPAuthToken=abc"));
        let sig = |list: &str, h: &HeaderMap| expected("GET", "/p", h, b"", &s(list), "sk");
        // `cookie` is signed when listed and present; its value then matters.
        let other = headers("20210104T063141Z", Some("aCMPAuthToken=xyz"));
        assert_ne!(
            sig("cookie;x-amz-date", &h),
            sig("cookie;x-amz-date", &other)
        );
        assert_eq!(sig("x-amz-date", &h), sig("x-amz-date", &other));
        // An absent listed header adds nothing, but the list itself is signed.
        assert_ne!(sig("path;x-amz-date", &h), sig("x-amz-date", &h));
        assert_eq!(
            sig("host;x-amz-date", &h),
            Err("host may not be a signed header")
        );
        assert_eq!(sig("cookie", &h), Err("x-amz-date must be signed"));
    }

    #[test]
    fn parses_the_documents_trailing_semicolon() {
        let doc = "AWS4-HMAC-SHA256 Credential=be763c9968a143a99e1998ccce7594c7/20210104/cn-east-1/dsp-api/aws4_request, SignedHeaders=path;x-amz-date, Signature=b8701b453ea3c8faaf566fee220c11f2fd9cc4bbdc74b4cc927b9c31b89e8708;";
        let p = parse(doc).unwrap_or_else(|| panic!("no parse"));
        assert_eq!(p.service, "dsp-api");
        assert_eq!(p.signed_headers, "path;x-amz-date");
        assert_eq!(
            p.signature,
            "b8701b453ea3c8faaf566fee220c11f2fd9cc4bbdc74b4cc927b9c31b89e8708"
        );
        assert_eq!(parse("Token abc"), None);
    }

    /// The client's encryption round-trips through the simulator's decryption.
    #[test]
    fn a_password_encrypted_by_the_client_decrypts() {
        use crate::platforms::sangfor_scp::auth::encrypt_password;
        let (n, d) = (
            super::super::sangfor_scp::RSA_MODULUS_HEX,
            super::super::sangfor_scp::RSA_PRIVATE_EXPONENT_HEX,
        );
        let c = encrypt_password(n, b"Admin123.").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            decrypt_password(n, d, &c).as_deref(),
            Some(&b"Admin123."[..])
        );
        assert_eq!(decrypt_password(n, d, "00"), None);
    }
}
