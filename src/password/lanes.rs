//! The hashing threads behind [`PasswordHasher`](super::PasswordHasher): two lanes of
//! `max_concurrent` threads each, the queues that feed them, the jobs they run, the priorities
//! they take, and the [`Stopwatch`] that tells when the background lane is starved.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Block;
use tokio::sync::oneshot;

use crate::crypto::CryptoError;

/// How long a hashing thread keeps its argon2 memory with nothing to do: a flood reuses it,
/// and an idle server gives it back to the system.
const KEEP_IDLE_MEMORY: Duration = Duration::from_millis(200);

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
pub(super) struct Lanes {
    pub(super) background: mpsc::Sender<Arc<dyn Job>>,
    pub(super) fallback: mpsc::Sender<Arc<dyn Job>>,
    /// Per background thread: when its current job started (see [`Stopwatch`]), or 0.
    busy_since: Arc<[AtomicU64]>,
    /// When a background thread last took or finished a job.
    progress: Arc<AtomicU64>,
    pub(super) stopwatch: Stopwatch,
    pub(super) stall: Duration,
    pub(super) moved: AtomicU64,
}

impl Lanes {
    pub(super) fn start(
        count: usize,
        keep_blocks: usize,
        stall: Duration,
        priority: fn(),
    ) -> Result<Self, CryptoError> {
        let stopwatch = Stopwatch(Instant::now());
        let busy_since: Arc<[AtomicU64]> = (0..count).map(|_| AtomicU64::new(0)).collect();
        let progress = Arc::new(AtomicU64::new(stopwatch.now()));
        let background = Lane::Background {
            priority,
            busy_since: busy_since.clone(),
            progress: progress.clone(),
            stopwatch,
        };
        Ok(Self {
            background: start_lane(background, count, keep_blocks)?,
            fallback: start_lane(Lane::Fallback, count, keep_blocks)?,
            busy_since,
            progress,
            stopwatch,
            stall,
            moved: AtomicU64::new(0),
        })
    }

    /// Whether a background thread has been on one hash for longer than `stall`.
    pub(super) fn starved(&self) -> bool {
        let now = self.stopwatch.now();
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
    pub(super) fn should_move(
        &self,
        state: &AtomicU8,
        started: &AtomicU64,
        queued_at: u64,
    ) -> bool {
        let now = self.stopwatch.now();
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

/// Milliseconds since the lanes started, plus one (0 stands for "not busy"). Not the crate's
/// [`Clock`](crate::clock::Clock): it only times how long hashes wait and run here.
#[derive(Clone, Copy)]
pub(super) struct Stopwatch(Instant);

impl Stopwatch {
    pub(super) fn now(self) -> u64 {
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
        stopwatch: Stopwatch,
    },
    Fallback,
}

/// A hash or verification on its way through the lanes.
pub(super) trait Job: Send + Sync {
    /// Takes the job for a background thread at `now` (see [`Stopwatch`]): false once it has
    /// moved to the fallback lane.
    fn claim(&self, now: u64) -> bool;
    /// Does the work on `side`, given the thread's reusable argon2 memory, unless no one
    /// waits for that side's answer any more or the other side has answered, and answers.
    fn run(&self, side: Side, memory: &mut Vec<Block>);
}

#[derive(Clone, Copy)]
pub(super) enum Side {
    Background,
    Fallback,
}

pub(super) const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
pub(super) const MOVED: u8 = 2;

pub(super) struct Task<T, W> {
    pub(super) state: AtomicU8,
    /// When a background thread took it; set before `state` turns `RUNNING`.
    pub(super) started: AtomicU64,
    /// Each side answers on a channel of its own, so a thread preempted while answering
    /// never holds up the other side.
    pub(super) background: Mutex<Option<oneshot::Sender<T>>>,
    pub(super) fallback: Mutex<Option<oneshot::Sender<T>>>,
    /// Dropped once either side has answered, and once the request stops waiting: a copy of
    /// the job left in the background lane's queue does not keep the password.
    pub(super) work: Mutex<Option<Arc<W>>>,
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
                        stopwatch,
                    } => {
                        priority();
                        busy_since
                            .get(i)
                            .map(|busy| (busy, &**progress, *stopwatch))
                    }
                    Lane::Fallback => {
                        lower_priority();
                        None
                    }
                };
                let mut memory = Vec::new();
                while let Some(job) = next_job(&rx, &mut memory) {
                    if let Some((busy, progress, stopwatch)) = marks {
                        // Marked busy before the job turns running, so a thread preempted in
                        // between still counts as starved.
                        let now = stopwatch.now();
                        progress.store(now, Ordering::Relaxed);
                        busy.store(now, Ordering::Relaxed);
                        if job.claim(now) {
                            job.run(Side::Background, &mut memory);
                        }
                        busy.store(0, Ordering::Relaxed);
                        progress.store(stopwatch.now(), Ordering::Relaxed);
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
pub(super) fn lowest_priority() {
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
pub(super) fn lowest_priority() {}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}
