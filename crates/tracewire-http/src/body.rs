//! The response body of the HTTP layers: the core's [`CallBody`] with HTTP's end of call.

use std::fmt;

use http_body::Body;
use opentelemetry::Context;
use tracewire_core::SampledSpan;
use tracewire_core::body::{BodyState, CallBody, EndOfCall};

use crate::record::{BODY_DROPPED, record_failure};

/// The response body of the server and client layers: the request's span ends when the body
/// has been sent or read completely, or fails (an error: `error.type` from the error's type),
/// or when it is dropped early, which is recorded as the event `http.response.body.dropped`.
/// On a server span an early drop is an error too (the response could not be sent
/// completely: `error.type` is `body_dropped`); on a client span it is the caller's choice
/// not to read on.
pub type ResponseBody<B> = CallBody<B, HttpEnd>;

/// How an HTTP response ends its call (the [`EndOfCall`] of [`ResponseBody`]).
#[derive(Debug)]
pub struct HttpEnd {
    span: SampledSpan,
    server: bool,
}

impl EndOfCall for HttpEnd {
    #[inline]
    fn span(&self) -> &SampledSpan {
        &self.span
    }

    #[inline]
    fn on_trailers(self, _: &http::HeaderMap) {
        self.span.end();
    }

    #[inline]
    fn on_end(self) {
        self.span.end();
    }

    fn on_error<E: fmt::Display + 'static>(self, error: &E) {
        record_failure(&self.span, error);
        self.span.end();
    }

    fn on_drop(self) {
        // A body that was never polled to its end: a client that went away, or a server that
        // stopped sending.
        self.span.add_event("http.response.body.dropped");
        if self.server {
            self.span.set_error_type(BODY_DROPPED);
        }
        self.span.end();
    }
}

/// Where a response stands when its headers arrive.
pub(crate) enum State {
    /// The span ends when the body does, and is current while the body is produced.
    Sampled(SampledSpan),
    /// The span ends when the body does; polling the body runs no application code.
    SampledReady(SampledSpan),
    /// The context stays current while the body is produced.
    Unsampled(Context),
    Done,
}

/// Wraps a server's (`server`) or a client's response body.
#[inline]
pub(crate) fn response_body<B: Body>(inner: B, state: State, server: bool) -> ResponseBody<B> {
    let end = |span| HttpEnd { span, server };
    let state = match state {
        // An empty body may never be polled: it is complete already.
        State::Sampled(span) | State::SampledReady(span) if inner.is_end_stream() => {
            span.end();
            BodyState::Done
        }
        // Nothing runs while an empty or already-produced body is sent: no context needed,
        // and no span switch per frame.
        State::Unsampled(_) if inner.size_hint().exact().is_some() || inner.is_end_stream() => {
            BodyState::Done
        }
        State::Sampled(span) if inner.size_hint().exact().is_some() => BodyState::Ready(end(span)),
        State::Sampled(span) => BodyState::Scoped(end(span)),
        State::SampledReady(span) => BodyState::Ready(end(span)),
        State::Unsampled(cx) => BodyState::Unsampled(cx),
        State::Done => BodyState::Done,
    };
    CallBody::new(inner, state)
}
