//! `Authorization: Bearer <api.secret>`, compared in constant time so the answer's timing does
//! not leak how much of a guess was right.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use subtle::ConstantTimeEq;

use crate::service::config::Secret;

/// Whether the request may see data: always when no secret is set.
pub fn allowed(secret: Option<&Secret>, headers: &HeaderMap) -> bool {
    let Some(secret) = secret else {
        return true;
    };
    let Some(given) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
    else {
        return false;
    };
    // ct_eq on slices of different lengths is false without comparing bytes; the length of
    // the secret is not what needs hiding.
    bool::from(given.as_bytes().ct_eq(secret.expose().as_bytes()))
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
        h
    }

    #[test]
    fn only_the_exact_bearer_secret_is_let_through_when_one_is_set() {
        let secret = Secret::new("s3cret-value");
        assert!(allowed(Some(&secret), &with("Bearer s3cret-value")));
        assert!(allowed(Some(&secret), &with("bearer  s3cret-value ")));
        assert!(!allowed(Some(&secret), &with("Bearer s3cret-valu")));
        assert!(!allowed(Some(&secret), &with("Bearer s3cret-value2")));
        assert!(!allowed(Some(&secret), &with("Basic s3cret-value")));
        assert!(!allowed(Some(&secret), &with("s3cret-value")));
        assert!(!allowed(Some(&secret), &HeaderMap::new()));
    }

    #[test]
    fn without_a_secret_every_request_is_let_through() {
        assert!(allowed(None, &HeaderMap::new()));
        assert!(allowed(None, &with("Bearer anything")));
    }
}
