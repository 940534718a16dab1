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
//! | `hyper-util` | `error.type` of hyper-util's client errors (`connect`, `timeout`) from the error's own predicates | no |
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
mod error;
pub mod filter;
pub mod hooks;
mod metrics;
mod options;
/// A Prometheus text endpoint for the layers' metrics (feature `prometheus`): the core's.
#[cfg(feature = "prometheus")]
pub use tracewire_core::prometheus;
mod record;
pub mod semconv;
pub mod server;

/// Log events as span events, for spans made directly with a tracer (feature `events`).
#[cfg(feature = "events")]
pub use tracewire_core::events;
/// Log lines that carry trace and span ids (feature `fmt`).
#[cfg(feature = "fmt")]
pub use tracewire_core::fmt;
