//! `cargo run -p w3c-test-service -- 127.0.0.1:5000`: the W3C trace-context test suite's
//! service, honouring `OTEL_PROPAGATORS` (and the other `OTEL_*` variables through
//! `tracewire::init`; `OTEL_TRACES_EXPORTER=console` prints the traces).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5000".to_owned());
    let telemetry = tracewire::init::Setup::new()
        .service_name("w3c-test-service")
        .install()?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, w3c_test_service::app(telemetry.propagator())).await?;
    Ok(())
}
