//! Vendor text made safe to log and to show on the status page: credentials a platform echoes
//! back in an error message are cut out, control characters removed and the length bounded.
//!
//! A platform's error message is the only outside text headroom repeats. Some echo the request
//! (`Authorization: Bearer …`, a cookie, the token), so every poll error passes through
//! [`redact`] when it is made (`PollError::new` calls it): whatever code builds one,
//! no log line or page can carry what the vendor sent back.

/// The most of a message kept (a vendor's stack trace is not an error summary).
pub const MAX_MESSAGE: usize = 500;

const REDACTED: &str = "[redacted]";

/// Words after which the next token is a credential when a `:` or `=` follows them (compared
/// ignoring case; `"password": "x"`, `Cookie: x`, `token=x`). Without one they are words
/// ("token rejected").
///
/// `token` alone is not one: headroom names its token requests so (`token: invalid peer
/// certificate`); a token value standing alone is long enough to be cut as one.
const KEYS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "x-auth-token",
    "x-subject-token",
    "x-apig-appcode",
    "x-hcso-appcode",
    "password",
    "passwd",
    "secret",
    "secret_key",
    "access_key",
    "acmpauthtoken",
    "appcode",
];

/// Authorization schemes: the next token is the credential (`Bearer x`, `Basic x`).
const SCHEMES: &[&str] = &["bearer", "basic"];

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '=' | '.' | '~')
}

#[derive(Clone, Copy, PartialEq)]
enum Next {
    Keep,
    /// After a key word: the next token is cut if a `:` or `=` comes first.
    Separator,
    Cut,
}

/// `text` with credentials replaced by `[redacted]`: the token after a credential word and
/// `:`/`=` (`Authorization: x`, `password=x`, `"token": "x"`) or after an authorization scheme
/// (`Bearer x`), and any run that looks like a token by itself (32 or more letters and digits,
/// or 40 or more token characters: hex, JWT, Fernet and base64 tokens; UUIDs and host ids are
/// shorter). Control characters become spaces; the result is at most [`MAX_MESSAGE`] bytes.
pub fn redact(text: &str) -> String {
    let chars: Vec<char> = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = String::with_capacity(text.len().min(MAX_MESSAGE + 16));
    let mut i = 0;
    let mut next = Next::Keep;
    while i < chars.len() {
        let c = chars[i];
        if is_token_char(c) {
            let start = i;
            while i < chars.len() && is_token_char(chars[i]) && chars[i] != '=' {
                i += 1;
            }
            if i == start {
                // A `=` of its own: a separator.
                out.push(c);
                i += 1;
                if next == Next::Separator {
                    next = Next::Cut;
                }
                continue;
            }
            let word: String = chars[start..i].iter().collect();
            let lower = word.to_ascii_lowercase();
            let key = |list: &[&str]| {
                list.iter()
                    .any(|k| lower == *k || lower.ends_with(&format!("_{k}")))
            };
            if key(SCHEMES) {
                out.push_str(&word);
                next = Next::Cut;
            } else if key(KEYS) {
                out.push_str(&word);
                next = Next::Separator;
            } else if next == Next::Cut
                || longest_alnum_run(&chars[start..i]) >= 32
                || word.len() >= 40
            {
                out.push_str(REDACTED);
                // The rest of a cut value (`a=b`) goes too.
                while i < chars.len() && is_token_char(chars[i]) {
                    i += 1;
                }
                next = Next::Keep;
            } else {
                out.push_str(&word);
                next = Next::Keep;
            }
            continue;
        }
        match c {
            ':' if next == Next::Separator => next = Next::Cut,
            ' ' | '"' | '\'' => {}
            _ => next = Next::Keep,
        }
        out.push(c);
        i += 1;
    }
    if out.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("...");
    }
    out
}

fn longest_alnum_run(chars: &[char]) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in chars {
        if c.is_ascii_alphanumeric() {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 500 that echoed `Authorization: Bearer …` once put the token in the log and on `/`.
    #[test]
    fn echoed_credentials_are_cut() {
        let m = redact("upstream said: Authorization: Bearer abc.def-ghi and Cookie: aCMPAuthToken=s3cr3t; bye");
        assert!(!m.contains("abc.def-ghi") && !m.contains("s3cr3t"), "{m}");
        assert!(
            m.contains("upstream said: Authorization: Bearer [redacted] and"),
            "{m}"
        );
        let m = redact(r#"{"password": "hunter22", "user": "reader"}"#);
        assert!(!m.contains("hunter22") && m.contains("reader"), "{m}");
        let m = redact("X-Auth-Token: gAAAAABl2w; password=ostok0123");
        assert!(!m.contains("gAAAAABl2w") && !m.contains("ostok0123"), "{m}");
    }

    #[test]
    fn tokens_standing_alone_are_cut_and_ids_kept() {
        let m = redact("invalid token scptok0123456789abcdef0123456789 for host-6c92bf58b580 in 466c3ea6-2537-4de1-b294-6fd96d8b89a4");
        assert!(!m.contains("scptok0123456789"), "{m}");
        assert!(
            m.contains("host-6c92bf58b580") && m.contains("466c3ea6-2537-4de1-b294-6fd96d8b89a4"),
            "{m}"
        );
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert!(!redact(&format!("bad {jwt}")).contains("eyJ"));
    }

    #[test]
    fn ordinary_messages_are_kept_and_long_ones_bounded() {
        for m in [
            "cpu-capacity answered HTTP 500 (APIGW.0101: The API does not exist); check the endpoint",
            "hosts: token rejected (HTTP 401) right after a new login",
            "the OpenStack API rejected the login of user `ops-reader` of tenant `ops`; check scp.openstack.tenant, username and password",
            "Keystone token request to /v3/auth/tokens answered HTTP 500; check auth.token_url",
        ] {
            assert_eq!(redact(m), m);
        }
        assert_eq!(redact("a\nb\u{7}c"), "a b c");
        let long = "word ".repeat(500);
        assert!(redact(&long).len() <= MAX_MESSAGE + 3);
    }
}
