//! Leaf cryptography: randomness, keyed hashes of secrets, codes and tokens, constant-time
//! comparison, and argon2id password hashing on a bounded set of its own threads.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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

/// argon2id for user passwords, on threads of their own in two lanes of `max_concurrent`
/// each (see [`Lanes`]). Each thread reuses its argon2 working memory while jobs keep coming
/// and releases it when idle, so the memory spent on hashing is at most `max_concurrent` x
/// `memory_kib` however many logins arrive at once (twice that while the background lane is
/// starved), and none at rest. A login flood queues here; the async workers serving
/// discovery, JWKS and tokens never wait for it.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    lanes: Arc<Lanes>,
    /// A hash of a random password with the same parameters, verified against when the
    /// username is unknown so both cases cost the same.
    dummy: Arc<str>,
}

impl PasswordHasher {
    pub fn new(config: &Argon2Config) -> Result<Self, CryptoError> {
        Self::with_lanes(config, None, lowest_priority)
    }

    /// As [`Self::new`], with the background lane's stall time (else measured) and the
    /// priority its threads take.
    fn with_lanes(
        config: &Argon2Config,
        stall: Option<Duration>,
        background_priority: fn(),
    ) -> Result<Self, CryptoError> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| CryptoError::PasswordHash(e.to_string()))?;
        let dummy_password = random_token()?;
        let started = Instant::now();
        let dummy = hash_with(&params, &dummy_password, &mut Vec::new())?;
        let stall =
            stall.unwrap_or_else(|| (started.elapsed() * STALL_FACTOR).clamp(MIN_STALL, MAX_STALL));
        let lanes = Lanes::start(
            config.max_concurrent.max(1),
            params.block_count(),
            stall,
            background_priority,
        )?;
        Ok(Self {
            params,
            lanes: Arc::new(lanes),
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

    /// Hashes sent to the fallback lane because the background lane was starved.
    pub fn moved(&self) -> u64 {
        self.lanes.moved.load(Ordering::Relaxed)
    }

    /// Runs `work` on the background lane, and on the fallback lane as well once the
    /// background lane is starved; the first answer wins.
    async fn run<T: Send + 'static>(
        &self,
        work: impl Fn(&mut Vec<Block>) -> T + Send + Sync + 'static,
    ) -> Result<T, CryptoError> {
        let (background_tx, mut background_rx) = oneshot::channel();
        let (fallback_tx, fallback_rx) = oneshot::channel();
        let task = Arc::new(Task {
            state: AtomicU8::new(QUEUED),
            started: AtomicU64::new(0),
            background: Mutex::new(Some(background_tx)),
            fallback: Mutex::new(Some(fallback_tx)),
            work: Mutex::new(Some(Arc::new(work))),
        });
        // However this ends (answered, or given up by a request that timed out or whose
        // client went away), the job left in a queue no longer holds the password.
        let _forget = ForgetWork(task.clone());
        let lanes = &self.lanes;
        if lanes.starved() {
            task.state.store(MOVED, Ordering::Release);
        } else {
            let queued_at = lanes.clock.now();
            lanes
                .background
                .send(task.clone())
                .map_err(|_| CryptoError::HasherStopped)?;
            loop {
                tokio::select! {
                    answer = &mut background_rx => {
                        return answer.map_err(|_| CryptoError::HasherStopped);
                    }
                    () = tokio::time::sleep(lanes.stall / 2) => {}
                }
                if lanes.should_move(&task.state, &task.started, queued_at) {
                    break;
                }
            }
            // Still queued: it leaves the background lane. Running there: it runs again on
            // the fallback lane, and the first answer wins.
            let _ = task
                .state
                .compare_exchange(QUEUED, MOVED, Ordering::AcqRel, Ordering::Acquire);
        }
        lanes.moved.fetch_add(1, Ordering::Relaxed);
        lanes
            .fallback
            .send(task)
            .map_err(|_| CryptoError::HasherStopped)?;
        first_answer(background_rx, fallback_rx).await
    }
}

/// Drops a job's work (and the password it holds) when dropped. A thread already running it
/// keeps its own reference until it is done.
struct ForgetWork<T, W>(Arc<Task<T, W>>);

