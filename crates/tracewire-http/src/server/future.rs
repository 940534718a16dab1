use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Instant;

use http::{HeaderValue, Response, StatusCode};
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use pin_project_lite::pin_project;
use tracewire_propagation::traceparent::TraceParent;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::ResponseHeader;
use super::body::{ResponseBody, State};
use super::layer::Config;
use super::service::record_headers;
use crate::hooks::{OnResponse, RequestSpan};
use crate::semconv;

/// The span of a sampled request.
pub(crate) enum SampledSpan {
    /// A `tracing` span, bridged.
    Tracing(Span),
    /// A context holding an OpenTelemetry span made directly.
    Direct(Context),
}

impl SampledSpan {
    pub(crate) fn handle(&self) -> RequestSpan<'_> {
        match self {
            Self::Tracing(span) => RequestSpan::tracing(span),
            Self::Direct(cx) => RequestSpan::otel(cx),
        }
    }

    fn record_status(&self, status: StatusCode) {
        let code = i64::from(status.as_u16());
        let error = semconv::status_error(&status, false);
        match self {
            Self::Tracing(span) => {
                span.record(semconv::HTTP_RESPONSE_STATUS_CODE, code);
                if let Some(error) = error {
                    span.record(semconv::ERROR_TYPE, error);
                    span.record("otel.status_code", "error");
                }
            }
            Self::Direct(cx) => {
                let span = cx.span();
                span.set_attribute(KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, code));
                if let Some(error) = error {
                    span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error.to_owned()));
                    span.set_status(Status::error(""));
                }
            }
        }
    }

    /// Marks the span as failed with `error`: `error.type`, error status and an `exception`
    /// event.
    pub(crate) fn record_error(&self, error_type: &str, error: &dyn fmt::Display) {
        let event = vec![
            KeyValue::new("exception.type", error_type.to_owned()),
            KeyValue::new("exception.message", error.to_string()),
        ];
        match self {
            Self::Tracing(span) => {
                span.record(semconv::ERROR_TYPE, error_type);
                span.record("otel.status_code", "error");
                span.add_event("exception", event);
            }
            Self::Direct(cx) => {
                let span = cx.span();
                span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type.to_owned()));
                span.set_status(Status::error(""));
                span.add_event("exception", event);
            }
        }
    }

    /// Records that the response body was dropped before its end.
    pub(crate) fn record_dropped(&self) {
        match self {
            Self::Tracing(span) => span.add_event("http.response.body.dropped", Vec::new()),
            Self::Direct(cx) => cx
                .span()
                .add_event("http.response.body.dropped", Vec::new()),
        }
    }

    /// Ends the span now.
    pub(crate) fn end(self) {
        match self {
            // Dropping the last handle closes the `tracing` span.
            Self::Tracing(span) => drop(span),
            Self::Direct(cx) => cx.span().end(),
        }
    }

    /// Runs `f` with the span current.
    #[inline]
    pub(crate) fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        match self {
            Self::Tracing(span) => {
                let _entered = span.enter();
                f()
            }
            Self::Direct(cx) => {
                let _guard = cx.clone().attach();
                f()
            }
        }
    }
}

/// What a sampled request carries until its response.
pub(crate) struct Sampled<R> {
    pub(crate) span: SampledSpan,
    pub(crate) on_response: R,
    pub(crate) start: Instant,
}

enum Mode<R> {
    Sampled(Sampled<R>),
    Unsampled(Context),
}

/// Settings the response needs.
struct ResponseSettings {
    header: Option<(http::HeaderName, HeaderValue)>,
    capture: Vec<http::HeaderName>,
}

pin_project! {
    /// The response future of [`HttpServer`](super::HttpServer).
    pub struct ResponseFuture<F, R> {
        #[pin]
        inner: F,
        mode: Option<Mode<R>>,
        settings: Option<Box<ResponseSettings>>,
    }
}

impl<F, R> ResponseFuture<F, R> {
    pub(crate) fn sampled(
        inner: F,
        sampled: Sampled<R>,
        own: Option<TraceParent>,
        config: &Config,
    ) -> Self {
        Self {
            inner,
            mode: Some(Mode::Sampled(sampled)),
            settings: settings(own, config, true),
        }
    }

    pub(crate) fn unsampled(
        inner: F,
        cx: Context,
        own: Option<TraceParent>,
        config: &Config,
    ) -> Self {
        Self {
            inner,
            mode: Some(Mode::Unsampled(cx)),
            settings: settings(own, config, false),
        }
    }
}

fn settings(
    own: Option<TraceParent>,
    config: &Config,
    sampled: bool,
) -> Option<Box<ResponseSettings>> {
    let header = match (&config.response_header, own) {
        (Some(ResponseHeader::TraceResponse), Some(own)) => Some((
            http::HeaderName::from_static("traceresponse"),
            own.to_header_value(),
        )),
        (Some(ResponseHeader::TraceId(name)), Some(own)) => {
            HeaderValue::from_str(&own.trace_id().to_string())
                .ok()
                .map(|v| (name.clone(), v))
        }
        _ => None,
    };
    let capture = if sampled {
        config.response_headers.clone()
    } else {
        Vec::new()
    };
    (header.is_some() || !capture.is_empty())
        .then(|| Box::new(ResponseSettings { header, capture }))
}

impl<F, R, B, E> Future for ResponseFuture<F, R>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: fmt::Display,
    R: OnResponse<B>,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut inner = this.inner;
        let result = match this.mode {
            Some(Mode::Sampled(s)) => ready!(s.span.in_scope(|| inner.as_mut().poll(cx))),
            Some(Mode::Unsampled(otel_cx)) => {
                let _guard = otel_cx.clone().attach();
                ready!(inner.as_mut().poll(cx))
            }
            None => ready!(inner.as_mut().poll(cx)),
        };
        let mode = this.mode.take();
        let settings = this.settings.take();
        Poll::Ready(match result {
            Ok(mut response) => {
                if let Some(settings) = &settings
                    && let Some((name, value)) = &settings.header
                {
                    response.headers_mut().insert(name.clone(), value.clone());
                }
                let body_state = match mode {
                    Some(Mode::Sampled(mut s)) => {
                        s.span.record_status(response.status());
                        let handle = s.span.handle();
                        if let Some(settings) = &settings {
                            record_headers(
                                &handle,
                                "http.response.header.",
                                &settings.capture,
                                response.headers(),
                            );
                        }
                        s.on_response
                            .on_response(&response, s.start.elapsed(), &handle);
                        State::Sampled(s.span)
                    }
                    Some(Mode::Unsampled(otel_cx)) => State::Unsampled(otel_cx),
                    None => State::Done,
                };
                Ok(response.map(|body| ResponseBody::new(body, body_state)))
            }
            Err(error) => {
                if let Some(Mode::Sampled(s)) = mode {
                    s.span.record_error(std::any::type_name::<E>(), &error);
                    s.span.end();
                }
                Err(error)
            }
        })
    }
}

impl<F: fmt::Debug, R> fmt::Debug for ResponseFuture<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .field("sampled", &matches!(self.mode, Some(Mode::Sampled(_))))
            .finish_non_exhaustive()
    }
}
