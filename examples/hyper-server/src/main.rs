//! A plain hyper server (no axum): the HTTP server layer wraps a `tower` service, served by
//! hyper-util. Without axum the span is named `{method}` (there is no route template).
//!
//! `cargo run -p example-hyper-server`

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tracewire::http::HttpServerLayer;
use tracewire::init::{Exporter, Setup};

async fn hello(
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    tracing::info!(path = request.uri().path(), "handling");
    Ok(Response::new(Full::new(Bytes::from_static(
        b"hello from hyper\n",
    ))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = Setup::new()
        .service_name("hyper-server")
        .exporters([Exporter::Tree])
        .install()?;
    let service = ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service_fn(hello);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    // A caller that is part of a trace already.
    let body = reqwest::Client::new()
        .get(format!("http://{addr}/hello"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await?
        .text()
        .await?;
    print!("{body}");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    drop(telemetry);
    Ok(())
}
