//! DPoP proofs (RFC 9449): a client proves it holds a key by signing, for each request, a
//! short JWT naming the method and URL (and, at a resource, the access token's hash). Tokens
//! issued against a proof are bound to the key's thumbprint (`cnf.jkt`).
//!
//! A proof must be `typ: dpop+jwt`, signed with ES256, RS256 or PS256 by the public key in its
//! header (RSA of 2048 bits or more, EC on P-256, no private parameters), carry `htm` and
//! `htu` matching the request, an `iat` within [`MAX_AGE`] seconds (and at most [`LEEWAY`]
//! ahead), a `jti` never seen before (recorded in the database, so across instances), `ath`
//! at a resource, and, when nonces are required, a nonce this server gave out recently.
//!
//! Nonces need no storage: one is a keyed hash of the current time window
//! ([`NONCE_WINDOW`] seconds), so every instance makes the same one, and the previous
//! window's is still accepted.

use josekit::jwk::Jwk;
use sea_orm::ConnectionTrait;
use serde_json::{json, Map, Value};

use super::client_keys;
use super::error::{ErrorCode, OAuthError};
use crate::clock::UnixTime;
use crate::crypto::{self, KeyedHasher};
use crate::store::{self, StoreError};

/// `dpop_signing_alg_values_supported`.
pub const ALGS: [&str; 3] = ["ES256", "RS256", "PS256"];
/// The `typ` a proof's header carries.
pub const TYP: &str = "dpop+jwt";
/// The oldest `iat` accepted, in seconds.
pub const MAX_AGE: i64 = 300;
/// How far ahead of this server's clock an `iat` may be.
pub const LEEWAY: i64 = 60;
/// How long one nonce is handed out; it is accepted for up to twice that.
pub const NONCE_WINDOW: i64 = 300;
/// The longest proof read, in bytes.
const MAX_LEN: usize = 8 * 1024;
const MAX_JTI_LEN: usize = 256;

/// Why a proof was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// `invalid_dpop_proof`.
    #[error("{0}")]
    Invalid(String),
    /// `use_dpop_nonce`: the proof needs the nonce this server hands out.
    #[error("{0}")]
    UseNonce(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Refusal> for OAuthError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Invalid(text) => OAuthError::new(ErrorCode::InvalidDpopProof, text),
            Refusal::UseNonce(text) => OAuthError::new(ErrorCode::UseDpopNonce, text),
            Refusal::Store(e) => e.into(),
        }
    }
}

fn invalid(text: impl Into<String>) -> Refusal {
    Refusal::Invalid(text.into())
}

/// The request a proof must match.
pub struct Request<'a> {
    /// The HTTP method.
    pub htm: &'a str,
    /// The URL, without query or fragment.
    pub htu: &'a str,
    /// At a resource: the access token presented with the proof (its hash must be `ath`).
    pub access_token: Option<&'a str>,
}

/// What checking proofs needs from the server.
#[derive(Clone)]
pub struct Checker<'a> {
    pub hasher: &'a KeyedHasher,
    /// Whether proofs must carry a nonce from this server.
    pub require_nonce: bool,
    pub now: UnixTime,
}

impl Checker<'_> {
    /// The nonce to hand out now.
    pub fn nonce(&self) -> String {
        nonce_for(self.hasher, self.now.div_euclid(NONCE_WINDOW))
    }

    /// Checks `proof` for `request`; the thumbprint (`jkt`) of the key it proves.
    pub async fn check(
        &self,
        db: &impl ConnectionTrait,
        proof: &str,
        request: &Request<'_>,
    ) -> Result<String, Refusal> {
        if proof.len() > MAX_LEN || proof.split('.').count() != 3 {
            return Err(invalid("The DPoP proof is not a signed JWT."));
        }
        let header = josekit::jwt::decode_header(proof)
            .map_err(|_| invalid("The DPoP proof's header is not valid."))?;
        let text = |name: &str| header.claim(name).and_then(Value::as_str);
        if text("typ") != Some(TYP) {
            return Err(invalid(format!("The DPoP proof's typ must be {TYP}.")));
        }
        let alg = text("alg").unwrap_or_default();
        if !ALGS.contains(&alg) {
            return Err(invalid(format!(
                "The DPoP proof must be signed with {}, not `{alg}`.",
                ALGS.join(", ")
            )));
        }
        let jwk = header
            .claim("jwk")
            .ok_or_else(|| invalid("The DPoP proof's header has no jwk."))?;
        let key = client_keys::check_key(jwk)
            .map_err(|why| invalid(format!("The DPoP proof's jwk {why}.")))?;
        let claims = verify(&key, alg, proof)?;
        let jkt = thumbprint(&key).ok_or_else(|| invalid("The DPoP proof's jwk is incomplete."))?;
        self.check_claims(&claims, request)?;
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
            .ok_or_else(|| {
                invalid(format!(
                    "The DPoP proof needs a jti of 1 to {MAX_JTI_LEN} characters."
                ))
            })?;
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let jti_hash = self.hasher.hash(&format!("dpop\u{0}{jkt}\u{0}{jti}"));
        if !store::assertions::first_use(db, jti_hash, iat + MAX_AGE + LEEWAY).await? {
            return Err(invalid(
                "This DPoP proof was used before; sign a new one for each request.",
            ));
        }
        Ok(jkt)
    }

    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        request: &Request<'_>,
    ) -> Result<(), Refusal> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        if text("htm") != Some(request.htm) {
            return Err(invalid(format!(
                "The DPoP proof's htm must be {}.",
                request.htm
            )));
        }
        let htu = text("htu").unwrap_or_default();
        let htu = htu.split(['?', '#']).next().unwrap_or_default();
        if htu != request.htu {
            return Err(invalid(format!(
                "The DPoP proof's htu must be {}.",
                request.htu
            )));
        }
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("The DPoP proof needs an iat, a number of seconds."))?;
        if iat > self.now + LEEWAY || iat < self.now - MAX_AGE {
            return Err(invalid(format!(
                "The DPoP proof's iat is too far from this server's time (at most {MAX_AGE} seconds old)."
            )));
        }
        if let Some(token) = request.access_token {
            let ath = crypto::b64url(&crypto::sha256(token.as_bytes()));
            if text("ath") != Some(ath.as_str()) {
                return Err(invalid(
                    "The DPoP proof's ath must be the hash of the access token presented.",
                ));
            }
        }
        if self.require_nonce {
            let window = self.now.div_euclid(NONCE_WINDOW);
            let fresh = text("nonce").is_some_and(|n| {
                [window, window - 1].iter().any(|w| {
                    crypto::constant_time_eq(n.as_bytes(), nonce_for(self.hasher, *w).as_bytes())
                })
            });
            if !fresh {
                return Err(Refusal::UseNonce(
                    "The DPoP proof must carry the nonce given in the DPoP-Nonce header.".into(),
                ));
            }
        }
        Ok(())
    }
}

