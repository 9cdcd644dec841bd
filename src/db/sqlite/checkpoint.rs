//! Checkpoints of the WAL: made on purpose, off the calling thread, so that the writer
//! rarely waits for one (see [`InPlace::committed`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};

use super::{is_busy, InPlace};

/// Rows written in place (each statement counts at least one) between two passive WAL
/// checkpoints: a row changes a page or two of a table and its indexes, so about what
/// SQLite's own automatic checkpoint allows (1000 pages), whether the writes come as many
/// small transactions or a few large ones.
const CHECKPOINT_EVERY: u64 = 1000;

/// Passive passes of one checkpoint at most, before its last (see [`InPlace::committed`]):
/// enough for the backlog to shrink to what a quick pass leaves, even after a large one
/// (another process's bulk writes).
const CHECKPOINT_PASSES: u32 = 8;

/// A pass that copied fewer frames than this, or took less time than that, leaves a small
/// enough backlog; the last pass is made when fewer than this are left uncopied (or once the
/// WAL is past [`OUTRUN_FRAMES`], whatever is left).
const SMALL_BACKLOG: i64 = 256;
const QUICK_CHECKPOINT: Duration = Duration::from_millis(2);

/// The WAL's length (in frames: 64 MiB with the default 4 KiB pages) past which a checkpoint
/// holds writes for a moment, so that the WAL starts over.
pub(super) const RESTART_FRAMES: i64 = 16 * 1024;

/// Past this length (80 MiB) the writes have outrun the passes that let them go on: the
/// checkpoint stops making those and makes the last pass at once, whatever it has to copy.
const OUTRUN_FRAMES: i64 = RESTART_FRAMES * 5 / 4;

/// Past this length (96 MiB) the write connection checkpoints by itself after each commit
/// (SQLite's own automatic checkpoint, passive), holding its turn: the backstop for a machine
/// whose disk or cores keep the checkpoints above from keeping up (one pass waiting out a
/// slow fsync while the writes go on), so that the WAL still starts over before it reaches
/// the size its file is cut back to. Otherwise the writer never checkpoints on the calling
/// thread.
pub(super) const BACKSTOP_FRAMES: i64 = RESTART_FRAMES * 3 / 2;

/// The size the WAL's file is cut back to when it starts over (`journal_size_limit`): it
/// otherwise keeps the largest size it ever reached (after a bulk write, say). Twice the
/// restart length, so that routine restarts do not cut the file only to grow it again.
pub(crate) const WAL_SIZE_LIMIT: u64 = 2 * RESTART_FRAMES.unsigned_abs() * 4096;

const CHECKPOINT: &str = "PRAGMA wal_checkpoint(PASSIVE)";

impl InPlace {
    /// Counts the rows a commit made in place wrote and, every so often, checkpoints the WAL
    /// (passive: it does not wait for readers).
    ///
    /// The checkpoint copies what the WAL holds through the pool, on its thread, while writes
    /// go on, and again while a pass has much to copy: each copies what was written during
    /// the one before, so the backlog shrinks to what a quick pass leaves. Below
    /// [`RESTART_FRAMES`] that is all, and nothing waits: a WAL that a checkpoint catches up
    /// with between two writes starts over by itself. Past it, a last pass holds the turn and
    /// copies the last few pages, so the checkpoint reaches the end of the WAL and the next
    /// write starts it over: under a steady stream of writes the WAL stays ahead of every
    /// checkpoint that lets writes go on, and would grow without bound. Writes wait for that
    /// pass: the copy and two fsyncs, milliseconds, and tens of them on a busy disk. So it is
    /// made rarely rather than on every checkpoint, and normally only when what it has to copy
    /// is small (no reader held the passes back); once the WAL is past [`OUTRUN_FRAMES`] the
    /// writes are outrunning the passes, and it is made whatever is left to copy. A blocking
    /// thread takes the turn for it and gives it back as soon as it is done, so the turn is
    /// not also held while a task waits behind the requests queued on the runtime's workers.
    /// Should all this still fall behind, the write connection's own automatic checkpoint
    /// ([`BACKSTOP_FRAMES`]) catches the WAL before its file reaches [`WAL_SIZE_LIMIT`].
    pub(super) fn committed(self: &Arc<Self>, pool: &DatabaseConnection, rows: u64) {
        if self.written.fetch_add(rows, Ordering::Relaxed) + rows < CHECKPOINT_EVERY
            || self.checkpointing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.written.store(0, Ordering::Relaxed);
        let (pool, file) = (pool.clone(), self.clone());
        tokio::spawn(async move {
            let _done = ClearOnDrop(&file.checkpointing);
            let started = Instant::now();
            match file.checkpoint(&pool).await {
                Ok(done) => tracing::debug!(took = ?started.elapsed(), ?done, "WAL checkpointed"),
                Err(error) => tracing::warn!(%error, "WAL checkpoint failed"),
            }
        });
    }

