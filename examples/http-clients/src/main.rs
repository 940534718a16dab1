//! HTTP clients: reqwest (through reqwest-middleware) and hyper-util's client (a tower
//! stack), each with a CLIENT span per request that the server's span is a child of.
//!
//! `cargo run -p example-http-clients`

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};
use tracewire::http::{HttpClientLayer, HttpServerLayer};
use tracewire::init::{Exporter, Setup};
use tracewire::reqwest::TracingMiddleware;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = Setup::new()
        .service_name("clients")
        .exporters([Exporter::Tree])
        .install()?;
    let app = Router::new()
        .route("/users/{id}", get(|| async { "alice" }))
        .layer(HttpServerLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    // reqwest
    let reqwest_client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new())
        .build();
    // hyper-util, as a tower service
    let mut hyper_client = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>());

    async {
        let body = reqwest_client
            .get(format!("http://{addr}/users/1"))
            .send()
            .await?
            .text()
            .await?;
        println!("reqwest: {body}");
        let request = http::Request::get(format!("http://{addr}/users/2")).body(Empty::new())?;
        let response = hyper_client.ready().await?.call(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        println!("hyper: {}", String::from_utf8_lossy(&body));
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .instrument(tracing::info_span!("job", otel.name = "fetch two users"))
    .await?;

    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    drop(telemetry);
    Ok(())
}
