//! argon2id password hashing on a bounded set of its own threads. [`PasswordHasher`] is what
//! callers use; `lanes` holds the threads, their queues and their stopwatch, and `argon2id`
//! computes and verifies the hashes themselves.

mod argon2id;
mod lanes;

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use argon2::{Block, Params};
use tokio::sync::oneshot;

use self::argon2id::{hash_with, verify_with};
use self::lanes::{lowest_priority, Lanes, Task, MOVED, QUEUED};
use crate::config::Argon2Config;
use crate::crypto::{random_token, CryptoError};

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
            let queued_at = lanes.stopwatch.now();
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

/// A background hash running this many times as long as one hash took at startup (within
/// [`MIN_STALL`] and [`MAX_STALL`]) means the background lane is starved.
const STALL_FACTOR: u32 = 8;
const MIN_STALL: Duration = Duration::from_millis(100);
const MAX_STALL: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHash, SaltString};
    use argon2::{Algorithm, Argon2, Version};

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
}