    /// See [`Self::committed`].
    async fn checkpoint(self: &Arc<Self>, pool: &DatabaseConnection) -> Result<Checkpoint, String> {
        let mut done = Checkpoint::default();
        let mut copied = 0;
        while done.passes < CHECKPOINT_PASSES {
            done.passes += 1;
            let pass = Instant::now();
            let row = pool
                .query_one(Statement::from_string(DbBackend::Sqlite, CHECKPOINT))
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the checkpoint returned no row")?;
            // `busy`, `log` (frames in the WAL), `checkpointed` (frames copied so far).
            let column = |i| row.try_get_by_index::<i64>(i).map_err(|e| e.to_string());
            if column(0)? != 0 {
                // Another checkpoint is under way (another process's): it does the job.
                done.busy = true;
                return Ok(done);
            }
            let (log, checkpointed) = (column(1)?, column(2)?);
            let progress = checkpointed - copied;
            (done.frames, done.left, copied) = (log, log - checkpointed, checkpointed);
            if progress < SMALL_BACKLOG
                || pass.elapsed() < QUICK_CHECKPOINT
                || done.frames >= OUTRUN_FRAMES
            {
                break;
            }
        }
        if done.frames >= RESTART_FRAMES
            && (done.left < SMALL_BACKLOG || done.frames >= OUTRUN_FRAMES)
        {
            let (held, busy) = self.last_checkpoint().await?;
            (done.held, done.busy) = (Some(held), busy);
        }
        Ok(done)
    }

    /// The checkpoint's last pass, on the write connection with its turn, taken and given
    /// back on a blocking thread; how long the turn was held, and whether another checkpoint
    /// (another process's) was under way instead.
    async fn last_checkpoint(self: &Arc<Self>) -> Result<(Duration, bool), String> {
        let file = self.clone();
        let runtime = tokio::runtime::Handle::current();
        let pass = move || {
            let turn = runtime.block_on(file.turn.take_for_checkpoint());
            let held = Instant::now();
            let writer = file
                .writer_for(turn)
                .ok_or("the write connection cannot be opened")?;
            let busy =
                match writer.with(|conn| conn.query_row(CHECKPOINT, [], |r| r.get::<_, i64>(0))) {
                    Ok(busy) => busy != 0,
                    Err(error) if is_busy(&error) => true,
                    Err(error) => {
                        writer.discard();
                        return Err(error.to_string());
                    }
                };
            drop(writer);
            Ok((held.elapsed(), busy))
        };
        tokio::task::spawn_blocking(pass)
            .await
            .map_err(|e| e.to_string())?
    }
}

/// What a checkpoint did (logged at debug level).
#[derive(Debug, Default)]
struct Checkpoint {
    passes: u32,
    /// Frames in the WAL at the last passive pass, and how many of them it left uncopied.
    frames: i64,
    left: i64,
    /// How long writes waited for the last pass, when one was made.
    held: Option<Duration>,
    /// Another checkpoint was under way.
    busy: bool,
}

/// Clears a flag when dropped, however the code holding it ends.
pub(super) struct ClearOnDrop<'a>(pub(super) &'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}
