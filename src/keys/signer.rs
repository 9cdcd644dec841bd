//! RS256 signing with the active key and verification against the published keys. Every
//! private-key operation goes through OpenSSL (verification through josekit).
//!
//! Signing builds the compact JWS itself: the header is encoded once per key and `typ`, the
//! claims are serialised straight from the caller's struct, and the signature is one
//! `EVP_PKEY_sign` of the SHA-256 digest (RSASSA-PKCS1-v1_5, as RS256 is defined in RFC 7518
//! 3.3) on a context that each thread keeps for the active key. A context made per call
//! costs a provider lookup and an init each time; one key object shared by every thread
//! makes all but its first thread use OpenSSL's locked blinding.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use josekit::jwk::Jwk;
use josekit::jws::alg::rsassa::RsassaJwsVerifier;
use josekit::jws::{JwsHeader, JwsVerifier, RS256};
use josekit::jwt::{self, JwtPayload};
use openssl::md::Md;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::crypto;

/// The `typ` header values this provider signs with, and their encoded headers' slots.
const TYPES: [&str; 3] = ["at+jwt", "JWT", "logout+jwt"];

/// Numbers each signer, so a thread's kept context is known to belong to it.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's signing context: the id of the signer it was made for, and the context.
    static CONTEXT: RefCell<Option<(u64, PkeyCtx<Private>)>> = const { RefCell::new(None) };
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("RS256 signing failed: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    #[error("the claims did not serialise: {0}")]
    Json(#[from] serde_json::Error),
    #[error("`{0}` is not a token type this provider signs")]
    UnknownType(String),
}

/// The active signing key.
pub struct Signer {
    id: u64,
    kid: String,
    /// The private key (DER), from which each signing thread makes its own key object.
    der: Zeroizing<Vec<u8>>,
    /// `base64url(header)` for each of `TYPES`.
    headers: [String; 3],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.kid)
    }
}

