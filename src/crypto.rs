//! Leaf cryptography: randomness, keyed hashes of secrets, codes and tokens, constant-time
//! comparison, and argon2id password hashing on a bounded set of its own threads.

use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

use crate::config::Argon2Config;

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

/// Standard base64 with padding (CSP hashes use it).
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

/// argon2id for user passwords, on `max_concurrent` dedicated threads at a lower scheduling
/// priority. Each thread reuses its argon2 working memory while jobs keep coming and releases
/// it when idle, so the memory spent on hashing is at most `max_concurrent` x `memory_kib`
/// however many logins arrive at once (with the allocator left to it, every thread of a
/// blocking pool keeps its own freed arena), and none at rest. A login flood queues here; the
/// async workers serving discovery, JWKS and tokens never wait for it.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    jobs: mpsc::Sender<Job>,
    /// A hash of a random password with the same parameters, verified against when the
    /// username is unknown so both cases cost the same.
    dummy: Arc<str>,
}

/// Work for a hashing thread, given that thread's reusable argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

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
        let dummy = hash_with(&params, &dummy_password, &mut Vec::new())?;
        let jobs = start_threads(config.max_concurrent, params.block_count())?;
        Ok(Self {
            params,
            jobs,
            dummy: dummy.into(),
        })
    }

    /// Hashes on the current thread (CLI use).
    pub fn hash_blocking(&self, password: &str) -> Result<String, CryptoError> {
        hash_with(&self.params, password, &mut Vec::new())
    }

    /// Hashes on a hashing thread.
    pub async fn hash(&self, password: String) -> Result<String, CryptoError> {
        let params = self.params.clone();
        self.run(move |memory| hash_with(&params, &password, memory))
            .await?
    }

    /// Verifies on a hashing thread. `stored` is `None` for an unknown user: the dummy hash
    /// is checked instead and the answer is `false`.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, CryptoError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.to_string());
        let ok = self
            .run(move |memory| verify_with(&password, &phc, memory))
            .await??;
        Ok(ok && known)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, CryptoError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            // The request gave up (it timed out or its client went away): skip the work.
            if !tx.is_closed() {
                let _ = tx.send(work(memory));
            }
        });
        self.jobs
            .send(job)
            .map_err(|_| CryptoError::HasherStopped)?;
        rx.await.map_err(|_| CryptoError::HasherStopped)
    }
}

/// How long a hashing thread keeps its argon2 memory with nothing to do: a flood reuses it,
/// and an idle server gives it back to the system.
const KEEP_IDLE_MEMORY: Duration = Duration::from_millis(200);

/// The hashing threads' nice value (Linux): under a login flood they take the CPU that is
/// left, and requests that need a core (discovery, tokens) preempt them.
#[cfg(target_os = "linux")]
const HASHING_NICE: i32 = 10;

/// The hashing threads. They end when the last `PasswordHasher` clone is dropped. Each keeps
/// at most `keep_blocks` of argon2 memory between jobs (a stored hash made with more memory
/// gets a buffer for its job only), wiped after every job and released after
/// [`KEEP_IDLE_MEMORY`] without work.
fn start_threads(count: usize, keep_blocks: usize) -> Result<mpsc::Sender<Job>, CryptoError> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..count.max(1) {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("oidcd-argon2-{i}"))
            .spawn(move || {
                lower_priority();
                let mut memory = Vec::new();
                while let Some(job) = next_job(&rx, &mut memory) {
                    // A panicking job loses its own answer, not the thread.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory)));
                    if memory.len() > keep_blocks {
                        memory = Vec::new();
                    } else {
                        // What was derived from the password does not outlive the job.
                        memory.fill(Block::default());
                    }
                }
            })
            .map_err(|e| {
                CryptoError::PasswordHash(format!("cannot start a hashing thread: {e}"))
            })?;
    }
    Ok(tx)
}

