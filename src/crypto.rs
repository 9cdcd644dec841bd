//! Leaf cryptography: randomness, keyed hashes of secrets, codes and tokens, constant-time
//! comparison, and argon2id password hashing off the async workers behind a bound.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::config::Argon2Config;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the system random number generator failed: {0}")]
    Random(#[from] openssl::error::ErrorStack),
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    #[error("the password hashing task did not finish: {0}")]
    Join(#[from] tokio::task::JoinError),
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

/// Standard base64 with padding (CSP hashes use it).
pub fn b64_standard(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
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

/// argon2id for user passwords, computed on the blocking pool with at most
/// `max_concurrent` hashes at a time, so a login flood cannot starve other requests or
/// exhaust memory.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password with the same parameters, verified against when the
    /// username is unknown so both cases cost the same.
    dummy: Arc<str>,
}

impl PasswordHasher {
    pub fn new(config: &Argon2Config) -> Result<Self, CryptoError> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| CryptoError::PasswordHash(e.to_string()))?;
        let dummy_password = random_token()?;
        let dummy = hash_with(&params, &dummy_password)?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(config.max_concurrent)),
            dummy: dummy.into(),
        })
    }

    /// Hashes on the current thread (CLI use).
    pub fn hash_blocking(&self, password: &str) -> Result<String, CryptoError> {
        hash_with(&self.params, password)
    }

    /// Hashes on the blocking pool behind the concurrency bound.
    pub async fn hash(&self, password: String) -> Result<String, CryptoError> {
        let _permit = self.permits.acquire().await;
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || hash_with(&params, &password)).await?
    }

    /// Verifies on the blocking pool behind the concurrency bound. `stored` is `None` for an
    /// unknown user: the dummy hash is checked instead and the answer is `false`.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, CryptoError> {
        let _permit = self.permits.acquire().await;
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.to_string());
        let ok = tokio::task::spawn_blocking(move || verify_with(&password, &phc)).await??;
        Ok(ok && known)
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_with(params: &Params, password: &str) -> Result<String, CryptoError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| CryptoError::PasswordHash(e.to_string()))?;
    argon2(params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::PasswordHash(e.to_string()))
}

/// Verifies with the parameters recorded in the PHC string, so hashes made under older
/// parameters keep working.
fn verify_with(password: &str, phc: &str) -> Result<bool, CryptoError> {
    let parsed = PasswordHash::new(phc).map_err(|e| CryptoError::PasswordHash(e.to_string()))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Config {
        Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent: 2,
        }
    }

    #[tokio::test]
    async fn a_password_verifies_and_a_wrong_one_does_not() {
        let hasher = PasswordHasher::new(&cheap()).unwrap();
        let phc = hasher.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(hasher
            .verify("correct horse".into(), Some(phc.clone()))
            .await
            .unwrap());
        assert!(!hasher.verify("wrong".into(), Some(phc)).await.unwrap());
        assert!(!hasher.verify("anything".into(), None).await.unwrap());
    }

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
