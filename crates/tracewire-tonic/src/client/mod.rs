//! The gRPC client layer: one CLIENT span per call, context out.
//!
//! ```no_run
//! use tonic::transport::Channel;
//! use tower::ServiceBuilder;
//! use tracewire_tonic::GrpcClientLayer;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let channel = ServiceBuilder::new()
//!     .layer(GrpcClientLayer::new().target("http://127.0.0.1:50051"))
//!     .service(Channel::from_static("http://127.0.0.1:50051").connect().await?);
//! // let client = GreeterClient::new(channel);
//! # let _ = channel;
//! # Ok(()) }
//! ```
//!
//! # What happens per call
//!
//! The parent is the current OpenTelemetry context (the server layers keep a request's context
//! current while its handler runs, sampled or not). A sampled parent gets a CLIENT span named
//! `package.Service/Method`; an unsampled parent gets no span, only a new span id. Either way
//! the call carries its own span id in the request metadata, even when the span is filtered
//! out. Baggage goes only with [`send_baggage`](GrpcClientLayer::send_baggage).
//!
//! The span ends when the call does: on a trailers-only response at once, otherwise when the
//! response body has been read to its trailers (a server stream is timed to its last message)
//! or dropped. Every status but `OK` makes a client span an error. A transport error is
//! recorded with the status the application sees (`UNAVAILABLE` for a failed connection,
//! `CANCELLED` for a timeout, as tonic maps them) and an `exception` event; a call the caller
//! drops is recorded as `CANCELLED` with the event `rpc.cancelled`. The event
//! `rpc.response.headers` marks the time to the response headers.

mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::GrpcClientLayer;
pub use self::service::GrpcClient;
pub use crate::body::{GrpcEnd, ResponseBody};
