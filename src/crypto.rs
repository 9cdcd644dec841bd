//! Leaf cryptography primitives: randomness, base64, SHA-256, keyed hashes of secrets, codes
//! and tokens, and constant-time comparison. argon2id password hashing and its threads live
//! in [`crate::password`], which reports its failures as a [`CryptoError`] too.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the system random number generator failed: {0}")]
    Random(#[from] openssl::error::ErrorStack),
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    #[error("the password hashing threads stopped")]
    HasherStopped,
    #[error("invalid key length for HMAC")]
    KeyLength,
}

/// `N` bytes from OpenSSL's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    openssl::rand::rand_bytes(&mut buf)?;
    Ok(buf)
}

/// A fresh 256-bit secret, base64url without padding (43 characters): client secrets,
/// codes, refresh tokens, session ids.
pub fn random_token() -> Result<String, CryptoError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding (JWT segments); `None` when it is not.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Standard base64 with padding (CSP hashes use it).
/// A 256-bit key written as base64url (padding optional); the error says what is wrong.
pub fn decode_key(text: &str) -> Result<[u8; 32], String> {
    let wrong = |why: String| format!("must be 32 bytes in base64url (43 characters); {why}");
    let text = text.trim();
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(text))
        .map_err(|e| wrong(e.to_string()))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| wrong(format!("it decodes to {} bytes", bytes.len())))
}

pub fn b64_standard(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-256 of several byte strings one after the other, without joining them first.
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// HMAC-SHA-256 under a server secret. Secrets, codes and tokens are stored as these hashes:
/// a stolen database alone neither reveals them nor lets anyone test guesses offline.
#[derive(Clone)]
pub struct KeyedHasher {
    mac: HmacSha256,
}

impl std::fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHasher([redacted])")
    }
}

impl KeyedHasher {
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self {
            mac: HmacSha256::new_from_slice(key).map_err(|_| CryptoError::KeyLength)?,
        })
    }

    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        for part in parts {
            // Length-prefix each part so ("ab","c") and ("a","bc") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The stored form of a secret value: base64url of its HMAC.
    pub fn hash(&self, value: &str) -> String {
        b64url(&self.mac(&[value.as_bytes()]))
    }

    /// Checks `presented` against a stored hash in constant time.
    pub fn verify(&self, presented: &str, stored: &str) -> bool {
        constant_time_eq(self.hash(presented).as_bytes(), stored.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hash_is_stable_and_keyed() {
        let a = KeyedHasher::new(b"key-a").unwrap();
        let b = KeyedHasher::new(b"key-b").unwrap();
        assert_eq!(a.hash("x"), a.hash("x"));
        assert_ne!(a.hash("x"), b.hash("x"));
        assert!(a.verify("x", &a.hash("x")));
        assert!(!a.verify("y", &a.hash("x")));
    }
}