fn nonce_for(hasher: &KeyedHasher, window: i64) -> String {
    crypto::b64url(&hasher.mac(&[b"dpop-nonce", &window.to_be_bytes()]))
}

/// The claims, when `proof` is signed by `key` with `alg`.
fn verify(key: &Jwk, alg: &str, proof: &str) -> Result<Map<String, Value>, Refusal> {
    let verifier: Box<dyn josekit::jws::JwsVerifier> = match (alg, key.key_type()) {
        ("ES256", "EC") => Box::new(
            josekit::jws::ES256
                .verifier_from_jwk(key)
                .map_err(|_| invalid("The DPoP proof's jwk is not an ES256 key."))?,
        ),
        ("RS256", "RSA") => Box::new(
            josekit::jws::RS256
                .verifier_from_jwk(key)
                .map_err(|_| invalid("The DPoP proof's jwk is not an RS256 key."))?,
        ),
        ("PS256", "RSA") => Box::new(
            josekit::jws::PS256
                .verifier_from_jwk(key)
                .map_err(|_| invalid("The DPoP proof's jwk is not a PS256 key."))?,
        ),
        _ => {
            return Err(invalid(format!(
                "The DPoP proof's jwk is not a key for {alg}."
            )))
        }
    };
    let (payload, _) = josekit::jws::deserialize_compact(proof, &*verifier)
        .map_err(|_| invalid("The DPoP proof's signature does not verify with its jwk."))?;
    serde_json::from_slice(&payload)
        .map_err(|_| invalid("The DPoP proof's payload is not a JSON object."))
}

/// The JWK SHA-256 thumbprint (RFC 7638): the key's required members, in order, hashed.
pub fn thumbprint(key: &Jwk) -> Option<String> {
    let member = |name: &str| key.parameter(name).and_then(Value::as_str);
    let canonical = match key.key_type() {
        "EC" => json!({"crv": member("crv")?, "kty": "EC", "x": member("x")?, "y": member("y")?}),
        "RSA" => json!({"e": member("e")?, "kty": "RSA", "n": member("n")?}),
        _ => return None,
    };
    // serde_json writes object members sorted (no `preserve_order`), without spaces.
    Some(crypto::b64url(&crypto::sha256(
        canonical.to_string().as_bytes(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638() {
        // RFC 7638 section 3.1's example key and thumbprint.
        let key = Jwk::from_bytes(
            br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .unwrap();
        assert_eq!(
            thumbprint(&key).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn nonces_last_two_windows() {
        let hasher = KeyedHasher::new(&[7; 32]).unwrap();
        let at = |now| Checker {
            hasher: &hasher,
            require_nonce: true,
            now,
        };
        let given = at(1000).nonce();
        let claims = |nonce: &str, iat: i64| {
            let mut m = Map::new();
            m.insert("htm".into(), "POST".into());
            m.insert("htu".into(), "https://op/token".into());
            m.insert("iat".into(), iat.into());
            m.insert("nonce".into(), nonce.into());
            m
        };
        let request = Request {
            htm: "POST",
            htu: "https://op/token",
            access_token: None,
        };
        assert!(at(1000)
            .check_claims(&claims(&given, 1000), &request)
            .is_ok());
        let later = 1000 + NONCE_WINDOW;
        assert!(at(later)
            .check_claims(&claims(&given, later), &request)
            .is_ok());
        let much_later = 1000 + 2 * NONCE_WINDOW;
        assert!(matches!(
            at(much_later).check_claims(&claims(&given, much_later), &request),
            Err(Refusal::UseNonce(_))
        ));
        assert!(matches!(
            at(1000).check_claims(&claims("made-up", 1000), &request),
            Err(Refusal::UseNonce(_))
        ));
        assert!(matches!(
            at(1000).check_claims(&claims(&given, 1000 - MAX_AGE - 1), &request),
            Err(Refusal::Invalid(_))
        ));
    }
}
