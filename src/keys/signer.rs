//! RS256 signing with the active key and verification against the published keys. Every
//! private-key operation goes through josekit (OpenSSL).

use std::collections::HashMap;

use josekit::jwk::Jwk;
use josekit::jws::alg::rsassa::{RsassaJwsSigner, RsassaJwsVerifier};
use josekit::jws::{JwsHeader, JwsVerifier, RS256};
use josekit::jwt::{self, JwtPayload};

/// The active signing key.
pub struct Signer {
    kid: String,
    signer: RsassaJwsSigner,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.kid)
    }
}

impl Signer {
    pub fn from_der(kid: &str, der: &[u8]) -> Result<Self, josekit::JoseError> {
        Ok(Self {
            kid: kid.to_owned(),
            signer: RS256.signer_from_der(der)?,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `payload` as a JWT with header `{"alg":"RS256","typ":typ,"kid":kid}`.
    pub fn sign(&self, typ: &str, payload: &JwtPayload) -> Result<String, josekit::JoseError> {
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&self.kid);
        jwt::encode_with_signer(payload, &header, &self.signer)
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
