//! The gRPC service the examples share: the `greeter.v1.Greeter` proto (compiled by the build
//! script with a vendored protoc), a `Hello` server for it, and [`serve`] to run a tonic
//! server on loopback.

use std::net::SocketAddr;

/// The generated code.
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
pub mod pb {
    tonic::include_proto!("greeter.v1");
}

pub use pb::greeter_client::GreeterClient;
pub use pb::greeter_server::{Greeter, GreeterServer};
pub use pb::{HelloReply, HelloRequest};

/// Answers `hello, {name}`, logging the call (the log line carries the trace).
#[derive(Clone, Copy, Debug, Default)]
pub struct Hello;

#[tonic::async_trait]
impl Greeter for Hello {
    async fn say_hello(
        &self,
        request: tonic::Request<HelloRequest>,
    ) -> Result<tonic::Response<HelloReply>, tonic::Status> {
        let name = request.into_inner().name;
        tracing::info!(%name, "greeting");
        Ok(tonic::Response::new(HelloReply {
            message: format!("hello, {name}"),
        }))
    }
}

/// Serves `router` (a `Server::builder()` with its layers and services) on 127.0.0.1 at a
/// free port; returns the address.
pub async fn serve<L, ResBody>(
    router: tonic::transport::server::Router<L>,
) -> std::io::Result<SocketAddr>
where
    L: tower::Layer<tonic::service::Routes> + Clone + Send + 'static,
    L::Service: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    <L::Service as tower::Service<http::Request<tonic::body::Body>>>::Future: Send + 'static,
    <L::Service as tower::Service<http::Request<tonic::body::Body>>>::Error:
        Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        router.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    Ok(addr)
}