/// The next job; `None` once every sender is gone. A thread holding memory waits for work
/// only while it is the one at the queue, and not for long: otherwise it releases the memory
/// first (a thread blocked on the lock behind another would keep it indefinitely).
fn next_job(rx: &Mutex<mpsc::Receiver<Job>>, memory: &mut Vec<Block>) -> Option<Job> {
    if !memory.is_empty() {
        match rx.try_lock() {
            Ok(queue) => match queue.recv_timeout(KEEP_IDLE_MEMORY) {
                Ok(job) => return Some(job),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            },
            Err(std::sync::TryLockError::WouldBlock) => {}
            Err(std::sync::TryLockError::Poisoned(_)) => return None,
        }
        *memory = Vec::new();
    }
    rx.lock().ok()?.recv().ok()
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), HASHING_NICE) {
        tracing::warn!(error = %e, "cannot lower the password-hashing threads' priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// glibc's largest dynamic mmap threshold (64-bit): a block at least this large is always
/// its own mapping, returned to the system when freed. Smaller ones may come from a thread
/// arena that keeps them resident.
const ALWAYS_MAPPED_BYTES: usize = 32 * 1024 * 1024 + 4096;

/// A zeroed argon2 buffer of `blocks`. Its capacity is reserved past the always-mapped size
/// (untouched pages cost no memory), so dropping it really frees it.
fn argon2_memory(blocks: usize) -> Vec<Block> {
    let floor = ALWAYS_MAPPED_BYTES.div_ceil(std::mem::size_of::<Block>());
    let mut memory = Vec::with_capacity(blocks.max(floor));
    memory.resize(blocks, Block::default());
    memory
}

/// The raw argon2 output for `password` and `salt`, computed in `memory` (grown to fit).
fn compute(
    argon: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    memory: &mut Vec<Block>,
) -> Result<Output, CryptoError> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        *memory = argon2_memory(blocks);
    }
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    Output::init_with(len, |out| {
        argon
            .hash_password_into_with_memory(password, salt, out, &mut memory[..])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|e| CryptoError::PasswordHash(e.to_string()))
}

fn hash_with(
    params: &Params,
    password: &str,
    memory: &mut Vec<Block>,
) -> Result<String, CryptoError> {
    let salt_bytes = random_bytes::<16>()?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(password_error)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = compute(&argon, params, password.as_bytes(), &salt_bytes, memory)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(password_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Verifies with the algorithm and parameters recorded in the PHC string, so hashes made
/// under older parameters keep working. The outputs are compared in constant time.
fn verify_with(password: &str, phc: &str, memory: &mut Vec<Block>) -> Result<bool, CryptoError> {
    let parsed = PasswordHash::new(phc).map_err(password_error)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(password_error)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| CryptoError::PasswordHash(e.to_string()))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(password_error)?;
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(password_error)?;
    let argon = Argon2::new(algorithm, version, params.clone());
    let computed = compute(&argon, &params, password.as_bytes(), salt_bytes, memory)?;
    // `Output`'s equality is constant-time.
    Ok(computed == expected)
}

fn password_error(e: argon2::password_hash::Error) -> CryptoError {
    CryptoError::PasswordHash(e.to_string())
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

    #[tokio::test]
    async fn hashes_interoperate_with_the_reference_implementation() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(&cheap()).unwrap();
        let ours = hasher.hash("pw".into()).await.unwrap();
        assert!(Argon2::default()
            .verify_password(b"pw", &PasswordHash::new(&ours).unwrap())
            .is_ok());
        // Made elsewhere, with other parameters: verified with the ones it records.
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let params = Params::new(128, 2, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        assert!(hasher
            .verify("pw".into(), Some(theirs.clone()))
            .await
            .unwrap());
        assert!(!hasher.verify("px".into(), Some(theirs)).await.unwrap());
        assert!(hasher
            .verify("pw".into(), Some("not a hash".into()))
            .await
            .is_err());
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
