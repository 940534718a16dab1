//! The gRPC side of the tests: the `Echo` service compiled from `proto/echo.proto`, a server
//! for it on 127.0.0.1:0 and channels to it.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use tokio_stream::{Stream, StreamExt};
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

/// The generated code.
#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::all
)]
pub mod pb {
    tonic::include_proto!("test.echo.v1");
}

use pb::echo_server::{Echo, EchoServer};
use pb::{EchoReply, EchoRequest};

/// The `Echo` service: answers with the status, number of replies and delay each request asks
/// for, and echoes the trace metadata it received.
#[derive(Clone, Copy, Debug, Default)]
pub struct EchoService;

fn trace_metadata<T>(request: &Request<T>) -> std::collections::HashMap<String, String> {
    [
        "traceparent",
        "tracestate",
        "baggage",
        "b3",
        "uber-trace-id",
    ]
    .into_iter()
    .filter_map(|k| {
        let v = request.metadata().get(k)?.to_str().ok()?;
        Some((k.to_owned(), v.to_owned()))
    })
    .collect()
}

fn reply(message: String, metadata: std::collections::HashMap<String, String>) -> EchoReply {
    EchoReply {
        message,
        metadata,
        outgoing: crate::outgoing_traceparent(),
    }
}

fn check(request: &EchoRequest) -> Result<(), Status> {
    match request.code {
        0 => Ok(()),
        code => Err(Status::new(
            tonic::Code::from_i32(code),
            format!("asked for {code}"),
        )),
    }
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let metadata = trace_metadata(&request);
        let request = request.into_inner();
        tracing::info!(message = %request.message, "unary call");
        if request.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(request.delay_ms)).await;
        }
        check(&request)?;
        Ok(Response::new(reply(request.message, metadata)))
    }

    type ServerStreamStream = ReplyStream;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let metadata = trace_metadata(&request);
        let request = request.into_inner();
        let delay = Duration::from_millis(request.delay_ms);
        let count = request.count;
        let code = request.code;
        let stream = async_stream(count, delay, code, request.message, metadata);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let metadata = trace_metadata(&request);
        let mut stream = request.into_inner();
        let mut messages = Vec::new();
        while let Some(item) = stream.next().await {
            let item = item?;
            check(&item)?;
            messages.push(item.message);
        }
        Ok(Response::new(reply(messages.join(","), metadata)))
    }

    type BidiStream = ReplyStream;

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let metadata = trace_metadata(&request);
        let stream = request.into_inner().map(move |item| {
            let item = item?;
            check(&item)?;
            Ok(reply(item.message, metadata.clone()))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// `count` replies `delay` apart, then `code`.
fn async_stream(
    count: u32,
    delay: Duration,
    code: i32,
    message: String,
    metadata: std::collections::HashMap<String, String>,
) -> impl Stream<Item = Result<EchoReply, Status>> + Send {
    let replies = tokio_stream::iter(0..count).then(move |i| {
        let message = format!("{message} {i}");
        let metadata = metadata.clone();
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(reply(message, metadata))
        }
    });
    let end = tokio_stream::iter(
        (code != 0).then(|| Err(Status::new(tonic::Code::from_i32(code), "stream failed"))),
    );
    replies.chain(end)
}

/// The client of the `Echo` server through a client layer with hooks `R`, `F`, `Q`.
pub type EchoThrough<R = (), F = tracewire_tonic::server::TraceAll, Q = ()> =
    pb::echo_client::EchoClient<tracewire_tonic::client::GrpcClient<Channel, R, F, Q>>;

/// A server with `layer` on 127.0.0.1:0, and a client to it through `client_layer`.
pub async fn pair<R, F, Q, CR, CF, CQ>(
    layer: tracewire_tonic::GrpcServerLayer<R, F, Q>,
    client_layer: tracewire_tonic::GrpcClientLayer<CR, CF, CQ>,
) -> (EchoThrough<CR, CF, CQ>, SocketAddr)
where
    R: tracewire_core::hooks::OnResponse<tonic::body::Body> + Clone + Send + Sync + 'static,
    F: tracewire_core::filter::Filter<tonic::body::Body> + Clone + Send + Sync + 'static,
    Q: tracewire_core::hooks::OnRequest<tonic::body::Body> + Clone + Send + Sync + 'static,
    CR: tracewire_core::hooks::OnResponse<tonic::body::Body> + Clone,
    CF: tracewire_core::filter::Filter<tonic::body::Body> + Clone,
    CQ: tracewire_core::hooks::OnRequest<tonic::body::Body> + Clone,
{
    let addr = serve_grpc(
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(echo_server()),
    )
    .await;
    let channel = tower::ServiceBuilder::new()
        .layer(client_layer.target(&format!("http://{addr}")))
        .service(channel(addr).await);
    (pb::echo_client::EchoClient::new(channel), addr)
}

/// An incoming context with [`TRACE`](crate::TRACE)/[`SPAN`](crate::SPAN) and `flags`, plus
/// optional headers (`tracestate`, `baggage`).
pub fn parent(flags: &str, extra: &[(&str, &str)]) -> opentelemetry::Context {
    let mut headers = http::HeaderMap::new();
    headers.insert("traceparent", crate::traceparent(flags).parse().unwrap());
    for (k, v) in extra {
        headers.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    tracewire_propagation::Propagator::new()
        .extract_context(&headers, &opentelemetry::Context::new())
}

/// An `Echo` request for `message`.
pub fn request(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        ..Default::default()
    }
}

/// A channel to `addr`.
pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// The `Echo` server, for `Server::builder().layer(..).add_service(..)`.
pub fn echo_server() -> EchoServer<EchoService> {
    EchoServer::new(EchoService)
}

/// Serves `router` (a `Server::builder()` with its layers and services) on 127.0.0.1:0;
/// returns its address.
pub async fn serve_grpc<L, ResBody>(router: tonic::transport::server::Router<L>) -> SocketAddr
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        router
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    addr
}
