use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Instant;

use http::{HeaderValue, Response};
use opentelemetry::{Context, KeyValue};
use pin_project_lite::pin_project;
use tracewire_propagation::traceparent::TraceParent;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::ResponseHeader;
use super::body::ResponseBody;
use super::layer::Config;
use super::service::record_headers;
use crate::hooks::OnResponse;
use crate::semconv;

/// What a sampled request carries until its response.
pub(crate) struct Sampled<R> {
    pub(crate) span: Span,
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
        let result = match this.mode {
            Some(Mode::Sampled(s)) => {
                let _entered = s.span.enter();
                ready!(this.inner.poll(cx))
            }
            Some(Mode::Unsampled(otel_cx)) => {
                let _guard = otel_cx.clone().attach();
                ready!(this.inner.poll(cx))
            }
            None => ready!(this.inner.poll(cx)),
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
                        let status = response.status();
                        s.span.record(
                            semconv::HTTP_RESPONSE_STATUS_CODE,
                            i64::from(status.as_u16()),
                        );
                        if let Some(error) = semconv::status_error(&status, false) {
                            s.span.record(semconv::ERROR_TYPE, error);
                            s.span.record("otel.status_code", "error");
                        }
                        if let Some(settings) = &settings {
                            record_headers(
                                &s.span,
                                "http.response.header.",
                                &settings.capture,
                                response.headers(),
                            );
                        }
                        s.on_response
                            .on_response(&response, s.start.elapsed(), &s.span);
                        super::body::State::Sampled(s.span)
                    }
                    Some(Mode::Unsampled(otel_cx)) => super::body::State::Unsampled(otel_cx),
                    None => super::body::State::Done,
                };
                Ok(response.map(|body| ResponseBody::new(body, body_state)))
            }
            Err(error) => {
                if let Some(Mode::Sampled(s)) = mode {
                    record_error(&s.span, std::any::type_name::<E>(), &error);
                }
                Err(error)
            }
        })
    }
}

/// Marks the span as failed with `error`: `error.type`, error status and an `exception` event.
pub(crate) fn record_error(span: &Span, error_type: &str, error: &dyn fmt::Display) {
    span.record(semconv::ERROR_TYPE, error_type);
    span.record("otel.status_code", "error");
    let message = error.to_string();
    span.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", error_type.to_owned()),
            KeyValue::new("exception.message", message),
        ],
    );
}

impl<F: fmt::Debug, R> fmt::Debug for ResponseFuture<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .field("sampled", &matches!(self.mode, Some(Mode::Sampled(_))))
            .finish_non_exhaustive()
    }
}
