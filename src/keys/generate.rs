//! RSA key generation. It runs through josekit (OpenSSL) rather than the pure-Rust `rsa`
//! crate: OpenSSL is already linked for every signature, its generator is several times
//! faster and constant-time, and one library then owns all private-key material.

use josekit::jwk::{Jwk, KeyPair as _};
use josekit::jws::RS256;

use crate::crypto;

pub const ALG: &str = "RS256";

/// A freshly generated key: its `kid`, the public JWK (kid, use, alg set) and the private key
/// as PKCS#8 DER, to be encrypted before it is stored.
pub struct NewKey {
    pub kid: String,
    pub public_jwk: Jwk,
    pub private_der: Vec<u8>,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewKey({})", self.kid)
    }
}

/// Generates an RSA key of `bits`. CPU-heavy: call it from the blocking pool.
pub fn generate(bits: u32) -> Result<NewKey, josekit::JoseError> {
    let pair = RS256.generate_key_pair(bits)?;
    let mut public_jwk = pair.to_jwk_public_key();
    let kid = thumbprint(&public_jwk);
    public_jwk.set_key_id(&kid);
    public_jwk.set_key_use("sig");
    public_jwk.set_algorithm(ALG);
    Ok(NewKey {
        kid,
        public_jwk,
        private_der: pair.to_der_private_key(),
    })
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key: a `kid` that any
/// party can recompute from the key itself.
pub fn thumbprint(jwk: &Jwk) -> String {
    let member = |name: &str| {
        jwk.parameter(name)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    // Members in lexicographic order, no whitespace (RFC 7638 section 3).
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        member("e"),
        member("n")
    );
    crypto::b64url(&crypto::sha256(canonical.as_bytes()))
}
