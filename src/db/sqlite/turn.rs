//! Whose turn it is to use the one write connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use super::checkpoint::ClearOnDrop;

/// Whose turn it is to use the write connection. A free turn goes to whoever asks first,
/// not to the longest waiter: a turn handed to a waiting task would sit with it until its
/// worker thread gets round to running it, behind whatever that thread is busy with (a
/// signature takes a quarter of a millisecond), while every other writer waits too. Waiters
/// park; each release wakes one, which tries again. A checkpoint's last pass goes ahead of
/// them: once it asks, the turn is left free for it.
#[derive(Default)]
pub(super) struct Turn {
    taken: AtomicBool,
    freed: Notify,
    /// Set while a checkpoint waits for the turn: other writers leave it free for the
    /// checkpoint, which a steady stream of writes could otherwise keep from it for good.
    reserved: AtomicBool,
    freed_for_checkpoint: Notify,
}

impl Turn {
    fn try_take(self: &Arc<Self>) -> Option<TurnGuard> {
        if self.reserved.load(Ordering::SeqCst) {
            return None;
        }
        self.grab()
    }

    fn grab(self: &Arc<Self>) -> Option<TurnGuard> {
        self.taken
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
            .then(|| TurnGuard(self.clone()))
    }

    pub(super) async fn take(self: &Arc<Self>) -> TurnGuard {
        self.wait(&self.freed, Self::try_take).await
    }

    /// The turn for a checkpoint (one at a time): ahead of every other writer.
    pub(super) async fn take_for_checkpoint(self: &Arc<Self>) -> TurnGuard {
        self.reserved.store(true, Ordering::SeqCst);
        let _reserved = ClearOnDrop(&self.reserved);
        self.wait(&self.freed_for_checkpoint, Self::grab).await
    }

    /// Tries `attempt` until it gets the turn, parked on `freed` in between.
    async fn wait(
        self: &Arc<Self>,
        freed: &Notify,
        attempt: fn(&Arc<Self>) -> Option<TurnGuard>,
    ) -> TurnGuard {
        loop {
            if let Some(turn) = attempt(self) {
                return turn;
            }
            // Registered before looking again, so a release in between is not missed.
            let freed = freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(turn) = attempt(self) {
                return turn;
            }
            freed.await;
        }
    }
}

/// A turn taken; dropping it frees the turn and wakes one waiter (and a checkpoint waiting
/// for it, which other waiters leave it to).
pub(super) struct TurnGuard(Arc<Turn>);

impl Drop for TurnGuard {
    fn drop(&mut self) {
        self.0.taken.store(false, Ordering::SeqCst);
        if self.0.reserved.load(Ordering::SeqCst) {
            self.0.freed_for_checkpoint.notify_one();
        }
        self.0.freed.notify_one();
    }
}
