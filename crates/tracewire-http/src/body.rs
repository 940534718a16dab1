//! The response body wrapper that ends a request's span with its body.

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http_body::{Body, Frame, SizeHint};
use opentelemetry::Context;
use pin_project_lite::pin_project;

use tracewire_core::SampledSpan;

use crate::record::{BODY_DROPPED, record_failure};

pub(crate) enum State {
    /// The span ends when the body does, and is current while the body is produced.
    Sampled(SampledSpan),
    /// The span ends when the body does; the body is already produced (its size is known),
    /// so polling it runs no code of the application and needs no current span.
    SampledReady(SampledSpan),
    /// The context stays current while the body is produced.
    Unsampled(Context),
    Done,
}

pin_project! {
    /// The response body of the server and client layers: the request's span ends when the
    /// body has been sent or read completely, or fails (an error: `error.type` from the
    /// error's type), or when it is dropped early, which is recorded as the event
    /// `http.response.body.dropped`. On a server span an early drop is an error too (the
    /// response could not be sent completely: `error.type` is `body_dropped`); on a client
    /// span it is the caller's choice not to read on.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        state: State,
        server: bool,
    }

    impl<B> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let State::Sampled(span) | State::SampledReady(span) =
                std::mem::replace(this.state, State::Done)
            {
                // A body that was never polled to its end: a client that went away, or a
                // server that stopped sending.
                span.add_event("http.response.body.dropped");
                if *this.server {
                    span.set_error_type(BODY_DROPPED);
                }
                span.end();
            }
        }
    }
}

impl<B: Body> ResponseBody<B> {
    /// Wraps a server's (`server`) or a client's response body.
    pub(crate) fn new(inner: B, state: State, server: bool) -> Self {
        let state = match state {
            // An empty body may never be polled: it is complete already.
            State::Sampled(span) | State::SampledReady(span) if inner.is_end_stream() => {
                span.end();
                State::Done
            }
            // Nothing runs while an empty or already-produced body is sent: no context needed.
            State::Unsampled(_) if inner.size_hint().exact().is_some() || inner.is_end_stream() => {
                State::Done
            }
            State::Sampled(span) if inner.size_hint().exact().is_some() => {
                State::SampledReady(span)
            }
            state => state,
        };
        Self {
            inner,
            state,
            server,
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: fmt::Display + 'static,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        if let State::Done = this.state {
            // Nothing left to record: the inner body as it is.
            return this.inner.poll_frame(cx);
        }
        let result = match this.state {
            State::Sampled(span) => span.in_scope(|| this.inner.as_mut().poll_frame(cx)),
            State::Unsampled(otel_cx) => {
                let _guard = otel_cx.clone().attach();
                this.inner.as_mut().poll_frame(cx)
            }
            State::SampledReady(_) | State::Done => this.inner.as_mut().poll_frame(cx),
        };
        let finished = match &result {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Err(error))) => {
                if let State::Sampled(span) | State::SampledReady(span) = &this.state {
                    record_failure(span, error);
                }
                true
            }
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if finished {
            // Ends the span (or drops the context) now, not when the connection lets go.
            if let State::Sampled(span) | State::SampledReady(span) =
                std::mem::replace(this.state, State::Done)
            {
                span.end();
            }
            *this.state = State::Done;
        }
        result
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: fmt::Debug> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .field("active", &!matches!(self.state, State::Done))
            .finish()
    }
}
