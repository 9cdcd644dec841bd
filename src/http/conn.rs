//! A connection-level deadline poem does not offer: once a client starts sending a request,
//! the server must start answering within the deadline, or the connection is closed. A
//! client trickling its request head a byte at a time (slowloris) therefore cannot hold a
//! connection, and the memory of its buffers, for longer than that.
//!
//! The clock starts at the first byte read after the last byte written (the start of a
//! request) and stops at the next write (the start of its response). Idle kept-alive
//! connections read nothing and are left to the server's idle timeout.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub struct DeadlineAcceptor<A> {
    inner: A,
    deadline: Duration,
}

impl<A> DeadlineAcceptor<A> {
    pub fn new(inner: A, deadline: Duration) -> Self {
        Self { inner, deadline }
    }
}

impl<A: Acceptor> Acceptor for DeadlineAcceptor<A> {
    type Io = DeadlineIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((DeadlineIo::new(io, self.deadline), local, remote, scheme))
    }
}

pub struct DeadlineIo<T> {
    inner: T,
    deadline: Duration,
    timer: Pin<Box<Sleep>>,
    /// A request has started arriving and no response has been written since.
    armed: bool,
}

impl<T> DeadlineIo<T> {
    fn new(inner: T, deadline: Duration) -> Self {
        Self {
            inner,
            deadline,
            timer: Box::pin(tokio::time::sleep(deadline)),
            armed: false,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for DeadlineIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && !self.armed {
                    self.armed = true;
                    let at = Instant::now() + self.deadline;
                    self.timer.as_mut().reset(at);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if self.armed && self.timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the request did not arrive within the request timeout",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeadlineIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.armed = false;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.armed = false;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
