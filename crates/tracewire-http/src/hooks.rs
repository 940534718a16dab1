//! Hooks that customise the spans, in the style of tower-http's `trace` module: traits with a
//! default implementation, a blanket implementation for closures, and `()` as the no-op.

use std::time::Duration;

use http::{Request, Response};
use tracing::Span;

use crate::server::RequestInfo;

pub use tracewire_core::RequestSpan;

/// Creates the `tracing` span of a sampled request. Runs once per sampled request, before the
/// inner service is called; unsampled and filtered requests get no span, and neither do
/// requests in the direct mode ([`HttpServerLayer::tracer_provider`](crate::server::HttpServerLayer::tracer_provider)).
///
/// The span must declare the fields the layer records later (`http.response.status_code`,
/// `error.type`, `otel.status_code`) for them to be exported; starting from
/// [`RequestInfo::default_span`] does that.
///
/// ```
/// use http::Request;
/// use tracewire_http::server::{HttpServerLayer, RequestInfo};
///
/// // Rename every span and add a field of your own.
/// let layer = HttpServerLayer::new().make_span_with(|_request: &Request<axum::body::Body>, info: &RequestInfo<'_>| {
///     let span = info.default_span();
///     span.record("otel.name", format!("api {}", info.name()));
///     span
/// });
/// # let _ = layer;
/// ```
pub trait MakeSpan<B> {
    /// Makes the span for `request`.
    fn make_span(&mut self, request: &Request<B>, info: &RequestInfo<'_>) -> Span;
}

/// The default: [`RequestInfo::default_span`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultMakeSpan;

impl<B> MakeSpan<B> for DefaultMakeSpan {
    fn make_span(&mut self, _request: &Request<B>, info: &RequestInfo<'_>) -> Span {
        info.default_span()
    }
}

impl<B, F> MakeSpan<B> for F
where
    F: FnMut(&Request<B>, &RequestInfo<'_>) -> Span,
{
    fn make_span(&mut self, request: &Request<B>, info: &RequestInfo<'_>) -> Span {
        self(request, info)
    }
}

/// Runs when the response headers are ready, for sampled requests: add attributes from the
/// response (`user.id` set by the handler in an extension, say) or rename the span. `latency`
/// is the time from the request to the response headers; the span itself lasts until the
/// body ends.
///
/// ```
/// use std::time::Duration;
/// use http::Response;
/// use opentelemetry::KeyValue;
/// use tracewire_http::hooks::RequestSpan;
/// use tracewire_http::server::HttpServerLayer;
///
/// #[derive(Clone)]
/// struct UserId(String);
///
/// let layer = HttpServerLayer::new().on_response(
///     |response: &Response<axum::body::Body>, _latency: Duration, span: &RequestSpan<'_>| {
///         if let Some(user) = response.extensions().get::<UserId>() {
///             span.set_attribute(KeyValue::new("user.id", user.0.clone()));
///         }
///     },
/// );
/// # let _ = layer;
/// ```
pub trait OnResponse<B> {
    /// Called with the response, its latency and the span.
    fn on_response(&mut self, response: &Response<B>, latency: Duration, span: &RequestSpan<'_>);
}

impl<B> OnResponse<B> for () {
    #[inline]
    fn on_response(&mut self, _: &Response<B>, _: Duration, _: &RequestSpan<'_>) {}
}

impl<B, F> OnResponse<B> for F
where
    F: FnMut(&Response<B>, Duration, &RequestSpan<'_>),
{
    fn on_response(&mut self, response: &Response<B>, latency: Duration, span: &RequestSpan<'_>) {
        self(response, latency, span);
    }
}
