//! RFC 7517 key set; RFC 7638 thumbprints as kids; RS256 signatures checked with OpenSSL
//! directly, independently of the JOSE library that made them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::Verifier;
use sha2::{Digest, Sha256};

use crate::helpers::{kids, Backend, TestApp};
use crate::on_both_databases;

on_both_databases!(
    jwks_publishes_two_public_rs256_keys,
    a_token_from_the_signer_verifies_against_the_served_jwks,
);

const PRIVATE_MEMBERS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];

async fn jwks_publishes_two_public_rs256_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app.client.get(app.url("/jwks.json")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cache.starts_with("public, max-age="), "{cache}");
    let jwks: serde_json::Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "an active and a next key");
    let ids = kids(&jwks);
    assert_ne!(ids[0], ids[1]);
    for key in keys {
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "RS256");
        for member in PRIVATE_MEMBERS {
            assert!(
                key.get(member).is_none(),
                "private member {member} published"
            );
        }
        // The kid is the RFC 7638 thumbprint of the key.
        let canonical = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            key["e"].as_str().unwrap(),
            key["n"].as_str().unwrap()
        );
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        assert_eq!(key["kid"], thumbprint.as_str());
        // 2048-bit modulus.
        let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
    }
}

/// Verifies a compact RS256 JWS with OpenSSL against the JWK with the token's kid.
pub fn verify_with_jwks(token: &str, jwks: &serde_json::Value) -> serde_json::Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    let kid = header["kid"].as_str().expect("the header names a kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("the kid is published");
    let component = |name: &str| {
        BigNum::from_slice(&URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap()).unwrap()
    };
    let rsa = Rsa::from_public_components(component("n"), component("e")).unwrap();
    let key = PKey::from_rsa(rsa).unwrap();
    let mut verifier = Verifier::new(MessageDigest::sha256(), &key).unwrap();
    verifier
        .update(format!("{}.{}", parts[0], parts[1]).as_bytes())
        .unwrap();
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    assert!(
        verifier.verify(&signature).unwrap(),
        "signature does not verify"
    );
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

async fn a_token_from_the_signer_verifies_against_the_served_jwks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let payload = serde_json::json!({"sub": "someone", "iss": app.address});

    let keys = app.state.keys.current();
    let token = keys.signer().sign("JWT", &payload).unwrap();

    let jwks = app.get_json("/jwks.json").await;
    let claims = verify_with_jwks(&token, &jwks);
    assert_eq!(claims["sub"], "someone");
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], keys.signer().kid());
    assert_eq!(header["typ"], "JWT");
    // The signing key is the active one, and the next one is published beside it.
    assert!(kids(&jwks).contains(&keys.signer().kid().to_owned()));
}
