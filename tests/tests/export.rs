//! Export failures are visible and bounded: a collector that refuses connections is reported
//! once (not once per batch) with its endpoint, counted, and does not touch the request path;
//! a collector that accepts and never answers does not hold shutdown past its bound. Each test
//! installs a global subscriber (the exporter runs on its own thread): nextest runs each test
//! in its own process.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use tracewire_http::server::HttpServerLayer;
use tracewire_init::Setup;
use tracewire_tests::{fetch, serve};
use tracing_subscriber::prelude::*;

/// Log lines, captured from every thread.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn install() -> Self {
        let lines = Self::default();
        let writer = lines.clone();
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            )
            .init();
        lines
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn built(endpoint: String, shutdown: Duration) -> tracewire_init::Built {
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
    ];
    Setup::new()
        .shutdown_timeout(shutdown)
        .env(move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_collector_is_reported_once_and_counted() {
    let lines = Lines::install();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let endpoint = format!("http://{closed}");
    let built = built(endpoint.clone(), Duration::from_secs(2));
    let provider = built.provider(None).unwrap();
    // The request path does not notice.
    let addr = serve(
        Router::new()
            .route("/x", get(|| async { "x" }))
            .layer(HttpServerLayer::new().tracer_provider(&provider)),
    )
    .await;
    for _ in 0..3 {
        let (response, body) = fetch(addr, "/x", &[]).await;
        assert_eq!((response.status().as_u16(), body.as_str()), (200, "x"));
        let flushing = provider.clone();
        // Each flush is one failed export.
        let _ = tokio::task::spawn_blocking(move || flushing.force_flush())
            .await
            .unwrap();
    }
    provider.tracer("t").in_span("after", |_| {});
    let stats = built.export_stats();
    assert!(stats.failed() >= 3, "failed {}", stats.failed());
    assert_eq!(stats.exported(), 0);
    let text = lines.text();
    let reports: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("spans could not be exported"))
        .collect();
    assert_eq!(reports.len(), 1, "once, not per batch:\n{text}");
    assert!(reports[0].contains("WARN"), "{}", reports[0]);
    assert!(reports[0].contains("tracewire::export"), "{}", reports[0]);
    assert!(reports[0].contains(&endpoint), "{}", reports[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_collector_does_not_hold_shutdown_past_its_bound() {
    let lines = Lines::install();
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let built = built(format!("http://{silent}"), Duration::from_secs(1));
    let provider = built.provider(None).unwrap();
    for i in 0..10 {
        provider.tracer("t").in_span(format!("work {i}"), |_| {});
    }
    let started = Instant::now();
    let in_time = tokio::task::spawn_blocking(move || built.shutdown(&[provider]))
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(!in_time, "the silent collector cannot have taken the spans");
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    let text = lines.text();
    assert!(text.contains("shutdown gave up"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_metric_exports_are_reported_once_and_counted() {
    use opentelemetry::metrics::MeterProvider as _;
    let lines = Lines::install();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let endpoint = format!("http://{closed}");
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()),
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
    ];
    let built = Setup::new()
        .env(move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .build()
        .unwrap();
    let (provider, _) = built.meter_provider(None).unwrap();
    let counter = provider.meter("t").u64_counter("orders").build();
    for _ in 0..2 {
        counter.add(1, &[]);
        let flushing = provider.clone();
        let _ = tokio::task::spawn_blocking(move || flushing.force_flush())
            .await
            .unwrap();
    }
    assert!(built.export_stats().metric_exports_failed() >= 2);
    let text = lines.text();
    let reports: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("metrics could not be exported"))
        .collect();
    assert_eq!(reports.len(), 1, "{text}");
    assert!(reports[0].contains(&endpoint), "{}", reports[0]);
}
