//! The response body of the HTTP layers: the core's [`CallBody`] with HTTP's end of call.

use std::fmt;

use bytes::Buf;
use http_body::Body;
use opentelemetry::Context;
use tracewire_core::SampledSpan;
use tracewire_core::body::{BodyState, CallBody, EndOfCall};

use crate::metrics::HttpCall;
use crate::record::{BODY_DROPPED, record_failure};

/// The response body of the server and client layers: the request's span ends when the body
/// has been sent or read completely, or fails (an error: `error.type` from the error's type),
/// or when it is dropped early, which is recorded as the event `http.response.body.dropped`.
/// On a server span an early drop is an error too (the response could not be sent
/// completely: `error.type` is `body_dropped`); on a client span it is the caller's choice
/// not to read on.
pub type ResponseBody<B> = CallBody<B, HttpEnd>;

/// How an HTTP response ends its call (the [`EndOfCall`] of [`ResponseBody`]): the span of a
/// sampled request, and the metrics of every request.
#[derive(Debug)]
pub struct HttpEnd {
    span: Option<SampledSpan>,
    metric: Option<HttpCall>,
    server: bool,
}

impl HttpEnd {
    #[inline]
    fn end(self) {
        if let Some(span) = self.span {
            span.end();
        }
        if let Some(metric) = self.metric {
            metric.finish();
        }
    }
}

impl EndOfCall for HttpEnd {
    #[inline]
    fn span(&self) -> Option<&SampledSpan> {
        self.span.as_ref()
    }

    #[inline]
    fn on_data<D: Buf>(&mut self, data: &D) {
        if let Some(metric) = &mut self.metric {
            metric.count(data.remaining());
        }
    }

    #[inline]
    fn on_trailers(self, _: &http::HeaderMap) {
        self.end();
    }

    #[inline]
    fn on_end(self) {
        self.end();
    }

    fn on_error<E: fmt::Display + 'static>(mut self, error: &E) {
        if let Some(span) = &self.span {
            record_failure(span, error);
        }
        if let Some(metric) = &mut self.metric {
            metric.failed(crate::error::transport_error_type(error));
        }
        self.end();
    }

    fn on_drop(mut self) {
        // A body that was never polled to its end: a client that went away, or a server that
        // stopped sending.
        if let Some(span) = &self.span {
            span.add_event("http.response.body.dropped");
            if self.server {
                span.set_error_type(BODY_DROPPED);
            }
        }
        if self.server
            && let Some(metric) = &mut self.metric
        {
            metric.failed(BODY_DROPPED);
        }
        self.end();
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

/// Wraps a server's (`server`) or a client's response body; `metric` is the request's
/// measurement, recorded when the call ends.
#[inline]
pub(crate) fn response_body<B: Body>(
    inner: B,
    state: State,
    server: bool,
    metric: Option<HttpCall>,
) -> ResponseBody<B> {
    let end = |span, metric| HttpEnd {
        span: Some(span),
        metric,
        server,
    };
    let state = match state {
        // An empty body may never be polled: it is complete already.
        State::Sampled(span) | State::SampledReady(span) if inner.is_end_stream() => {
            end(span, metric).end();
            BodyState::Done
        }
        State::Sampled(span) if inner.size_hint().exact().is_some() => {
            BodyState::Ready(end(span, metric))
        }
        State::Sampled(span) => BodyState::Scoped(end(span, metric)),
        State::SampledReady(span) => BodyState::Ready(end(span, metric)),
        // No span: the metrics alone, when there are any.
        state => match metric {
            None => match state {
                // Nothing runs while an empty or already-produced body is sent: no context
                // needed, and no context switch per frame.
                State::Unsampled(cx)
                    if inner.size_hint().exact().is_none() && !inner.is_end_stream() =>
                {
                    BodyState::Unsampled(cx, None)
                }
                _ => BodyState::Done,
            },
            Some(metric) if inner.is_end_stream() => {
                metric.finish();
                BodyState::Done
            }
            Some(metric) => {
                let end = HttpEnd {
                    span: None,
                    metric: Some(metric),
                    server,
                };
                match state {
                    State::Unsampled(cx) if inner.size_hint().exact().is_none() => {
                        BodyState::Unsampled(cx, Some(end))
                    }
                    _ => BodyState::Ready(end),
                }
            }
        },
    };
    CallBody::new(inner, state)
}
