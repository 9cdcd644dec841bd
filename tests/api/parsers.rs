//! Property tests for every parser of hand-read input: whatever arrives, they answer (never
//! panic), and what they accept round-trips.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use oidcd::config::Seconds;
use oidcd::http::extract::parse_basic;
use oidcd::keys::{generate, Verifiers};
use oidcd::oauth::params::Params;
use oidcd::oauth::{device, pkce, redirect, scope};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

proptest! {
    #[test]
    fn form_bodies_parse_anything_and_round_trip(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        pairs in proptest::collection::vec(("[a-z_]{1,12}", ".{0,40}"), 0..8),
    ) {
        let _ = Params::parse(&bytes).first_duplicate();
        let encoded: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter())
            .finish();
        let parsed = Params::parse(encoded.as_bytes());
        for (k, v) in &pairs {
            let first = pairs.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v.as_str());
            let expected = first.filter(|v| !v.is_empty());
            prop_assert_eq!(parsed.get(k), expected, "{} = {:?}", k, v);
        }
    }

    #[test]
    fn basic_credentials_parse_anything_and_round_trip(
        raw in ".{0,200}",
        id in ".{1,40}",
        secret in ".{0,60}",
    ) {
        let _ = parse_basic(&raw);
        let _ = parse_basic(&STANDARD.encode(raw.as_bytes()));
        let header = STANDARD.encode(format!("{}:{}", form_encode(&id), form_encode(&secret)));
        prop_assert_eq!(parse_basic(&header).unwrap(), (id, secret));
    }

    #[test]
    fn pkce_verifiers_are_checked_exactly(s in ".{0,140}", verifier in "[A-Za-z0-9._~-]{43,128}", other in "[A-Za-z0-9._~-]{43,128}") {
        let expected = (43..=128).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        prop_assert_eq!(pkce::is_well_formed(&s), expected);
        prop_assert!(pkce::is_well_formed(&verifier));
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        prop_assert!(pkce::verify(pkce::Method::S256, &challenge, &verifier));
        prop_assert_eq!(pkce::verify(pkce::Method::S256, &challenge, &other), other == verifier);
        prop_assert_eq!(pkce::verify(pkce::Method::Plain, &verifier, &other), other == verifier);
    }

    #[test]
    fn redirect_uris_are_validated_without_panicking(s in ".{0,200}", host in "[a-z]{1,12}", path in "[a-z/]{0,20}") {
        if redirect::validate_for_registration(&s).is_ok() {
            let url = url::Url::parse(&s).unwrap();
            prop_assert!(url.fragment().is_none());
            prop_assert!(!["javascript", "data", "file"].contains(&url.scheme()));
        }
        let https = format!("https://{host}.example/{path}");
        prop_assert!(redirect::validate_for_registration(&https).is_ok());
        let plain_http = format!("http://{host}.example/{path}");
        prop_assert!(redirect::validate_for_registration(&plain_http).is_err());
    }

    #[test]
    fn user_codes_normalize_whatever_is_typed(s in ".{0,40}", dashes in proptest::collection::vec(any::<bool>(), 8)) {
        if let Some(code) = device::normalize(&s) {
            prop_assert_eq!(code.len(), device::USER_CODE_LEN);
            prop_assert!(code.bytes().all(|b| device::ALPHABET.contains(&b)));
        }
        let code = device::generate_user_code().unwrap();
        let typed: String = code
            .chars()
            .zip(&dashes)
            .flat_map(|(c, dash)| {
                let c = if *dash { c.to_ascii_lowercase() } else { c };
                if *dash { vec![c, '-'] } else { vec![c] }
            })
            .collect();
        prop_assert_eq!(device::normalize(&typed), Some(code));
    }

    #[test]
    fn scopes_and_durations_parse_anything(s in ".{0,100}", tokens in proptest::collection::vec("[a-z:]{1,10}", 1..6)) {
        let _ = scope::parse(&s);
        let _ = s.parse::<Seconds>();
        let joined = tokens.join(" ");
        let parsed = scope::parse(&joined).unwrap();
        let mut expected: Vec<String> = Vec::new();
        for t in tokens {
            if !expected.contains(&t) {
                expected.push(t);
            }
        }
        prop_assert_eq!(parsed, expected);
    }
}

/// One generated key for every case.
fn published_key() -> &'static (String, Verifiers) {
    static KEY: std::sync::OnceLock<(String, Verifiers)> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let key = generate::generate(2048).unwrap();
        let mut verifiers = Verifiers::default();
        verifiers.insert(&key.kid, &key.public_jwk).unwrap();
        (key.kid, verifiers)
    })
}

proptest! {

    /// Anything presented as a token: garbage, truncated, re-encoded, or with a forged header.
    #[test]
    fn tokens_of_any_shape_are_refused_without_panicking(
        raw in ".{0,300}",
        parts in proptest::collection::vec("[A-Za-z0-9_-]{0,60}", 0..5),
        header in ".{0,80}",
    ) {
        let (kid, verifiers) = published_key();
        prop_assert!(verifiers.verify(&raw).is_err());
        prop_assert!(verifiers.verify(&parts.join(".")).is_err());
        let forged = format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(header.as_bytes()));
        prop_assert!(verifiers.verify(&forged).is_err());
        let none_alg = format!("{}.e30.", URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{kid}"}}"#)));
        prop_assert!(verifiers.verify(&none_alg).is_err());
    }
}
