//! A public edge: callers outside the system must not force sampling or join our traces.
//! `TrustPolicy::NewRoot` starts a new trace linked to the caller's; `OwnSampling` keeps the
//! caller's ids but makes our own decision (here 0 %: a caller's "sampled" flag is ignored).
//!
//! `cargo run -p example-public-edge`

use axum::Router;
use axum::routing::get;
use opentelemetry_sdk::trace::Sampler;
use tracewire::http::{HttpServerLayer, TrustPolicy};
use tracewire::init::{Exporter, Setup};

async fn serve(layer: HttpServerLayer) -> std::io::Result<std::net::SocketAddr> {
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = Setup::new()
        .service_name("edge")
        .exporters([Exporter::Tree])
        .install()?;
    // A caller that says "sampled" and names its own trace.
    let outsider = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let client = reqwest::Client::new();

    let new_root = serve(HttpServerLayer::new().trust_policy(TrustPolicy::NewRoot)).await?;
    client
        .get(format!("http://{new_root}/"))
        .header("traceparent", outsider)
        .send()
        .await?;
    println!("NewRoot: a trace of our own (not 4bf92f35...), linked to the caller's span");

    let own = serve(
        HttpServerLayer::new()
            .trust_policy(TrustPolicy::OwnSampling)
            .sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                0.0,
            )))),
    )
    .await?;
    client
        .get(format!("http://{own}/"))
        .header("traceparent", outsider)
        .send()
        .await?;
    println!("OwnSampling at 0 %: the caller's 'sampled' flag forced nothing (no tree below)");

    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    drop(telemetry);
    Ok(())
}
