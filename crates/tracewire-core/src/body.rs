//! The end of a call that lasts as long as its response body: one body wrapper for every
//! layer, and the protocol's [`EndOfCall`] classifier (in the spirit of tower-http's
//! `ClassifyEos`) that says what the body's end, trailers, failure or early drop mean.
//!
//! HTTP ends its span when the body has been sent or read; gRPC reads the call's status from
//! the trailers and counts messages. Both wrap the body in [`CallBody`], which keeps the span
//! (or the unsampled context) current while a body that runs application code is produced,
//! ends the span exactly once, and never holds it past the body's end.
//!
//! ```
//! use std::fmt;
//! use http_body::Body as _;
//! use tracewire_core::SampledSpan;
//! use tracewire_core::body::{BodyState, CallBody, EndOfCall};
//!
//! /// Ends the span at the body's end; a failure or an early drop is an error.
//! struct EndsWithBody(SampledSpan);
//!
//! impl EndOfCall for EndsWithBody {
//!     fn span(&self) -> Option<&SampledSpan> { Some(&self.0) }
//!     fn on_trailers(self, _: &http::HeaderMap) { self.0.end() }
//!     fn on_end(self) { self.0.end() }
//!     fn on_error<E: fmt::Display + 'static>(self, error: &E) {
//!         self.0.set_error_type(&error.to_string());
//!         self.0.end();
//!     }
//!     fn on_drop(self) {
//!         self.0.set_error_type("body_dropped");
//!         self.0.end();
//!     }
//! }
//!
//! fn wrap<B: http_body::Body>(body: B, span: SampledSpan) -> CallBody<B, EndsWithBody> {
//!     CallBody::new(body, BodyState::Scoped(EndsWithBody(span)))
//! }
//! # let _ = wrap::<String>;
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use opentelemetry::Context;
use pin_project_lite::pin_project;

use crate::SampledSpan;

/// What the end of a response body means for the call: each method but
/// [`on_data`](Self::on_data) ends it, and exactly one of them is called.
pub trait EndOfCall {
    /// The call's span, current while a [`BodyState::Scoped`] body is produced (`None` for
    /// an unsampled call that only records metrics).
    fn span(&self) -> Option<&SampledSpan>;

    /// A data frame passed (gRPC counts its messages here). Does nothing by default.
    #[inline]
    fn on_data<D: Buf>(&mut self, data: &D) {
        let _ = data;
    }

    /// The trailers arrived (gRPC's status is there).
    fn on_trailers(self, trailers: &http::HeaderMap);

    /// The body ended without trailers.
    fn on_end(self);

    /// The body yielded an error.
    fn on_error<E: fmt::Display + 'static>(self, error: &E);

    /// The body was dropped before its end.
    fn on_drop(self);
}

/// Where a [`CallBody`] stands.
#[derive(Debug)]
pub enum BodyState<E> {
    /// Sampled: the call ends with the body, and its span is current while the body is
    /// produced (a server's streamed response runs application code).
    Scoped(E),
    /// Sampled: the call ends with the body, which runs no application code when polled (a
    /// client reading a response, a body already in memory): no span switch per frame.
    Ready(E),
    /// Unsampled: the context stays current while the body is produced; the call still ends
    /// through `E` when there is one (its metrics).
    Unsampled(Context, Option<E>),
    /// Nothing left to do.
    Done,
}

pin_project! {
    /// A response body that ends its call through `E` ([`EndOfCall`]) when it ends, fails or
    /// is dropped early. Frames pass through unchanged.
    pub struct CallBody<B, E: EndOfCall> {
        #[pin]
        inner: B,
        state: BodyState<E>,
    }

    impl<B, E: EndOfCall> PinnedDrop for CallBody<B, E> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let BodyState::Scoped(end) | BodyState::Ready(end) | BodyState::Unsampled(_, Some(end)) =
                std::mem::replace(this.state, BodyState::Done)
            {
                end.on_drop();
            }
        }
    }
}

impl<B, E: EndOfCall> CallBody<B, E> {
    /// Wraps `inner` in `state`.
    #[inline]
    pub fn new(inner: B, state: BodyState<E>) -> Self {
        Self { inner, state }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Whether the call is still open (its span not yet ended, or its context still held).
    pub fn is_active(&self) -> bool {
        !matches!(self.state, BodyState::Done)
    }
}

impl<B, E> Body for CallBody<B, E>
where
    B: Body,
    B::Error: fmt::Display + 'static,
    E: EndOfCall,
{
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let result = match this.state {
            // Nothing left to record: the inner body as it is.
            BodyState::Done => return this.inner.poll_frame(cx),
            BodyState::Scoped(end) => match end.span() {
                Some(span) => span.in_scope(|| this.inner.as_mut().poll_frame(cx)),
                None => this.inner.as_mut().poll_frame(cx),
            },
            BodyState::Unsampled(otel_cx, _) => {
                let _guard = otel_cx.clone().attach();
                this.inner.as_mut().poll_frame(cx)
            }
            BodyState::Ready(_) => this.inner.as_mut().poll_frame(cx),
        };
        let ends = match &result {
            Poll::Pending => return result,
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    Some(Ending::Trailers(trailers))
                } else {
                    if let (
                        Some(data),
                        BodyState::Scoped(end)
                        | BodyState::Ready(end)
                        | BodyState::Unsampled(_, Some(end)),
                    ) = (frame.data_ref(), &mut *this.state)
                    {
                        end.on_data(data);
                    }
                    // A body that knows it is complete ends the call now, not when the
                    // connection lets go of it.
                    this.inner.is_end_stream().then_some(Ending::End)
                }
            }
            Poll::Ready(Some(Err(error))) => Some(Ending::Error(error)),
            Poll::Ready(None) => Some(Ending::End),
        };
        if let Some(ending) = ends {
            // The span ends (or the context is let go) now, once.
            match std::mem::replace(this.state, BodyState::Done) {
                BodyState::Scoped(end)
                | BodyState::Ready(end)
                | BodyState::Unsampled(_, Some(end)) => match ending {
                    Ending::Trailers(trailers) => end.on_trailers(trailers),
                    Ending::End => end.on_end(),
                    Ending::Error(error) => end.on_error(error),
                },
                BodyState::Unsampled(_, None) | BodyState::Done => {}
            }
        }
        result
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How a body ended.
enum Ending<'a, Err> {
    Trailers(&'a http::HeaderMap),
    End,
    Error(&'a Err),
}

impl<B: fmt::Debug, E: EndOfCall> fmt::Debug for CallBody<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallBody")
            .field("inner", &self.inner)
            .field("active", &self.is_active())
            .finish()
    }
}
