//! Distributed tracing for Rust services, across every hop.
//!
//! `tracewire` is a set of tower middleware and a strict propagation crate that make one
//! connected trace per request across axum/hyper HTTP servers, hyper/reqwest HTTP clients and
//! tonic gRPC servers and clients. This crate is the facade: it re-exports the parts, one
//! feature per part.
//!
//! ```
//! use http::HeaderMap;
//! use opentelemetry::Context;
//! use tracewire::propagation::Propagator;
//!
//! let propagator = Propagator::new(); // W3C trace context + baggage
//! let mut incoming = HeaderMap::new();
//! incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! let cx = propagator.extract(&incoming).into_context(&Context::new());
//!
//! let mut outgoing = HeaderMap::new();
//! propagator.inject_context(&cx, &mut outgoing);
//! assert!(outgoing.contains_key("traceparent"));
//! ```
//!
//! With the `http` feature, the HTTP server layer (`tracewire::http`):
//!
//! ```
//! # #[cfg(feature = "http")]
//! # fn main() {
//! use axum::{Router, routing::get};
//!
//! async fn get_user() -> &'static str { "alice" }
//!
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(get_user))
//!     .layer(tracewire::http::HttpServerLayer::new());
//! # }
//! # #[cfg(not(feature = "http"))]
//! # fn main() {}
//! ```
//!
//! With the `tonic` feature, the gRPC layers (`tracewire::grpc`):
//!
//! ```
//! # #[cfg(feature = "tonic")]
//! # fn main() {
//! use tower::ServiceBuilder;
//!
//! let server = tonic::transport::Server::builder().layer(tracewire::grpc::GrpcServerLayer::new());
//! let client_stack = ServiceBuilder::new().layer(tracewire::grpc::GrpcClientLayer::new());
//! let interceptor = tracewire::grpc::TraceContextInterceptor::new();
//! # let _ = (server, client_stack, interceptor);
//! # }
//! # #[cfg(not(feature = "tonic"))]
//! # fn main() {}
//! ```
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `http` | the HTTP server and client layers, as `tracewire::http` | no |
//! | `axum` | span names from axum's `MatchedPath`, `client.address` from `ConnectInfo` (implies `http`) | no |
//! | `fmt` | a `tracing-subscriber` formatter whose log lines carry trace and span ids, as `tracewire::fmt` (also `tracewire::http::fmt` with `http`) | no |
//! | `events` | a `tracing-subscriber` layer recording log events on directly made spans, as `tracewire::events` (also `tracewire::http::events` with `http`) | no |
//! | `hyper-util` | `error.type` of hyper-util's client errors from their own predicates (implies `http`) | no |
//! | `reqwest` | the reqwest-middleware integration, as `tracewire::reqwest` (implies `http`) | no |
//! | `tonic` | the gRPC server and client layers and the interceptor, as `tracewire::grpc`; carriers for tonic's `MetadataMap` in [`propagation`] | no |
//! | `grpc-transport` | `network.peer.address`/`network.peer.port` on gRPC server spans, from tonic's `TcpConnectInfo` (implies `tonic`) | no |
//! | `sampling` | samplers: rules, adaptive rate, keeping errors and slow requests, as `tracewire::sampling` | no |
//! | `init` | one-call set-up from `OTEL_*` variables and the terminal trace-tree exporter, as `tracewire::init` | no |
//! | `full` | every part | no |
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.88.
//!
//! # Stability
//!
//! OpenTelemetry for Rust is 0.x; each release of tracewire follows one opentelemetry version
//! (currently 0.33).

#[doc(inline)]
pub use tracewire_propagation as propagation;

/// The call core every layer adapts: trust, ids and the sampling decision, spans in either
/// mode, injection, typed `error.type`, and the tracer-provider pieces that hand the SDK the
/// layers' ids and decisions ([`core::provider`]).
#[doc(inline)]
pub use tracewire_core as core;

#[cfg(feature = "events")]
#[doc(inline)]
pub use tracewire_core::events;
#[cfg(feature = "fmt")]
#[doc(inline)]
pub use tracewire_core::fmt;

/// HTTP tracing middleware: the server and client layers and their hooks (feature `http`).
///
/// The server layer's types are re-exported here, and the rest of `tracewire-http` under the
/// same module names.
#[cfg(feature = "http")]
pub mod http {
    #[doc(inline)]
    pub use tracewire_http::client::{HttpClient, HttpClientLayer, UrlTemplate};
    #[cfg(feature = "prometheus")]
    pub use tracewire_http::prometheus;
    #[doc(inline)]
    pub use tracewire_http::server::{
        HttpServer, HttpServerLayer, PeerAddr, RequestInfo, ResponseBody, ResponseFuture,
        ResponseHeader, SkipHealthChecks, TrustPolicy,
    };
    #[doc(inline)]
    pub use tracewire_http::{client, filter, hooks, semconv, server};

    #[cfg(feature = "events")]
    #[doc(inline)]
    pub use tracewire_core::events;
    #[cfg(feature = "fmt")]
    #[doc(inline)]
    pub use tracewire_core::fmt;
}

/// The reqwest-middleware integration (feature `reqwest`).
#[cfg(feature = "reqwest")]
pub mod reqwest {
    #[doc(inline)]
    pub use tracewire_reqwest::TracingMiddleware;
}

/// gRPC tracing for tonic: server and client layers and an inject-only interceptor (feature
/// `tonic`).
#[cfg(feature = "tonic")]
pub mod grpc {
    #[doc(inline)]
    pub use tracewire_tonic::*;
}

/// Samplers that keep cost down without going blind: rules, adaptive rate, and keeping errors
/// and slow requests (feature `sampling`).
#[cfg(feature = "sampling")]
#[doc(inline)]
pub use tracewire_sampling as sampling;

/// One-call set-up from the `OTEL_*` variables, and the terminal trace-tree exporter (feature
/// `init`).
#[cfg(feature = "init")]
#[doc(inline)]
pub use tracewire_init as init;
