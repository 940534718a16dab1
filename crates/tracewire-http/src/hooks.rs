//! Hooks that customise the spans, in the style of tower-http's `trace` module: traits with a
//! default implementation, a blanket implementation for closures, and `()` as the no-op.
//! [`OnRequest`], [`OnResponse`] and [`Filter`](crate::filter::Filter) are the core's, taken by
//! every layer (HTTP and gRPC) in both span modes; [`MakeSpan`] is the HTTP server's maker of
//! the bridged `tracing` span.

use http::Request;
use tracing::Span;

use crate::server::RequestInfo;

pub use tracewire_core::RequestSpan;
pub use tracewire_core::hooks::{OnRequest, OnResponse};

/// Creates the `tracing` span of a sampled request. Runs once per sampled request, before the
/// inner service is called; unsampled and filtered requests get no span. A layer with a span
/// maker of its own has no `tracer_provider` (the direct mode makes no `tracing` span), and a
/// layer in the direct mode has no `make_span_with`: the combination does not compile.
/// [`OnRequest`] renames the span or adds attributes in both modes.
///
/// The direct mode and a span maker do not combine, in either order:
///
/// ```compile_fail
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracewire_http::server::{HttpServerLayer, RequestInfo};
///
/// let provider = SdkTracerProvider::builder().build();
/// let layer = HttpServerLayer::new()
///     .tracer_provider(&provider)
///     .make_span_with(|_: &http::Request<()>, info: &RequestInfo<'_>| info.default_span());
/// ```
///
/// ```compile_fail
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracewire_http::server::{HttpServerLayer, RequestInfo};
///
/// let provider = SdkTracerProvider::builder().build();
/// let layer = HttpServerLayer::new()
///     .make_span_with(|_: &http::Request<()>, info: &RequestInfo<'_>| info.default_span())
///     .tracer_provider(&provider);
/// ```
///
/// Each alone compiles:
///
/// ```
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracewire_http::server::{HttpServerLayer, RequestInfo};
///
/// let provider = SdkTracerProvider::builder().build();
/// let direct = HttpServerLayer::new().tracer_provider(&provider);
/// let bridged = HttpServerLayer::new()
///     .make_span_with(|_: &http::Request<()>, info: &RequestInfo<'_>| info.default_span());
/// # let _ = (direct, bridged);
/// ```
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

/// The span maker of a layer in the direct mode
/// ([`HttpServerLayer::tracer_provider`](crate::server::HttpServerLayer::tracer_provider)): the
/// span is made with the tracer, from the same name and attributes as the default `tracing`
/// span. A layer in this state has no `make_span_with` (a `tracing` span maker would have no
/// effect there); use [`on_request`](crate::server::HttpServerLayer::on_request), which works
/// in both modes, to rename the span or add attributes.
#[derive(Clone, Copy, Debug, Default)]
pub struct DirectSpans;

impl<B> MakeSpan<B> for DirectSpans {
    fn make_span(&mut self, _request: &Request<B>, info: &RequestInfo<'_>) -> Span {
        // Not called: the core makes a direct span without asking for a `tracing` one.
        info.default_span()
    }
}
