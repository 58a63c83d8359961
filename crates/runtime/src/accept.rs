//! Accepting connections without spinning when the process runs out of descriptors.
//!
//! tonic's own accept loop retries at once after any accept error; out of descriptors
//! (`EMFILE`) every retry fails again, and the edge sat at full CPU until clients left. This
//! stream backs off instead (10 ms doubling to 1 s), says so once in the log, and says when it
//! accepts again. Hand-written: a small `Stream` over tokio's listener, which no crate offers
//! with backoff on resource errors.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// First and longest pause after a resource error.
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Accepted connections (`TCP_NODELAY` set), pausing on resource errors.
pub struct Acceptor {
    listener: TcpListener,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    backoff: Duration,
    starved: bool,
}

impl Acceptor {
    /// Accepts on `listener`.
    pub fn new(listener: TcpListener) -> Acceptor {
        Acceptor { listener, pause: None, backoff: MIN_BACKOFF, starved: false }
    }
}

/// Out of descriptors, socket buffers or memory: retrying at once cannot help.
fn is_resource_error(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

impl tonic::codegen::tokio_stream::Stream for Acceptor {
    type Item = std::io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(pause) = this.pause.as_mut() {
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.pause = None;
            }
            return match this.listener.poll_accept(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok((stream, _))) => {
                    if this.starved {
                        tracing::info!("accepting connections again");
                    }
                    (this.starved, this.backoff) = (false, MIN_BACKOFF);
                    let _ = stream.set_nodelay(true);
                    Poll::Ready(Some(Ok(stream)))
                }
                Poll::Ready(Err(e)) if is_resource_error(&e) => {
                    if !this.starved {
                        tracing::warn!(
                            "cannot accept connections ({e}): open descriptors are at the limit \
                             ({}); backing off until clients leave",
                            crate::limits::descriptor_limit()
                                .map_or("unknown".into(), |(soft, _)| soft.to_string())
                        );
                    }
                    this.starved = true;
                    this.pause = Some(Box::pin(tokio::time::sleep(this.backoff)));
                    this.backoff = (this.backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
                Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            };
        }
    }
}
