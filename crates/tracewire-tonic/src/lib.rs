//! gRPC tracing for tonic: a server layer, a client layer and an inject-only interceptor.
//!
//! [`GrpcServerLayer`] gives every call a SERVER span that continues the caller's trace and
//! ends when the call does (its trailers, for a stream its last message), with the status
//! read from the response headers or trailers. [`GrpcClientLayer`] gives every call a CLIENT
//! span and sends its context in the metadata. [`TraceContextInterceptor`] only sends the
//! context. Sampling is decided before any span is created, as in the HTTP layers, and the
//! spans follow the OpenTelemetry RPC semantic conventions ([`RpcConventions`]).
//!
//! ```no_run
//! use tonic::transport::{Channel, Server};
//! use tower::ServiceBuilder;
//! use tracewire_tonic::{GrpcClientLayer, GrpcServerLayer};
//!
//! # async fn run(routes: tonic::service::Routes) -> Result<(), Box<dyn std::error::Error>> {
//! // A server:
//! Server::builder()
//!     .layer(GrpcServerLayer::new())
//!     .add_routes(routes) // or .add_service(GreeterServer::new(greeter))
//!     .serve("127.0.0.1:50051".parse()?)
//!     .await?;
//!
//! // A client:
//! let channel = ServiceBuilder::new()
//!     .layer(GrpcClientLayer::new().target("http://127.0.0.1:50051"))
//!     .service(Channel::from_static("http://127.0.0.1:50051").connect().await?);
//! // let client = GreeterClient::new(channel);
//! # let _ = channel;
//! # Ok(()) }
//! ```
//!
//! Spans are `tracing` spans bridged by `tracing-opentelemetry` unless a layer is given a
//! tracer provider (`tracer_provider`), exactly as in `tracewire-http`: logs inside a handler
//! carry the trace, and an HTTP handler that calls a gRPC client continues its trace.
//!
//! The layers serve tonic's own stacks — `Server::builder().layer(..)` and a tower stack around
//! a `Channel` — whose requests are `http::Request<tonic::body::Body>`; an axum router serving
//! tonic services is traced with the HTTP server layer instead.
//!
//! Health checks (`grpc.health.v1.Health`) and reflection get no span unless a layer's
//! `trace_health_checks(true)` asks for them; their context still flows.
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `transport` | `network.peer.address` and `network.peer.port` on server spans, from tonic's `TcpConnectInfo` (enables tonic's `server` feature) | no |
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.88.
//!
//! # Stability
//!
//! OpenTelemetry for Rust is 0.x; each release follows one opentelemetry version (currently
//! 0.33, with tracing-opentelemetry 0.34) and one tonic version (0.14).

mod body;
mod call;
pub mod client;
mod config;
mod interceptor;
mod metrics;
mod options;
pub mod semconv;
pub mod server;

pub use self::client::GrpcClientLayer;
pub use self::interceptor::TraceContextInterceptor;
pub use self::semconv::RpcConventions;
pub use self::server::GrpcServerLayer;
