//! Cross-checks the Sangfor SCP signer against an independent SigV4 implementation (the
//! `aws-sigv4` crate) on random requests, keys, scopes and times.
//!
//! `aws-sigv4` cannot list a signed header that is absent (the document's `path` pseudo-entry),
//! so it is configured for the same request otherwise: `x-amz-date` as the only signed header
//! (`host` excluded), no query, single percent-encoding, no path normalisation. Both must agree
//! byte for byte on the signature; the `path;x-amz-date` form itself is pinned by the spec's
//! vectors in `src/platforms/sangfor_scp/auth.rs`.

use std::borrow::Cow;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use headroom::platforms::sangfor_scp::auth::{amz_date, signature_listing, SignInput};

fn word(rng: &mut fastrand::Rng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| char::from(alphabet[rng.usize(..alphabet.len())]))
        .collect()
}

#[test]
fn signatures_agree_with_aws_sigv4_on_random_requests() {
    let mut rng = fastrand::Rng::with_seed(20210104);
    let hexdigits = b"0123456789abcdef";
    let path_chars = b"abcdefghijklmnopqrstuvwxyz0123456789-_";
    for case in 0..500 {
        let method = ["GET", "POST", "PUT", "DELETE"][rng.usize(..4)];
        let segments = rng.usize(1..6);
        let path: String = (0..segments)
            .map(|_| {
                let n = rng.usize(1..12);
                format!("/{}", word(&mut rng, path_chars, n))
            })
            .collect();
        let body: Vec<u8> = if method == "GET" {
            Vec::new()
        } else {
            (0..rng.usize(0..300)).map(|_| rng.u8(..)).collect()
        };
        let access_key = word(&mut rng, hexdigits, 32);
        let secret_key = word(&mut rng, hexdigits, 32);
        let region = ["cn-south-1", "cn-east-1", "RegionOne"][rng.usize(..3)].to_string();
        let service = ["open-api", "sdk-api", "dsp-api", "sdk"][rng.usize(..4)].to_string();
        // Whole seconds between 2001 and 2099.
        let time = UNIX_EPOCH + Duration::from_secs(rng.u64(978_307_200..4_102_444_800));

        let date = amz_date(time);
        let ours = signature_listing(
            &SignInput {
                method,
                path: &path,
                body: &body,
                amz_date: &date,
                access_key: &access_key,
                secret_key: &secret_key,
                region: &region,
                service: &service,
            },
            "x-amz-date",
        );

        let identity = Credentials::new(&access_key, &secret_key, None, None, "oracle").into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.excluded_headers = Some(vec![Cow::Borrowed("host")]);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name(&service)
            .time(time)
            .settings(settings)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .into();
        let url = format!("https://198.51.100.1{path}");
        let request = SignableRequest::new(
            method,
            url.as_str(),
            std::iter::empty(),
            SignableBody::Bytes(&body),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (instructions, theirs) = sign(request, &params)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_parts();
        assert_eq!(ours, theirs, "case {case}: {method} {path} at {date}");
        // Same X-Amz-Date, in the basic format the document's server expects.
        let their_date = instructions
            .headers()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-date"))
            .map(|(_, v)| v.to_string());
        assert_eq!(their_date.as_deref(), Some(date.as_str()));
    }
}
