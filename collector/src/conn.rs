//! Connection limits: a cap on client connections open at once (a
//! connection over the cap is closed at once, before its TLS handshake, so
//! slow or idle clients cannot take every file descriptor), kept below the
//! process's file descriptor limit; timeouts for the TLS handshake and the
//! first request's headers are set in `server.rs`, the body timeout in
//! `http::read_body`.

use crate::metrics::Metrics;
use axum_server::accept::Accept;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// File descriptors kept free for the database, logs and policy files.
pub const FD_RESERVE: u64 = 64;

/// The connection cap: `configured`, but at most the soft file descriptor
/// limit minus [`FD_RESERVE`] (at least 8).
pub fn effective_cap(configured: u32) -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    let by_fds = soft.saturating_sub(FD_RESERVE).max(8);
    usize::try_from(u64::from(configured).min(by_fds)).unwrap_or(8)
}

/// An acceptor admitting at most `cap` connections at once.
#[derive(Clone)]
pub struct CappedAcceptor<A> {
    inner: A,
    slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    last_log_s: Arc<AtomicI64>,
}

impl<A> CappedAcceptor<A> {
    /// Wrap `inner` with a cap of `cap` connections.
    pub fn new(inner: A, cap: usize, metrics: Arc<Metrics>) -> Self {
        CappedAcceptor {
            inner,
            slots: Arc::new(Semaphore::new(cap)),
            metrics,
            last_log_s: Arc::new(AtomicI64::new(0)),
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<A, I, S> Accept<I, S> for CappedAcceptor<A>
where
    A: Accept<I, S> + Clone + Send + Sync + 'static,
    A::Future: Send + 'static,
    A::Stream: Send,
    A::Service: Send,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = Capped<A::Stream>;
    type Service = A::Service;
    type Future = BoxFuture<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            // Over the cap: closing now frees the descriptor at once.
            drop(stream);
            self.metrics.connections_refused.inc();
            let now_s = crate::clock::system_ms() / 1000;
            if self.last_log_s.swap(now_s, Ordering::Relaxed) != now_s {
                tracing::warn!(
                    refused_total = self.metrics.connections_refused.get(),
                    "connection cap reached: closing new connections until slots free up"
                );
            }
            return Box::pin(async { Err(io::Error::other("connection cap reached")) });
        };
        let fut = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = fut.await?;
            Ok((
                Capped {
                    inner: stream,
                    _permit: permit,
                },
                service,
            ))
        })
    }
}

/// A stream holding its connection slot until it is dropped.
pub struct Capped<T> {
    inner: T,
    _permit: OwnedSemaphorePermit,
}

impl<T: AsyncRead + Unpin> AsyncRead for Capped<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Capped<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
