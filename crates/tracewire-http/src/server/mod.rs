//! The HTTP server layer: one SERVER span per request, context in, semantic conventions out.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tracewire_http::server::HttpServerLayer;
//!
//! async fn get_user() -> &'static str { "alice" }
//!
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(get_user))
//!     .layer(HttpServerLayer::new());
//! ```
//!
//! It also wraps any hyper service, through `tower::ServiceBuilder`:
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use tower::ServiceBuilder;
//! use tracewire_http::server::HttpServerLayer;
//!
//! let service = ServiceBuilder::new()
//!     .layer(HttpServerLayer::new())
//!     .service_fn(|_req: Request<hyper::body::Incoming>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("hello")))
//!     });
//! // serve it with hyper-util's `TowerToHyperService`.
//! # let _ = service;
//! ```
//!
//! # What happens per request
//!
//! 1. The incoming context is extracted with the layer's [`Propagator`] (W3C trace context and
//!    baggage by default): a strict, allocation-free parse.
//! 2. The [trust policy](TrustPolicy) decides what to do with it, and the layer's
//!    [sampler](HttpServerLayer::sampler) decides whether the request is sampled, **before any
//!    span exists**.
//! 3. A sampled request gets a `tracing` span ([`MakeSpan`]) whose
//!    parent is the incoming context; `tracing-opentelemetry` turns it into the OpenTelemetry
//!    SERVER span. It is entered while the handler runs (so logs carry it) and ends when the
//!    response body has been sent completely, or is dropped early (recorded as the event
//!    `http.response.body.dropped`).
//! 4. An unsampled request gets no span at all: the layer carries an OpenTelemetry `Context`
//!    with a new span id and the unsampled flag, attached while the handler runs, so calls made
//!    by the handler continue the trace as unsampled. This is what keeps an unsampled request
//!    cheap: building a bridged `tracing` span costs microseconds, the context costs tens of
//!    nanoseconds.
//!
//! In both cases the handler finds the `Context` in the request extensions and as
//! `opentelemetry::Context::current()`. For log lines that carry trace and span ids in both
//! cases, use the `fmt` feature's formatter (see [`crate::fmt`] when enabled).
//!
//! The span (or context) is current whenever the inner service runs: around its `call`, where
//! a plain tower or hyper service may run code before returning its future, and at every poll
//! of that future and of a streamed response body. axum's route service, which a layer added
//! with `Router::layer` wraps, runs no code in `call` (the handler runs when the future is
//! polled), so for it the layer skips that one switch, which for a bridged span is an enter and
//! exit of the `tracing` span.
//!
//! # Sampling
//!
//! The layer decides with its own sampler (any `opentelemetry_sdk` `ShouldSample`, default
//! `ParentBased(AlwaysOn)`, as the SDK's) because a span that is never created costs nothing,
//! and the span is then made with the trace id and span id the decision was made on. Build
//! the tracer provider with [`CallIdGenerator`](tracewire_core::provider::CallIdGenerator) so
//! the SDK uses those ids, and with [`LayerSampler`](tracewire_core::provider::LayerSampler)
//! around its sampler so the layer's decision is the only one (the set-up crate does both):
//!
//! ```
//! use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
//! use tracewire_core::provider::{CallIdGenerator, LayerSampler};
//! use tracewire_http::server::HttpServerLayer;
//!
//! let provider = SdkTracerProvider::builder()
//!     .with_id_generator(CallIdGenerator::new())
//!     .with_sampler(LayerSampler::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))))
//!     .build();
//! let layer = HttpServerLayer::new()
//!     .sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.5))));
//! # let _ = (provider, layer);
//! ```
//!
//! A trusted caller's B3 "deny" sent without ids (`b3: 0`, or a lone `X-B3-Sampled: 0`) makes
//! the request unsampled, and the decision travels on with the layer's own span id.

mod forwarded;
mod future;
pub(crate) mod layer;
mod request;
#[cfg(feature = "axum")]
mod route;
mod service;

use std::net::SocketAddr;

pub use self::future::ResponseFuture;
pub use self::layer::HttpServerLayer;
pub(crate) use self::request::route;
pub use self::request::{RequestInfo, SpanName};
#[cfg(feature = "axum")]
pub use self::route::{RecordRoute, RecordRouteService};
pub use self::service::HttpServer;
pub use crate::body::{HttpEnd, ResponseBody};
pub use crate::filter::{Filter, SkipHealthChecks, TraceAll};
pub use crate::hooks::{DefaultMakeSpan, DirectSpans, MakeSpan, OnRequest, OnResponse};
pub use tracewire_core::TrustPolicy;
pub use tracewire_propagation::Propagator;

/// An opt-in response header that lets a caller find the trace. Baggage and tracestate are
/// never echoed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseHeader {
    /// W3C Trace Context Level 2 `traceresponse: 00-{trace-id}-{span-id}-{flags}`, with the
    /// server span's id.
    TraceResponse,
    /// The trace id alone, in a header of your choice (`x-trace-id`, say).
    TraceId(http::HeaderName),
}

/// A response extension that ends the response's span at its headers, for a handler that
/// knows its body lasts as long as the client stays (an event stream, a long poll). The same
/// as [`HttpServerLayer::end_at_headers`], chosen by the handler.
///
/// ```
/// use axum::{Extension, Router, routing::get};
/// use tracewire_http::server::{EndAtHeaders, HttpServerLayer};
///
/// async fn events() -> (Extension<EndAtHeaders>, &'static str) {
///     (Extension(EndAtHeaders), "data: hello\n\n")
/// }
///
/// let app: Router = Router::new().route("/events", get(events)).layer(HttpServerLayer::new());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndAtHeaders;

/// The peer address of a connection, for servers that are not axum: insert it into the
/// request extensions (axum's `ConnectInfo<SocketAddr>` is read with the `axum` feature).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);
