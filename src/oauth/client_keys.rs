//! A client's public keys for `private_key_jwt`: a JWK Set given inline at registration
//! (`jwks`) or fetched from the client's `jwks_uri`, cached per instance and fetched again
//! when an assertion names a key the cached set lacks.
//!
//! Only public keys are accepted: RSA (checked with the `rsa` crate: well formed, a modulus
//! of 2048 bits or more, a sane exponent) and EC on P-256. Signature checks run on OpenSSL
//! through josekit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::Jwk;

use crate::fetch::{FetchError, Fetcher};

/// The most keys one set may hold.
pub const MAX_KEYS: usize = 20;
/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;
/// The most `jwks_uri`s whose keys one instance keeps.
const MAX_CACHED: usize = 10_000;

/// Parameters that only a private key has (RFC 7518 sections 6.2.2 and 6.3.2).
const PRIVATE_PARAMETERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Reads a JWK Set and checks each key; the error says which key is wrong and why.
pub fn parse_set(bytes: &[u8]) -> Result<Vec<Jwk>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("is not JSON: {e}"))?;
    let keys = value
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or("must be a JWK Set: an object with a `keys` array")?;
    if keys.is_empty() {
        return Err("holds no keys".into());
    }
    if keys.len() > MAX_KEYS {
        return Err(format!("holds more than {MAX_KEYS} keys"));
    }
    keys.iter()
        .enumerate()
        .map(|(i, key)| check_key(key).map_err(|why| format!("key {i}: {why}")))
        .collect()
}

/// Reads a key set stored at registration, where [`parse_set`] already checked every key.
pub fn stored_set(text: &str) -> Result<Vec<Jwk>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("is not JSON: {e}"))?;
    value
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or("must be a JWK Set: an object with a `keys` array")?
        .iter()
        .map(|key| {
            key.as_object()
                .ok_or_else(|| "holds a key that is not an object".to_owned())
                .and_then(|map| Jwk::from_map(map.clone()).map_err(|e| e.to_string()))
        })
        .collect()
}

pub fn check_key(value: &serde_json::Value) -> Result<Jwk, String> {
    let map = value.as_object().ok_or("is not a JSON object")?;
    if let Some(private) = PRIVATE_PARAMETERS.iter().find(|p| map.contains_key(**p)) {
        return Err(format!(
            "has the private parameter `{private}`: give public keys only, and keep the \
             private key with the client"
        ));
    }
    let jwk = Jwk::from_map(map.clone()).map_err(|e| format!("is not a JWK: {e}"))?;
    if jwk.key_use().is_some_and(|u| u != "sig") {
        return Err("has `use` other than `sig`".into());
    }
    match jwk.key_type() {
        "RSA" => check_rsa(&jwk)?,
        "EC" if jwk.curve() == Some("P-256") => {
            josekit::jws::ES256
                .verifier_from_jwk(&jwk)
                .map_err(|e| format!("is not a P-256 public key: {e}"))?;
        }
        "EC" => return Err("is an EC key on a curve other than P-256 (ES256)".into()),
        other => {
            return Err(format!(
                "has key type `{other}`; RSA and EC (P-256) are accepted"
            ))
        }
    }
    if let Some(alg) = jwk.algorithm() {
        let fits = match jwk.key_type() {
            "RSA" => matches!(alg, "RS256" | "PS256"),
            _ => alg == "ES256",
        };
        if !fits {
            return Err(format!(
                "has `alg` {alg}, which is not accepted for this key"
            ));
        }
    }
    Ok(jwk)
}

/// The `rsa` crate's checks of a public key (public-key use only), and the modulus size.
fn check_rsa(jwk: &Jwk) -> Result<(), String> {
    let number = |name: &str| -> Result<rsa::BigUint, String> {
        let text = jwk
            .parameter(name)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| format!("lacks `{name}`"))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| format!("has a `{name}` that is not base64url"))?;
        Ok(rsa::BigUint::from_bytes_be(&bytes))
    };
    let (n, e) = (number("n")?, number("e")?);
    let bits = n.bits();
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "is an RSA key of {bits} bits; at least {MIN_RSA_BITS} are required"
        ));
    }
    rsa::RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS)
        .map_err(|e| format!("is not a valid RSA public key: {e}"))?;
    Ok(())
}

