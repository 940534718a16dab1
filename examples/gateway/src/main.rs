//! An HTTP-to-gRPC gateway: an axum handler calls a tonic client. The HTTP server span, the
//! gRPC client span and the gRPC server span make one trace.
//!
//! `cargo run -p example-gateway`

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use tonic::transport::{Channel, Server};
use tower::ServiceBuilder;
use tracewire::grpc::client::GrpcClient;
use tracewire::grpc::{GrpcClientLayer, GrpcServerLayer};
use tracewire::http::HttpServerLayer;
use tracewire::init::{Exporter, Setup};

use example_greeter::{GreeterClient, GreeterServer, Hello, HelloRequest, serve};

type Backend = GreeterClient<GrpcClient<Channel>>;

/// The gateway's handler: the request's context is current here, so the gRPC call continues
/// the HTTP request's trace.
async fn greet(State(backend): State<Backend>, Path(name): Path<String>) -> String {
    match backend.clone().say_hello(HelloRequest { name }).await {
        Ok(reply) => reply.into_inner().message,
        Err(status) => format!("backend failed: {}", status.message()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = Setup::new()
        .service_name("gateway")
        .exporters([Exporter::Tree])
        .install()?;

    // The gRPC backend.
    let grpc = serve(
        Server::builder()
            .layer(GrpcServerLayer::new())
            .add_service(GreeterServer::new(Hello)),
    )
    .await?;

    // The HTTP gateway in front of it.
    let url = format!("http://{grpc}");
    let backend = GreeterClient::new(
        ServiceBuilder::new()
            .layer(GrpcClientLayer::new().target(&url))
            .service(Channel::from_shared(url)?.connect_lazy()),
    );
    let app = Router::new()
        .route("/greet/{name}", get(greet))
        .with_state(backend)
        .layer(HttpServerLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let body = reqwest::get(format!("http://{http}/greet/gateway"))
        .await?
        .text()
        .await?;
    println!("{body}");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    drop(telemetry);
    Ok(())
}
