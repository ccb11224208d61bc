//! Running application code (delivery callbacks, partitioners, rebalance listeners) so that a
//! panic in it cannot take a client task down halfway through its bookkeeping.
//!
//! A caught panic is logged at error level and becomes an [`Error::UserCode`]; what the client
//! does with that error is up to the caller (fail one send, report it from `poll`, or nothing
//! more for a delivery callback). With `panic = "abort"` nothing can be caught.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Poll;

use crate::error::Error;

/// The text of a panic payload: `panic!` and `assert!` give a `&str` or a `String`.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

fn caught(what: &'static str, payload: Box<dyn Any + Send>) -> Error {
    let message = panic_message(&*payload);
    tracing::error!(
        what,
        panic = %message,
        "{what} panicked; the panic was caught and the client goes on"
    );
    Error::UserCode { what, message }
}

/// Runs `f`, turning a panic into [`Error::UserCode`] (logged at error level).
///
/// The callers hold no lock and no half-updated client state across `f`, so asserting unwind
/// safety only concerns the application's own state, which it left as its panic left it.
pub(crate) fn call<R>(what: &'static str, f: impl FnOnce() -> R) -> Result<R, Error> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| caught(what, p))
}

/// Awaits `fut`, turning a panic in any of its polls into [`Error::UserCode`] (logged at error
/// level); the future is dropped at once after a panic.
///
/// A panic can only start in application code, so whatever client futures it was awaiting are
/// dropped as if cancelled: the client's state is what its cancel-safety notes describe.
pub(crate) async fn call_async<F: Future>(what: &'static str, fut: F) -> Result<F::Output, Error> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(caught(what, p))),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_panic_messages_are_extracted() {
        let e = call("partitioner", || -> i32 { panic!("boom {}", 7) }).unwrap_err();
        assert!(
            matches!(&e, Error::UserCode { what: "partitioner", message } if message == "boom 7")
        );
        let e = call("x", || -> () { std::panic::panic_any(5u8) }).unwrap_err();
        assert_eq!(e.to_string(), "x panicked: <non-string panic payload>");
        assert_eq!(call("x", || 3).unwrap(), 3);
    }

    #[tokio::test]
    async fn async_panic_after_an_await_is_caught() {
        let r = call_async("listener", async {
            tokio::task::yield_now().await;
            panic!("late");
        })
        .await;
        assert!(matches!(r, Err(Error::UserCode { message, .. }) if message == "late"));
        assert_eq!(call_async("listener", async { 4 }).await.unwrap(), 4);
    }
}