struct Cached {
    keys: Arc<Vec<Jwk>>,
    fetched: Instant,
}

/// The keys fetched from clients' `jwks_uri`s, per instance.
pub struct JwksCache {
    fetcher: Fetcher,
    ttl: Duration,
    refetch_interval: Duration,
    entries: Mutex<HashMap<String, Cached>>,
}

/// Why a client's keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("fetching the client's jwks_uri failed: {0}")]
    Fetch(#[from] FetchError),
    #[error("the client's jwks_uri does not hold a valid key set: it {0}")]
    Invalid(String),
}

impl JwksCache {
    pub fn new(fetcher: Fetcher, ttl: Duration, refetch_interval: Duration) -> Self {
        Self {
            fetcher,
            ttl,
            refetch_interval,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The keys at `uri`, from the cache while they are fresh and hold `kid` (when the
    /// assertion names one); fetched otherwise, but for an unknown `kid` at most once per
    /// refetch interval, so assertions naming made-up keys cannot make the server fetch in
    /// a loop.
    pub async fn keys(&self, uri: &str, kid: Option<&str>) -> Result<Arc<Vec<Jwk>>, KeysError> {
        let cached = self.lookup(uri);
        if let Some((keys, age)) = &cached {
            let knows_kid = kid.is_none_or(|kid| keys.iter().any(|k| k.key_id() == Some(kid)));
            if *age < self.ttl && (knows_kid || *age < self.refetch_interval) {
                return Ok(Arc::clone(keys));
            }
        }
        let body = self.fetcher.get_json(uri).await?;
        let keys = Arc::new(parse_set(&body).map_err(KeysError::Invalid)?);
        self.store(uri, Arc::clone(&keys));
        Ok(keys)
    }

    fn lookup(&self, uri: &str) -> Option<(Arc<Vec<Jwk>>, Duration)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(uri)
            .map(|c| (Arc::clone(&c.keys), c.fetched.elapsed()))
    }

    fn store(&self, uri: &str, keys: Arc<Vec<Jwk>>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_CACHED && !entries.contains_key(uri) {
            let ttl = self.ttl;
            entries.retain(|_, c| c.fetched.elapsed() < ttl);
            if entries.len() >= MAX_CACHED {
                entries.clear();
            }
        }
        entries.insert(
            uri.to_owned(),
            Cached {
                keys,
                fetched: Instant::now(),
            },
        );
    }
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa_jwk(bits: u32) -> serde_json::Value {
        let key = openssl::rsa::Rsa::generate(bits).unwrap();
        serde_json::json!({
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(key.n().to_vec()),
            "e": URL_SAFE_NO_PAD.encode(key.e().to_vec()),
        })
    }

    #[test]
    fn public_rsa_and_p256_keys_are_accepted() {
        let ec = josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
            .unwrap()
            .to_jwk_public_key();
        let set = serde_json::json!({ "keys": [rsa_jwk(2048), ec] });
        let keys = parse_set(set.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 2);
    }

    #[test]
    fn weak_private_and_foreign_keys_are_refused() {
        let small = serde_json::json!({ "keys": [rsa_jwk(1024)] });
        let err = parse_set(small.to_string().as_bytes()).unwrap_err();
        assert!(err.contains("1024 bits"), "{err}");

        let private =
            josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
                .unwrap()
                .to_jwk_private_key();
        let set = serde_json::json!({ "keys": [private] });
        let err = parse_set(set.to_string().as_bytes()).unwrap_err();
        assert!(err.contains("private parameter `d`"), "{err}");

        let secret = serde_json::json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0" }] });
        assert!(parse_set(secret.to_string().as_bytes()).is_err());

        let p384 = josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P384)
            .unwrap()
            .to_jwk_public_key();
        let set = serde_json::json!({ "keys": [p384] });
        let err = parse_set(set.to_string().as_bytes()).unwrap_err();
        assert!(err.contains("P-256"), "{err}");

        let mut even = rsa_jwk(2048);
        even["e"] = serde_json::json!("Ag"); // 2
        let set = serde_json::json!({ "keys": [even] });
        let err = parse_set(set.to_string().as_bytes()).unwrap_err();
        assert!(err.contains("not a valid RSA public key"), "{err}");

        assert!(parse_set(b"{\"keys\": []}").is_err());
        assert!(parse_set(b"[]").is_err());
    }
}
