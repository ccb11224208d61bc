//! Work `poll` starts but need not finish: a spawned task that later calls wait for, each up to
//! its own deadline (KIP-266: a join or an offset lookup goes on across polls).

use std::future::Future;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{Error, Result};

/// A spawned task whose output is taken by whichever call finds it finished. Dropping it
/// aborts the task, so work nobody waits for any more (close, unsubscribe, a stale lookup)
/// stops.
pub(crate) struct Background<T> {
    /// `None` once the output was taken.
    handle: Option<JoinHandle<Result<T>>>,
}

impl<T: Send + 'static> Background<T> {
    pub(crate) fn spawn(work: impl Future<Output = Result<T>> + Send + 'static) -> Self {
        Background {
            handle: Some(tokio::spawn(work)),
        }
    }

    /// The task's output, waiting for it until `deadline` (looked at once even when `deadline`
    /// has passed). `None` while it runs on; the output is handed out once, after which this
    /// only ever answers `None`: drop it then.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped wait leaves the task running and its output in place.
    pub(crate) async fn wait_until(&mut self, deadline: Instant) -> Option<Result<T>> {
        let handle = self.handle.as_mut()?;
        // `timeout_at` polls the task before looking at the clock.
        let joined = tokio::time::timeout_at(deadline, handle).await.ok()?;
        self.handle = None;
        Some(joined.unwrap_or_else(|e| Err(Error::Unknown(format!("background task: {e}")))))
    }
}

impl<T> Drop for Background<T> {
    fn drop(&mut self) {
        if let Some(h) = &self.handle {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn output_is_taken_across_waits_and_drop_aborts() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let mut task = Background::spawn(async move { rx.await.map_err(|_| Error::Closed) });
        let soon = Instant::now() + Duration::from_millis(10);
        assert!(task.wait_until(soon).await.is_none(), "still running");
        // A wait dropped midway loses nothing.
        let later = Instant::now() + Duration::from_secs(1);
        drop(tokio::time::timeout(Duration::from_millis(1), task.wait_until(later)).await);
        tx.send(7).expect("send");
        let got = task.wait_until(later).await;
        assert_eq!(got.map(|r| r.ok()), Some(Some(7)));
        assert!(
            task.wait_until(Instant::now()).await.is_none(),
            "taken once"
        );

        let dropped = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let flag = Flag(dropped.clone());
        let task = Background::spawn(async move {
            let _flag = flag;
            std::future::pending::<Result<()>>().await
        });
        tokio::task::yield_now().await;
        drop(task);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(dropped.load(Ordering::Acquire), "dropping aborts the task");
    }
}
