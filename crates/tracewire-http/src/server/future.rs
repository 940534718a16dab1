use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Instant;

use http::{HeaderValue, Response};
use opentelemetry::Context;
use pin_project_lite::pin_project;
use tracewire_propagation::traceparent::TraceParent;

use super::ResponseHeader;
use super::layer::Config;
use super::service::EndsAt;
use super::service::record_headers;
use crate::body::{ResponseBody, State};
use crate::hooks::OnResponse;
use crate::metrics::HttpCall;
use crate::record::{record_failure, record_status};
use tracewire_core::SampledSpan;

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
        // The request's measurement, where the call ends as far as the request says, and
        // which other responses end it at their headers.
        metric: Option<HttpCall>,
        ends_at: EndsAt,
        end_at_headers: Option<super::layer::EndAtHeaders>,
    }
}

impl<F, R> ResponseFuture<F, R> {
    pub(crate) fn sampled(
        inner: F,
        sampled: Sampled<R>,
        own: Option<TraceParent>,
        config: &Config,
        metric: Option<HttpCall>,
        ends_at: EndsAt,
    ) -> Self {
        Self {
            inner,
            mode: Some(Mode::Sampled(sampled)),
            settings: settings(own, config, true),
            metric,
            ends_at,
            end_at_headers: config.end_at_headers.clone(),
        }
    }

    pub(crate) fn unsampled(
        inner: F,
        cx: Context,
        own: Option<TraceParent>,
        config: &Config,
        metric: Option<HttpCall>,
        ends_at: EndsAt,
    ) -> Self {
        let end_at_headers = if metric.is_some() {
            config.end_at_headers.clone()
        } else {
            None
        };
        Self {
            inner,
            mode: Some(Mode::Unsampled(cx)),
            settings: settings(own, config, false),
            metric,
            ends_at,
            end_at_headers,
        }
    }
}

#[inline]
fn settings(
    own: Option<TraceParent>,
    config: &Config,
    sampled: bool,
) -> Option<Box<ResponseSettings>> {
    if config.response_header.is_none() && (!sampled || config.response_headers.is_empty()) {
        return None;
    }
    make_settings(own, config, sampled)
}

fn make_settings(
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
    E: fmt::Display + 'static,
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
        let mut metric = this.metric.take();
        Poll::Ready(match result {
            Ok(mut response) => {
                if let Some(settings) = &settings
                    && let Some((name, value)) = &settings.header
                {
                    response.headers_mut().insert(name.clone(), value.clone());
                }
                let status = response.status();
                // Nothing more will be sent for this call at its headers: no body to wait
                // for (hyper may never poll it), or a protocol switch.
                let ends_now = ends_at_headers(*this.ends_at, status)
                    || no_body_follows(status)
                    || response.extensions().get::<super::EndAtHeaders>().is_some()
                    || this
                        .end_at_headers
                        .as_ref()
                        .is_some_and(|end| end(status, response.headers()));
                if let Some(m) = &mut metric {
                    m.status(status);
                }
                if ends_now && let Some(m) = metric.take() {
                    m.finish();
                }
                let body_state = match mode {
                    Some(Mode::Sampled(mut s)) => {
                        record_status(&s.span, response.status(), false);
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
                        if ends_now {
                            s.span.end();
                            State::Done
                        } else {
                            State::Sampled(s.span)
                        }
                    }
                    Some(Mode::Unsampled(otel_cx)) => State::Unsampled(otel_cx),
                    None => State::Done,
                };
                Ok(response.map(|body| crate::body::response_body(body, body_state, true, metric)))
            }
            Err(error) => {
                if let Some(Mode::Sampled(s)) = mode {
                    record_failure(&s.span, &error);
                    s.span.end();
                }
                if let Some(mut m) = metric {
                    m.failed(crate::error::transport_error_type(&error));
                    m.finish();
                }
                Err(error)
            }
        })
    }
}

/// Whether the request chose to end at the headers (`HEAD`, a route chosen to, a tunnel that
/// a `CONNECT` opened).
fn ends_at_headers(at: super::service::EndsAt, status: http::StatusCode) -> bool {
    match at {
        super::service::EndsAt::Body => false,
        super::service::EndsAt::Headers => true,
        super::service::EndsAt::HeadersIfSuccess => status.is_success(),
    }
}

/// Whether a response with `status` has no body to send: `101 Switching Protocols` (what
/// follows belongs to the new protocol), `204` and `304`.
fn no_body_follows(status: http::StatusCode) -> bool {
    status == http::StatusCode::SWITCHING_PROTOCOLS
        || status == http::StatusCode::NO_CONTENT
        || status == http::StatusCode::NOT_MODIFIED
}

impl<F: fmt::Debug, R> fmt::Debug for ResponseFuture<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .field("sampled", &matches!(self.mode, Some(Mode::Sampled(_))))
            .finish_non_exhaustive()
    }
}
