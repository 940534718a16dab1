//! The hooks every layer takes, in the style of tower-http's `trace` module: traits with a
//! blanket implementation for closures and `()` as the no-op. They run for sampled calls
//! only, in both span modes (a bridged `tracing` span or a span made directly with a tracer),
//! and see the span through [`RequestSpan`], which works the same in both.
//!
//! | hook | runs | HTTP server | HTTP client | gRPC server | gRPC client |
//! |---|---|:-:|:-:|:-:|:-:|
//! | [`Filter`](crate::filter::Filter) | before anything, for every call | ✓ | ✓ | ✓ | ✓ |
//! | [`OnRequest`] | once the span exists, before the inner service | ✓ | ✓ | ✓ | ✓ |
//! | [`OnResponse`] | when the response headers arrive | ✓ | ✓ | ✓ | ✓ |
//!
//! The HTTP server also takes a `make_span_with` hook that makes the bridged `tracing` span
//! itself; it cannot be combined with a layer's `tracer_provider` (the types do not allow it).

use std::time::Duration;

use http::{Request, Response};

use crate::RequestSpan;

/// Runs when a sampled call's span has been made, before the inner service is called: add
/// attributes from the request or rename the span, in either span mode.
///
/// ```
/// use http::Request;
/// use opentelemetry::KeyValue;
/// use tracewire_core::RequestSpan;
/// use tracewire_core::hooks::OnRequest;
///
/// let mut tag_tenant = |request: &Request<()>, span: &RequestSpan<'_>| {
///     if let Some(tenant) = request.headers().get("x-tenant").and_then(|v| v.to_str().ok()) {
///         span.set_attribute(KeyValue::new("app.tenant", tenant.to_owned()));
///     }
/// };
/// let request = Request::get("/").header("x-tenant", "acme").body(()).unwrap();
/// tag_tenant.on_request(&request, &RequestSpan::tracing(&tracing::Span::none()));
/// ```
pub trait OnRequest<B> {
    /// Called with the request and its span.
    fn on_request(&mut self, request: &Request<B>, span: &RequestSpan<'_>);
}

impl<B> OnRequest<B> for () {
    #[inline]
    fn on_request(&mut self, _: &Request<B>, _: &RequestSpan<'_>) {}
}

impl<B, F> OnRequest<B> for F
where
    F: FnMut(&Request<B>, &RequestSpan<'_>),
{
    fn on_request(&mut self, request: &Request<B>, span: &RequestSpan<'_>) {
        self(request, span);
    }
}

/// Runs when the response headers are ready, for sampled calls: add attributes from the
/// response (`user.id` set by the handler in an extension, say) or rename the span. `latency`
/// is the time from the request to the response headers; the span itself lasts until the
/// call ends (the body's end, or a gRPC call's trailers).
///
/// ```
/// use std::time::Duration;
/// use http::Response;
/// use opentelemetry::KeyValue;
/// use tracewire_core::RequestSpan;
/// use tracewire_core::hooks::OnResponse;
///
/// let mut class = |response: &Response<()>, _latency: Duration, span: &RequestSpan<'_>| {
///     let class = format!("{}xx", response.status().as_u16() / 100);
///     span.set_attribute(KeyValue::new("app.status_class", class));
/// };
/// let response = Response::new(());
/// class.on_response(&response, Duration::ZERO, &RequestSpan::tracing(&tracing::Span::none()));
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