impl Signer {
    /// The signer for the RSA private key `der` (PKCS#8 or PKCS#1), published as `kid`.
    pub fn from_der(kid: &str, der: &[u8]) -> Result<Self, SignError> {
        let signer = Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            kid: kid.to_owned(),
            der: Zeroizing::new(der.to_vec()),
            headers: TYPES.map(|typ| {
                let header = serde_json::json!({"alg": "RS256", "typ": typ, "kid": kid});
                crypto::b64url(header.to_string().as_bytes())
            }),
        };
        // A key OpenSSL cannot use fails here, when the keys load, not on the first token.
        signer.context()?;
        Ok(signer)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` as a JWT with header `{"alg":"RS256","typ":typ,"kid":kid}`; `typ` is
    /// one of `at+jwt`, `JWT` and `logout+jwt`.
    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> Result<String, SignError> {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = TYPES
            .iter()
            .position(|t| *t == typ)
            .and_then(|i| self.headers.get(i))
            .ok_or_else(|| SignError::UnknownType(typ.to_owned()))?;
        let payload = serde_json::to_vec(claims)?;
        // Header, payload and a 2048-bit signature (342 characters), with the two dots.
        let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 348);
        token.push_str(header);
        token.push('.');
        engine.encode_string(&payload, &mut token);
        let signature = self.signature(token.as_bytes())?;
        token.push('.');
        engine.encode_string(&signature, &mut token);
        Ok(token)
    }

    /// The RS256 signature of `input`, on this thread's context for this key.
    fn signature(&self, input: &[u8]) -> Result<Vec<u8>, SignError> {
        let digest = openssl::sha::sha256(input);
        CONTEXT.with(|slot| {
            let mut slot = slot.borrow_mut();
            let ctx = match &mut *slot {
                Some((id, ctx)) if *id == self.id => ctx,
                other => &mut other.insert((self.id, self.context()?)).1,
            };
            let mut signature = Vec::with_capacity(256);
            ctx.sign_to_vec(&digest, &mut signature)?;
            Ok(signature)
        })
    }

    /// A fresh key object and a context set up to sign SHA-256 digests with it.
    fn context(&self) -> Result<PkeyCtx<Private>, SignError> {
        let key = PKey::private_key_from_der(&self.der)?;
        let mut ctx = PkeyCtx::new(&key)?;
        ctx.sign_init()?;
        ctx.set_rsa_padding(Padding::PKCS1)?;
        ctx.set_signature_md(Md::sha256())?;
        Ok(ctx)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the token names no key or a key that is not published")]
    UnknownKey,
    #[error("the token is malformed or its signature is invalid")]
    Invalid,
}

/// Verifiers for every published key, by `kid`.
#[derive(Default)]
pub struct Verifiers(HashMap<String, RsassaJwsVerifier>);

impl Verifiers {
    pub fn insert(&mut self, kid: &str, jwk: &Jwk) -> Result<(), josekit::JoseError> {
        self.0.insert(kid.to_owned(), RS256.verifier_from_jwk(jwk)?);
        Ok(())
    }

    /// Checks the signature of a compact JWT and returns its claims and header. Claims such
    /// as `exp` and `iss` are the caller's to check.
    pub fn verify(&self, token: &str) -> Result<(JwtPayload, JwsHeader), VerifyError> {
        let header = jwt::decode_header(token).map_err(|_| VerifyError::Invalid)?;
        let kid = header
            .claim("kid")
            .and_then(|v| v.as_str())
            .ok_or(VerifyError::UnknownKey)?;
        let verifier = self.0.get(kid).ok_or(VerifyError::UnknownKey)?;
        jwt::decode_with_verifier(token, verifier as &dyn JwsVerifier)
            .map_err(|_| VerifyError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate::generate;

    fn verifiers(keys: &[&crate::keys::generate::NewKey]) -> Verifiers {
        let mut v = Verifiers::default();
        for key in keys {
            v.insert(&key.kid, &key.public_jwk).unwrap();
        }
        v
    }

    #[test]
    fn tokens_verify_with_josekit_and_carry_the_header() {
        let key = generate(2048).unwrap();
        let signer = Signer::from_der(&key.kid, &key.private_der).unwrap();
        let claims = serde_json::json!({"sub": "someone", "n": 1, "s": "a\"b"});
        for typ in TYPES {
            let token = signer.sign(typ, &claims).unwrap();
            let (payload, header) = verifiers(&[&key]).verify(&token).unwrap();
            assert_eq!(header.algorithm(), Some("RS256"));
            assert_eq!(header.token_type(), Some(typ));
            assert_eq!(header.key_id(), Some(key.kid.as_str()));
            assert_eq!(
                serde_json::Value::Object(payload.claims_set().clone()),
                claims
            );
        }
        assert!(matches!(
            signer.sign("other", &claims),
            Err(SignError::UnknownType(_))
        ));
    }

    #[test]
    fn a_thread_that_signed_with_an_old_key_signs_with_the_new_one() {
        let (old, new) = (generate(2048).unwrap(), generate(2048).unwrap());
        let first = Signer::from_der(&old.kid, &old.private_der).unwrap();
        let second = Signer::from_der(&new.kid, &new.private_der).unwrap();
        let claims = serde_json::json!({"sub": "someone"});
        let tokens = [
            first.sign("JWT", &claims).unwrap(),
            second.sign("JWT", &claims).unwrap(),
            first.sign("JWT", &claims).unwrap(),
        ];
        std::thread::scope(|s| {
            s.spawn(|| {
                let token = second.sign("JWT", &claims).unwrap();
                verifiers(&[&new]).verify(&token).unwrap();
            });
        });
        let only_old = verifiers(&[&old]);
        let only_new = verifiers(&[&new]);
        only_old.verify(&tokens[0]).unwrap();
        only_new.verify(&tokens[1]).unwrap();
        only_old.verify(&tokens[2]).unwrap();
        // The second token names the new key: it fails where that key is unknown, and a
        // signature by the old key under the new key's name fails too.
        assert!(matches!(
            only_old.verify(&tokens[1]),
            Err(VerifyError::UnknownKey)
        ));
        let mut forged: Vec<&str> = tokens[1].split('.').collect();
        let old_signature = tokens[0].rsplit('.').next().unwrap();
        forged[2] = old_signature;
        assert!(matches!(
            only_new.verify(&forged.join(".")),
            Err(VerifyError::Invalid)
        ));
    }

    #[test]
    fn a_key_openssl_cannot_read_is_refused_when_loaded() {
        assert!(matches!(
            Signer::from_der("k", b"not a key"),
            Err(SignError::OpenSsl(_))
        ));
    }
}
