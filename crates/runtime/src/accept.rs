//! Accepting connections without spinning when the process runs out of descriptors.
//!
//! tonic's own accept loop retries at once after any accept error; out of descriptors
//! (`EMFILE`) every retry fails again, and the edge sat at full CPU until clients left. This
//! stream backs off instead (10 ms doubling to 1 s), says so once in the log, and says when it
//! accepts again. It also holds at most `max` connections open: one more is accepted and
//! closed at once (the client sees the connection closed, the log says why once a second, and
//! `coinfer_edge_connections_refused_total` counts it), so descriptors for models, logs and
//! the metrics port stay free. Hand-written: a small `Stream` over tokio's listener, which no
//! crate offers with backoff on resource errors.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use tonic::transport::server::Connected;

use crate::metrics::EdgeMetrics;

/// First and longest pause after a resource error.
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Descriptors kept free of connections when the limit comes from the descriptor limit (a
/// quarter of it at most).
const RESERVE: usize = 64;

/// Accepted connections (`TCP_NODELAY` set), pausing on resource errors and holding at most
/// `max` open.
pub struct Acceptor {
    listener: TcpListener,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    backoff: Duration,
    starved: bool,
    max: usize,
    open: Arc<AtomicUsize>,
    metrics: Arc<EdgeMetrics>,
    last_refusal_log: Option<Instant>,
}

impl Acceptor {
    /// Accepts on `listener`, at most `max` connections at once (0 = the descriptor soft
    /// limit less a reserve of 64, or of a quarter of a smaller limit).
    pub fn new(listener: TcpListener, max: usize, metrics: Arc<EdgeMetrics>) -> Acceptor {
        let max = match max {
            0 => crate::limits::descriptor_limit().map_or(usize::MAX, |(soft, _)| {
                let soft = soft as usize;
                soft.saturating_sub(RESERVE.min(soft / 4)).max(1)
            }),
            n => n,
        };
        Acceptor {
            listener,
            pause: None,
            backoff: MIN_BACKOFF,
            starved: false,
            max,
            open: Arc::default(),
            metrics,
            last_refusal_log: None,
        }
    }

    /// The connection limit in force.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// An accepted connection; the count of open ones drops when it closes.
pub struct Counted {
    stream: TcpStream,
    open: Arc<AtomicUsize>,
    metrics: Arc<EdgeMetrics>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.metrics.connections.dec();
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl Connected for Counted {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

/// Out of descriptors, socket buffers or memory: retrying at once cannot help.
fn is_resource_error(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

impl tonic::codegen::tokio_stream::Stream for Acceptor {
    type Item = std::io::Result<Counted>;

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
                Poll::Ready(Ok((stream, peer))) => {
                    if this.starved {
                        tracing::info!("accepting connections again");
                    }
                    (this.starved, this.backoff) = (false, MIN_BACKOFF);
                    if this.open.load(Ordering::Relaxed) >= this.max {
                        this.metrics.connections_refused.inc();
                        let quiet =
                            this.last_refusal_log.is_some_and(|t| t.elapsed().as_secs() < 1);
                        if !quiet {
                            tracing::warn!(
                                %peer,
                                "{} connections open, the most allowed (max_connections): \
                                 closing new ones at once",
                                this.max
                            );
                            this.last_refusal_log = Some(Instant::now());
                        }
                        drop(stream);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    this.open.fetch_add(1, Ordering::Relaxed);
                    this.metrics.connections.inc();
                    let (open, metrics) = (this.open.clone(), this.metrics.clone());
                    Poll::Ready(Some(Ok(Counted { stream, open, metrics })))
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
