//! The key-encryption key: 32 bytes that never enter the database. It wraps the private
//! signing keys (JWE, dir + A256GCM) and is the root from which the server's keyed-hash
//! secrets are derived.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwe::{self, Dir, JweHeader};

use crate::crypto::{self, KeyedHasher};

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("the key-encryption key {0}")]
    Format(String),
    #[error("cannot read the key-encryption key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the key-encryption key file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no key-encryption key: OIDCD_KEK is unset and {0} does not exist. Set OIDCD_KEK or \
         run this where the server keeps its keys directory (keys_dir); a new key would not \
         decrypt the signing keys the database holds, so only `oidcd serve` on a new database \
         makes one."
    )]
    Missing(PathBuf),
    #[error("key wrapping failed: {0}")]
    Jose(#[from] josekit::JoseError),
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
}

/// The key-encryption key. `Debug` shows only its public id.
#[derive(Clone)]
pub struct Kek {
    bytes: [u8; 32],
    id: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({})", self.id)
    }
}

/// Decodes a KEK written as base64url (padding optional).
pub fn decode(text: &str) -> Result<[u8; 32], KekError> {
    crypto::decode_key(text).map_err(KekError::Format)
}

impl Kek {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        // A short public fingerprint, written into each JWE header so a mismatch can be told
        // apart from corruption.
        let id = crypto::b64url(&crypto::sha256(&bytes)[..8]);
        Self { bytes, id }
    }

    pub fn generate() -> Result<Self, KekError> {
        Ok(Self::from_bytes(crypto::random_bytes::<32>()?))
    }

    /// The KEK as configured: `OIDCD_KEK` when set, else `<keys_dir>/kek`. The file is
    /// created (mode 0600) only when `may_create` is true, that is when no signing key exists
    /// yet that an earlier KEK would have encrypted.
    pub fn load(
        configured: Option<&str>,
        keys_dir: &Path,
        may_create: bool,
    ) -> Result<Self, KekError> {
        if let Some(text) = configured {
            return Ok(Self::from_bytes(decode(text)?));
        }
        let path = keys_dir.join("kek");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Self::from_bytes(decode(&text)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !may_create {
                    return Err(KekError::Missing(path));
                }
                let kek = Self::generate()?;
                write_new_kek_file(keys_dir, &path, &kek.bytes)?;
                tracing::info!(path = %path.display(), "created a new key-encryption key");
                Ok(kek)
            }
            Err(source) => Err(KekError::Read { path, source }),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.bytes)
    }

    /// A subkey for one purpose: HMAC-SHA-256(KEK, label).
    pub fn derive(&self, label: &str) -> Result<KeyedHasher, KekError> {
        let root = KeyedHasher::new(&self.bytes)?;
        Ok(KeyedHasher::new(
            &root.mac(&[b"oidcd/v1", label.as_bytes()]),
        )?)
    }

    /// Encrypts `plaintext` as a compact JWE (dir, A256GCM).
    pub fn wrap(&self, plaintext: &[u8]) -> Result<String, KekError> {
        let mut header = JweHeader::new();
        header.set_content_encryption("A256GCM");
        header.set_key_id(&self.id);
        let encrypter = Dir.encrypter_from_bytes(self.bytes)?;
        Ok(jwe::serialize_compact(plaintext, &header, &encrypter)?)
    }

    /// Decrypts a compact JWE made by [`Kek::wrap`].
    pub fn unwrap(&self, compact: &str) -> Result<Vec<u8>, UnwrapError> {
        let decrypter = Dir
            .decrypter_from_bytes(self.bytes)
            .map_err(|_| UnwrapError::Corrupt)?;
        match jwe::deserialize_compact(compact, &decrypter) {
            Ok((plaintext, _)) => Ok(plaintext),
            Err(_) => {
                let wrapped_by = jwe_key_id(compact);
                match wrapped_by {
                    Some(id) if id != self.id => Err(UnwrapError::WrongKek {
                        expected: id,
                        actual: self.id.clone(),
                    }),
                    _ => Err(UnwrapError::Corrupt),
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnwrapError {
    #[error(
        "the key-encryption key does not match: the signing keys in the database were \
         encrypted under key id {expected}, but the configured key (OIDCD_KEK or keys/kek) has \
         id {actual}"
    )]
    WrongKek { expected: String, actual: String },
    #[error("an encrypted signing key in the database is corrupt or was not made by oidcd")]
    Corrupt,
}

/// Checks that `kek` decrypts every one of `wrapped` (JWEs made by [`Kek::wrap`]).
pub fn check<'a>(kek: &Kek, wrapped: impl IntoIterator<Item = &'a str>) -> Result<(), UnwrapError> {
    for jwe in wrapped {
        kek.unwrap(jwe)?;
    }
    Ok(())
}

fn jwe_key_id(compact: &str) -> Option<String> {
    let header = compact.split('.').next()?;
    let json = URL_SAFE_NO_PAD.decode(header).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&json).ok()?;
    value.get("kid")?.as_str().map(str::to_owned)
}

fn write_new_kek_file(dir: &Path, path: &Path, bytes: &[u8; 32]) -> Result<(), KekError> {
    let create_err = |source| KekError::Create {
        path: path.to_owned(),
        source,
    };
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(create_err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(create_err)?;
        }
        // A directory we made holds nothing that belongs in version control.
        std::fs::write(dir.join(".gitignore"), "*\n").map_err(create_err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(create_err)?;
    writeln!(file, "{}", URL_SAFE_NO_PAD.encode(bytes)).map_err(create_err)?;
    file.sync_all().map_err(create_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trips_and_a_wrong_kek_is_named() {
        let a = Kek::generate().unwrap();
        let b = Kek::generate().unwrap();
        let jwe = a.wrap(b"private").unwrap();
        assert_eq!(a.unwrap(&jwe).unwrap(), b"private");
        assert!(matches!(b.unwrap(&jwe), Err(UnwrapError::WrongKek { .. })));
        assert!(!jwe.contains("private"));
    }

    #[test]
    fn decode_accepts_padded_and_unpadded() {
        let k = Kek::generate().unwrap();
        let text = k.to_base64url();
        assert_eq!(decode(&text).unwrap(), k.bytes);
        assert_eq!(decode(&format!("{text}=")).unwrap(), k.bytes);
        assert!(decode("abc").is_err());
    }
}
