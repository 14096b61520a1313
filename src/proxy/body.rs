//! The request body on its way upstream: streamed chunk by chunk, cut off at the size limit.

use crate::metrics::Exchange;
use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll};

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("request body could not be read: {0}")]
    Client(PayloadError),
}

pin_project! {
    /// Passes the client's body through, counting it into the exchange, and fails once more
    /// than `limit` bytes have passed.
    pub struct LimitedBody<S> {
        #[pin]
        inner: S,
        exchange: Exchange,
        limit: u64,
    }
}

impl<S> LimitedBody<S> {
    pub fn new(inner: S, limit: u64, exchange: Exchange) -> Self {
        Self {
            inner,
            exchange,
            limit,
        }
    }
}

impl<S> Stream for LimitedBody<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>>,
{
    type Item = Result<Bytes, BodyError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        match this.inner.poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let seen = this.exchange.add_sent(chunk.len() as u64);
                if seen > *this.limit {
                    Poll::Ready(Some(Err(BodyError::TooLarge { limit: *this.limit })))
                } else {
                    Poll::Ready(Some(Ok(chunk)))
                }
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(BodyError::Client(err)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

pin_project! {
    /// The upstream's response body on its way to the client. awc ends the stream quietly when
    /// the upstream closes the connection early, so a body that came with a `Content-Length`
    /// is counted, and one that falls short ends in an error: the client then sees a cut
    /// response, not a complete-looking one. (A chunked body cut short cannot be told apart from
    /// a finished one through awc.)
    pub struct ResponseBody<S> {
        #[pin]
        inner: S,
        expected: Option<u64>,
        seen: u64,
        failed: bool,
    }
}

impl<S> ResponseBody<S> {
    pub fn new(inner: S, expected: Option<u64>) -> Self {
        Self {
            inner,
            expected,
            seen: 0,
            failed: false,
        }
    }
}

impl<S> Stream for ResponseBody<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>>,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.failed {
            return Poll::Ready(None);
        }
        match this.inner.poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                *this.seen += chunk.len() as u64;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) if this.expected.is_some_and(|expected| *this.seen < expected) => {
                *this.failed = true;
                Poll::Ready(Some(Err(PayloadError::Incomplete(None))))
            }
            other => other,
        }
    }
}
