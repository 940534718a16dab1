//! The gRPC server layer: one SERVER span per call, the caller's context in.
//!
//! ```no_run
//! use tonic::transport::Server;
//! use tracewire_tonic::GrpcServerLayer;
//!
//! # async fn run(routes: tonic::service::Routes) -> Result<(), Box<dyn std::error::Error>> {
//! Server::builder()
//!     .layer(GrpcServerLayer::new())
//!     // .add_service(GreeterServer::new(greeter))
//!     .add_routes(routes)
//!     .serve("127.0.0.1:50051".parse()?)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # What happens per call
//!
//! The context is read from the request metadata with the layer's propagator (W3C trace
//! context and baggage by default) under its [`TrustPolicy`]. Sampling is decided before any
//! span exists: a sampled call gets a SERVER span named `package.Service/Method` (a bridged
//! `tracing` span, or a span made directly with
//! [`tracer_provider`](GrpcServerLayer::tracer_provider)'s tracer); an unsampled call gets
//! only a context with its own span id. Either way the context is current while the handler
//! runs and while a response stream is produced, and is in the request extensions, so calls
//! the handler makes continue the trace.
//!
//! The span ends when the call does: at once for a trailers-only response (a unary error),
//! otherwise when the response body ends with its trailers, so a streaming call is timed to
//! its last message. The status comes from `grpc-status`; `UNKNOWN`, `DEADLINE_EXCEEDED`,
//! `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE` and `DATA_LOSS` make a server span an error, the
//! other codes (a client's mistake) do not. A call dropped before its end — the client
//! cancelled, or tonic's `grpc-timeout` handling gave up — is recorded with the event
//! `rpc.cancelled` and the status `DEADLINE_EXCEEDED` when the caller's deadline has passed,
//! `CANCELLED` otherwise.
//!
//! Attributes follow [`RpcConventions`](crate::RpcConventions): `rpc.system.name`,
//! `rpc.method`, `rpc.response.status_code`, `error.type`, `server.address`/`server.port`
//! (from the request's authority) and, with the feature `transport`,
//! `network.peer.address`/`network.peer.port`.

mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::GrpcServerLayer;
pub use self::service::GrpcServer;
pub use crate::body::{GrpcEnd, ResponseBody};
pub use tracewire_core::TrustPolicy;
pub use tracewire_core::filter::{Filter, TraceAll};
