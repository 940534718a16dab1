//! Two axum services traced with tracewire: `frontend` calls `users` through reqwest. One
//! request goes through them; the example prints the finished trace as a tree.
//!
//! ```sh
//! cargo run -p example-quickstart
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracewire::http::HttpServerLayer;
use tracewire::reqwest::TracingMiddleware;
use tracing_subscriber::prelude::*;

async fn serve(app: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// The `users` service.
async fn user(Path(id): Path<u32>) -> String {
    tracing::info!(id, "loading user");
    format!("user {id}")
}

/// The `frontend` service: calls `users`.
async fn profile(
    State((client, users)): State<(reqwest_middleware::ClientWithMiddleware, SocketAddr)>,
    Path(id): Path<u32>,
) -> String {
    match client
        .get(format!("http://{users}/users/{id}"))
        .send()
        .await
    {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(error) => format!("users failed: {error}"),
    }
}

fn print_tree(spans: &[SpanData]) {
    let mut children: HashMap<SpanId, Vec<&SpanData>> = HashMap::new();
    for span in spans {
        children.entry(span.parent_span_id).or_default().push(span);
    }
    let ids: Vec<SpanId> = spans.iter().map(|s| s.span_context.span_id()).collect();
    let roots: Vec<&SpanData> = spans
        .iter()
        .filter(|s| !ids.contains(&s.parent_span_id))
        .collect();
    fn walk(span: &SpanData, depth: usize, children: &HashMap<SpanId, Vec<&SpanData>>) {
        let ms = span
            .end_time
            .duration_since(span.start_time)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let status = span
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "http.response.status_code")
            .map(|kv| kv.value.to_string())
            .unwrap_or_default();
        println!(
            "{:indent$}{:?} {:<24} {:>7.2} ms  {status}",
            "",
            span.span_kind,
            span.name,
            ms,
            indent = depth * 3
        );
        let mut kids = children
            .get(&span.span_context.span_id())
            .cloned()
            .unwrap_or_default();
        kids.sort_by_key(|s| s.start_time);
        for child in kids {
            walk(child, depth + 1, children);
        }
    }
    for root in roots {
        println!("trace {}", root.span_context.trace_id());
        walk(root, 1, &children);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Spans go to memory here; use an OTLP exporter in a real service.
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("quickstart")))
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(tracewire::http::fmt::TraceIdFormat::new(
                    tracing_subscriber::fmt::format().compact(),
                ))
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
        )
        .init();

    let users = serve(
        Router::new()
            .route("/users/{id}", get(user))
            .layer(HttpServerLayer::new()),
    )
    .await?;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new())
        .build();
    let frontend = serve(
        Router::new()
            .route("/profile/{id}", get(profile))
            .with_state((client, users))
            .layer(HttpServerLayer::new()),
    )
    .await?;

    let body = reqwest::get(format!("http://{frontend}/profile/7"))
        .await?
        .text()
        .await?;
    println!("response: {body}\n");

    // The frontend's span ends when its response body has been sent, a moment after the
    // body arrived here: wait for the three spans (at most a second).
    let mut spans = exporter.get_finished_spans()?;
    for _ in 0..100 {
        if spans.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        spans = exporter.get_finished_spans()?;
    }
    print_tree(&spans);
    provider.shutdown()?;
    Ok(())
}
