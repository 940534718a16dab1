//! Health checks and `/metrics` get no span (they would drown the real traffic), on HTTP with
//! the `SkipHealthChecks` preset and on gRPC, where `grpc.health.v1.Health` is skipped by
//! default; any other filter is a closure.
//!
//! `cargo run -p example-skip-health-checks`

use axum::Router;
use axum::routing::get;
use tonic::transport::Server;
use tracewire::grpc::GrpcServerLayer;
use tracewire::http::{HttpServerLayer, SkipHealthChecks};
use tracewire::init::{Exporter, Setup};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = Setup::new()
        .service_name("probed")
        .exporters([Exporter::Tree])
        .install()?;

    // HTTP: /healthz, /readyz, /metrics, ... and one path of our own are skipped.
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(|| async { "# no metrics" }))
        .route("/status", get(|| async { "fine" }))
        .route("/orders", get(|| async { "orders" }))
        .layer(HttpServerLayer::new().filter(SkipHealthChecks::new().path("/status")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    for path in ["/healthz", "/metrics", "/status", "/orders"] {
        let status = reqwest::get(format!("http://{http}{path}")).await?.status();
        println!("GET {path} -> {status}");
    }

    // gRPC: the standard health service, untraced unless `.trace_health_checks(true)`.
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let grpc = listener.local_addr()?;
    let server = Server::builder()
        .layer(GrpcServerLayer::new())
        .add_service(health);
    tokio::spawn(server.serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)));
    let channel = tonic::transport::Channel::from_shared(format!("http://{grpc}"))?
        .connect()
        .await?;
    let reply = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await?;
    println!("grpc health -> {:?}", reply.into_inner().status());

    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    println!("\nonly GET /orders was traced:");
    drop(telemetry);
    Ok(())
}