impl<T, W> Drop for ForgetWork<T, W> {
    fn drop(&mut self) {
        *self.0.work.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// The first answer from either lane; an error only when neither answers.
async fn first_answer<T>(
    mut a: oneshot::Receiver<T>,
    mut b: oneshot::Receiver<T>,
) -> Result<T, CryptoError> {
    let answer = tokio::select! {
        answer = &mut a => match answer {
            Ok(answer) => Ok(answer),
            Err(_) => b.await,
        },
        answer = &mut b => match answer {
            Ok(answer) => Ok(answer),
            Err(_) => a.await,
        },
    };
    answer.map_err(|_| CryptoError::HasherStopped)
}

/// How long a hashing thread keeps its argon2 memory with nothing to do: a flood reuses it,
/// and an idle server gives it back to the system.
const KEEP_IDLE_MEMORY: Duration = Duration::from_millis(200);

/// A background hash running this many times as long as one hash took at startup (within
/// [`MIN_STALL`] and [`MAX_STALL`]) means the background lane is starved.
const STALL_FACTOR: u32 = 8;
const MIN_STALL: Duration = Duration::from_millis(100);
const MAX_STALL: Duration = Duration::from_secs(2);

/// The fallback lane's nice value (Linux): under a login flood it takes the CPU that is left,
/// and requests that need a core preempt it.
#[cfg(target_os = "linux")]
const FALLBACK_NICE: i32 = 10;

/// The hashing threads. A hash starts on the background lane, whose threads run at the
/// lowest priority there is (`SCHED_IDLE` on Linux): they get the CPU time nothing else
/// wants, and a request that needs a core preempts them at once, where a niced thread would
/// keep the core for the rest of its time slice. But that lane gets almost nothing while the
/// cores are busy with other work, and a thread cannot leave `SCHED_IDLE` without privilege.
/// So once one of its hashes has run for `stall` without finishing (or one has waited that
/// long while none of its threads took or finished any), the background lane is starved: its
/// queued hashes move to the fallback lane (nice 10), its running ones run there again (the
/// first answer wins), and new hashes go straight there until the starved ones finish (which
/// the fallback lane's own work can put off until a flood is over). The threads end when the
/// last `PasswordHasher` clone is dropped.
struct Lanes {
    background: mpsc::Sender<Arc<dyn Job>>,
    fallback: mpsc::Sender<Arc<dyn Job>>,
    /// Per background thread: when its current job started (see [`Clock`]), or 0.
    busy_since: Arc<[AtomicU64]>,
    /// When a background thread last took or finished a job.
    progress: Arc<AtomicU64>,
    clock: Clock,
    stall: Duration,
    moved: AtomicU64,
}

impl Lanes {
    fn start(
        count: usize,
        keep_blocks: usize,
        stall: Duration,
        priority: fn(),
    ) -> Result<Self, CryptoError> {
        let clock = Clock(Instant::now());
        let busy_since: Arc<[AtomicU64]> = (0..count).map(|_| AtomicU64::new(0)).collect();
        let progress = Arc::new(AtomicU64::new(clock.now()));
        let background = Lane::Background {
            priority,
            busy_since: busy_since.clone(),
            progress: progress.clone(),
            clock,
        };
        Ok(Self {
            background: start_lane(background, count, keep_blocks)?,
            fallback: start_lane(Lane::Fallback, count, keep_blocks)?,
            busy_since,
            progress,
            clock,
            stall,
            moved: AtomicU64::new(0),
        })
    }

    /// Whether a background thread has been on one hash for longer than `stall`.
    fn starved(&self) -> bool {
        let now = self.clock.now();
        let stall = u64::try_from(self.stall.as_millis()).unwrap_or(u64::MAX);
        self.busy_since.iter().any(|since| {
            let since = since.load(Ordering::Relaxed);
            since != 0 && now.saturating_sub(since) > stall
        })
    }

    /// Whether a job on the background lane should go to the fallback lane: it is still
    /// queued there while the lane is starved, or while no background thread has taken or
    /// finished a job for `stall` since it was queued (the threads were woken for it but never
    /// got a core to take it); or it has run there for longer than `stall`.
    fn should_move(&self, state: &AtomicU8, started: &AtomicU64, queued_at: u64) -> bool {
        let now = self.clock.now();
        let stall = u64::try_from(self.stall.as_millis()).unwrap_or(u64::MAX);
        match state.load(Ordering::Acquire) {
            QUEUED => {
                self.starved()
                    || (now.saturating_sub(queued_at) > stall
                        && now.saturating_sub(self.progress.load(Ordering::Relaxed)) > stall)
            }
            RUNNING => now.saturating_sub(started.load(Ordering::Relaxed)) > stall,
            _ => false,
        }
    }
}

/// Milliseconds since the lanes started, plus one (0 stands for "not busy").
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now(self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }
}

enum Lane {
    /// Marks its threads' slots in `busy_since` while they work, and `progress` whenever one
    /// takes or finishes a job.
    Background {
        /// Sets the calling thread's priority ([`lowest_priority`] outside tests).
        priority: fn(),
        busy_since: Arc<[AtomicU64]>,
        progress: Arc<AtomicU64>,
        clock: Clock,
    },
    Fallback,
}

/// A hash or verification on its way through the lanes.
trait Job: Send + Sync {
    /// Takes the job for a background thread at `now` (see [`Clock`]): false once it has
    /// moved to the fallback lane.
    fn claim(&self, now: u64) -> bool;
    /// Does the work on `side`, given the thread's reusable argon2 memory, unless no one
    /// waits for that side's answer any more or the other side has answered, and answers.
    fn run(&self, side: Side, memory: &mut Vec<Block>);
}

#[derive(Clone, Copy)]
enum Side {
    Background,
    Fallback,
}

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const MOVED: u8 = 2;

struct Task<T, W> {
    state: AtomicU8,
    /// When a background thread took it; set before `state` turns `RUNNING`.
    started: AtomicU64,
    /// Each side answers on a channel of its own, so a thread preempted while answering
    /// never holds up the other side.
    background: Mutex<Option<oneshot::Sender<T>>>,
    fallback: Mutex<Option<oneshot::Sender<T>>>,
    /// Dropped once either side has answered, and once the request stops waiting: a copy of
    /// the job left in the background lane's queue does not keep the password.
    work: Mutex<Option<Arc<W>>>,
}

impl<T: Send, W: Fn(&mut Vec<Block>) -> T + Send + Sync> Job for Task<T, W> {
    fn claim(&self, now: u64) -> bool {
        self.started.store(now, Ordering::Relaxed);
        self.state
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn run(&self, side: Side, memory: &mut Vec<Block>) {
        let reply = match side {
            Side::Background => &self.background,
            Side::Fallback => &self.fallback,
        };
        // The request gave up (it timed out or its client went away), or the other side
        // answered first: skip the work.
        let Some(tx) = reply.lock().ok().and_then(|mut reply| reply.take()) else {
            return;
        };
        let Some(work) = self.work.lock().ok().and_then(|work| work.clone()) else {
            return;
        };
        if tx.is_closed() {
            return;
        }
        // A panicking job loses its own answer, not the thread.
        let answer = std::panic::catch_unwind(AssertUnwindSafe(|| work(memory)));
        if let Ok(answer) = answer {
            if tx.send(answer).is_ok() {
                if let Ok(mut work) = self.work.lock() {
                    *work = None;
                }
            }
        }
    }
}

/// Starts one lane's `count` threads. Each keeps at most `keep_blocks` of argon2 memory
/// between jobs (a stored hash made with more memory gets a buffer for its job only), wiped
/// after every job and released after [`KEEP_IDLE_MEMORY`] without work.
fn start_lane(
    lane: Lane,
    count: usize,
    keep_blocks: usize,
) -> Result<mpsc::Sender<Arc<dyn Job>>, CryptoError> {
    let lane = Arc::new(lane);
    let (tx, rx) = mpsc::channel::<Arc<dyn Job>>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..count {
        let (rx, lane) = (rx.clone(), lane.clone());
        let name = match *lane {
            Lane::Background { .. } => format!("oidcd-argon2-{i}"),
            Lane::Fallback => format!("oidcd-argon2f-{i}"),
        };
        std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let marks = match &*lane {
                    Lane::Background {
                        priority,
                        busy_since,
                        progress,
                        clock,
                    } => {
                        priority();
                        busy_since.get(i).map(|busy| (busy, &**progress, *clock))
                    }
                    Lane::Fallback => {
                        lower_priority();
                        None
                    }
                };
                let mut memory = Vec::new();
                while let Some(job) = next_job(&rx, &mut memory) {
                    if let Some((busy, progress, clock)) = marks {
                        // Marked busy before the job turns running, so a thread preempted in
                        // between still counts as starved.
                        let now = clock.now();
                        progress.store(now, Ordering::Relaxed);
                        busy.store(now, Ordering::Relaxed);
                        if job.claim(now) {
                            job.run(Side::Background, &mut memory);
                        }
                        busy.store(0, Ordering::Relaxed);
                        progress.store(clock.now(), Ordering::Relaxed);
                    } else {
                        job.run(Side::Fallback, &mut memory);
                    }
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
fn next_job(
    rx: &Mutex<mpsc::Receiver<Arc<dyn Job>>>,
    memory: &mut Vec<Block>,
) -> Option<Arc<dyn Job>> {
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

/// The background lane's priority: `SCHED_IDLE`, or the fallback lane's where that fails.
#[cfg(target_os = "linux")]
fn lowest_priority() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
        // The crate sets the policy, then the nice value, which fails in a process started
        // niced: the thread is in `SCHED_IDLE` all the same.
        if thread_priority::thread_schedule_policy().is_ok_and(|policy| policy == idle) {
            return;
        }
        tracing::warn!(error = ?e, "cannot move a password-hashing thread to SCHED_IDLE");
        lower_priority();
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), FALLBACK_NICE) {
        tracing::warn!(error = %e, "cannot lower the password-hashing threads' priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lowest_priority() {}

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

    fn on_background_thread() -> bool {
        std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with("oidcd-argon2-"))
    }

    /// Holds a hashing thread until `flag` is set.
    fn wait_for(flag: &std::sync::atomic::AtomicBool) {
        while !flag.load(Ordering::Relaxed) {
            std::thread::park_timeout(Duration::from_millis(5));
        }
    }

    /// Blocks the only background thread until the returned flag is set; the receiver
    /// stands for the request waiting on it.
    fn block_background(
        hasher: &PasswordHasher,
    ) -> (Arc<std::sync::atomic::AtomicBool>, oneshot::Receiver<()>) {
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, rx) = oneshot::channel::<()>();
        let blocker = Arc::new(Task {
            state: AtomicU8::new(QUEUED),
            started: AtomicU64::new(0),
            background: Mutex::new(Some(tx)),
            fallback: Mutex::new(None),
            work: Mutex::new(Some(Arc::new({
                let released = released.clone();
                move |_: &mut Vec<Block>| wait_for(&released)
            }))),
        });
        hasher.lanes.background.send(blocker).unwrap();
        (released, rx)
    }

    #[tokio::test]
    async fn a_hash_queued_behind_a_stalled_background_thread_moves_to_the_fallback_lane() {
        let hasher = PasswordHasher::new(&Argon2Config {
            max_concurrent: 1,
            ..cheap()
        })
        .unwrap();
        let (released, _waiting) = block_background(&hasher);
        let limit = Duration::from_secs(10);
        let phc = tokio::time::timeout(limit, hasher.hash("pw".into()))
            .await
            .unwrap()
            .unwrap();
        let verified = tokio::time::timeout(limit, hasher.verify("pw".into(), Some(phc)))
            .await
            .unwrap();
        assert!(verified.unwrap());
        assert_eq!(hasher.moved(), 2);
        released.store(true, Ordering::Relaxed);
    }

    /// One background thread at normal priority, stalled after `stall`: for the tests about
    /// what a stall does, as a `SCHED_IDLE` thread may get no core at all for longer than that
    /// while other tests keep both busy.
    fn one_normal_thread_stalling_after(stall: Duration) -> PasswordHasher {
        let config = Argon2Config {
            max_concurrent: 1,
            ..cheap()
        };
        PasswordHasher::with_lanes(&config, Some(stall), || {}).unwrap()
    }

    #[tokio::test]
    async fn a_hash_stalled_on_a_background_thread_runs_again_on_the_fallback_lane() {
        let hasher = one_normal_thread_stalling_after(Duration::from_secs(1));
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ran_on_background = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stalled = hasher.run({
            let (released, ran_on_background) = (released.clone(), ran_on_background.clone());
            move |_| {
                if on_background_thread() {
                    ran_on_background.store(true, Ordering::Relaxed);
                    wait_for(&released);
                    "background"
                } else {
                    "fallback"
                }
            }
        });
        let answer = tokio::time::timeout(Duration::from_secs(10), stalled)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answer, "fallback");
        assert!(ran_on_background.load(Ordering::Relaxed));
        assert_eq!(hasher.moved(), 1);
        released.store(true, Ordering::Relaxed);
        // Once the stalled thread is free again, hashes run there.
        let free = async {
            while hasher.lanes.starved() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), free)
            .await
            .expect("the stalled thread is free again");
        assert!(hasher.run(|_| on_background_thread()).await.unwrap());
        assert_eq!(hasher.moved(), 1);
    }

    /// A login that stops waiting (its request timed out, its client went away) takes the
    /// password out of the job it left queued behind a busy thread.
    #[tokio::test]
    async fn a_hash_given_up_leaves_no_password_in_the_queue() {
        let hasher = one_normal_thread_stalling_after(Duration::from_secs(60));
        let (released, _waiting) = block_background(&hasher);
        let password = Arc::new(String::from("correct horse"));
        let held = password.clone();
        let waited = Duration::from_millis(100);
        let given_up = tokio::time::timeout(waited, hasher.run(move |_| held.len())).await;
        assert!(given_up.is_err(), "queued behind the blocked thread");
        assert_eq!(
            Arc::strong_count(&password),
            1,
            "the queued job let go of it"
        );
        released.store(true, Ordering::Relaxed);
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
