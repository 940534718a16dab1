//! HTTP tracing middleware for axum, hyper and any tower HTTP service.
//!
//! [`server::HttpServerLayer`] gives every request a SERVER span that continues the caller's
//! trace, follows the OpenTelemetry HTTP semantic conventions and ends when the response body
//! has been sent. [`client::HttpClientLayer`] gives every outgoing request a CLIENT span and
//! sends its context on. Sampling is decided before any span is created, so an unsampled
//! request costs little more than parsing its `traceparent`.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tracewire_http::server::HttpServerLayer;
//!
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "alice" }))
//!     .layer(HttpServerLayer::new());
//! ```
//!
//! Spans are `tracing` spans: install `tracing-opentelemetry`'s layer with your tracer and
//! they reach any OpenTelemetry exporter.
//!
//! ```
//! use opentelemetry::trace::TracerProvider as _;
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use tracing_subscriber::prelude::*;
//!
//! let provider = SdkTracerProvider::builder().build(); // add your exporter
//! let subscriber = tracing_subscriber::registry()
//!     .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("my-service")));
//! # let _ = subscriber;
//! ```
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `axum` | span names from axum's `MatchedPath` (`GET /users/{id}`), `client.address` from `ConnectInfo` | no |
//! | `fmt` | a `tracing-subscriber` formatter whose log lines carry trace and span ids | no |
//! | `events` | a `tracing-subscriber` layer that records log events on spans made directly with a tracer (the server layer's direct mode) | no |
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.88.
//!
//! # Stability
//!
//! OpenTelemetry for Rust is 0.x; each release follows one opentelemetry version (currently
//! 0.33, with tracing-opentelemetry 0.34).

mod body;
pub mod client;
#[cfg(feature = "events")]
pub mod events;
pub mod filter;
#[cfg(feature = "fmt")]
pub mod fmt;
pub mod hooks;
mod inbound;
mod options;
mod sampling;
pub mod semconv;
pub mod server;
mod span;

/// Building blocks shared with tracewire's other layer crates (the gRPC layers). Not a public
/// API: it changes in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::client::port;
    pub use crate::inbound::{Head, Incoming, child_of};
    pub use crate::options::SpanOptions;
    pub use crate::sampling::{Decider, Decision};
    pub use crate::server::layer::{PropagatorChoice, Spans};
    pub use crate::server::names::RouteNames as Interner;
    pub use crate::span::SampledSpan;
    pub use {opentelemetry, opentelemetry_sdk, tracewire_propagation};
}
