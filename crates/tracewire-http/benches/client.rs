//! Per-request cost of the client layer, side by side in one run: against an in-process
//! service (no socket) and against an axum server on 127.0.0.1 through hyper-util's client.
//! Variants: the bare client; our layer under an unsampled parent; under a sampled parent
//! with a bridged `tracing` span (default) and with a span made directly (`tracer_provider`).
//! Sampled variants export through a simple processor to a no-op exporter.
//!
//! Loopback round trips drift over a run on a shared machine: the bare client is measured a
//! second time, later in the run, to show how much.
//!
//! reqwest-tracing is left out: its newest release supports opentelemetry up to 0.32, which
//! cannot share this workspace's opentelemetry 0.33 graph.
//!
//! `cargo bench -p tracewire-http --bench client` prints allocations per request first.

mod support;

use std::alloc::System;
use std::convert::Infallible;
use std::hint::black_box;
use support::NoopExporter;

use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::util::BoxCloneService;
use tower::{Service, ServiceBuilder, ServiceExt};
use tracewire_http::client::HttpClientLayer;
use tracing_subscriber::prelude::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

type Client = BoxCloneService<Request<Empty<Bytes>>, Response<Bytes>, String>;

/// Boxes a client so every variant has one type; the body is collected inside.
fn boxed<S, B>(service: S) -> Client
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    BoxCloneService::new(
        service
            .map_err(|e| e.to_string())
            .and_then(|r: Response<B>| async move {
                let (parts, body) = r.into_parts();
                let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
                Ok(Response::from_parts(parts, bytes))
            }),
    )
}

fn parent(flags: &str) -> opentelemetry::Context {
    let mut h = HeaderMap::new();
    h.insert(
        "traceparent",
        format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}")
            .parse()
            .unwrap(),
    );
    tracewire_propagation::Propagator::new()
        .extract(&h)
        .into_context(&opentelemetry::Context::new())
}

async fn one(client: &Client, uri: &str) {
    let resp = client
        .clone()
        .oneshot(Request::get(uri).body(Empty::new()).unwrap())
        .await
        .unwrap();
    black_box(resp);
}

fn bench(c: &mut Criterion) {
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_simple_exporter(NoopExporter)
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    let _subscriber = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // In process: a service that answers at once.
    let service = tower::service_fn(|_req: Request<Empty<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"alice"))))
    });
    // Over loopback: an axum server on its own runtime thread.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = server_rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app =
            axum::Router::new().route("/users/{id}", axum::routing::get(|| async { "alice" }));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    });
    let hyper_client = || {
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<Empty<Bytes>>()
    };
    let loopback_uri = format!("http://{addr}/users/42");

    let layer = HttpClientLayer::new;
    let direct = || HttpClientLayer::new().tracer_provider(&provider);
    let variants: Vec<(&str, Client, &str, &str)> = vec![
        (
            "in-process, bare",
            boxed(service),
            "http://svc/users/42",
            "01",
        ),
        (
            "in-process, tracewire unsampled",
            boxed(ServiceBuilder::new().layer(layer()).service(service)),
            "http://svc/users/42",
            "00",
        ),
        (
            "in-process, tracewire sampled",
            boxed(ServiceBuilder::new().layer(layer()).service(service)),
            "http://svc/users/42",
            "01",
        ),
        (
            "in-process, tracewire sampled direct",
            boxed(ServiceBuilder::new().layer(direct()).service(service)),
            "http://svc/users/42",
            "01",
        ),
        ("loopback, bare", boxed(hyper_client()), &loopback_uri, "01"),
        (
            "loopback, tracewire unsampled",
            boxed(ServiceBuilder::new().layer(layer()).service(hyper_client())),
            &loopback_uri,
            "00",
        ),
        (
            "loopback, tracewire sampled",
            boxed(ServiceBuilder::new().layer(layer()).service(hyper_client())),
            &loopback_uri,
            "01",
        ),
        (
            "loopback, bare again (drift check)",
            boxed(hyper_client()),
            &loopback_uri,
            "01",
        ),
        (
            "loopback, tracewire sampled direct",
            boxed(
                ServiceBuilder::new()
                    .layer(direct())
                    .service(hyper_client()),
            ),
            &loopback_uri,
            "01",
        ),
    ];

    println!("\nheap allocations per request (mean of 1000)");
    for (name, client, uri, flags) in &variants {
        let _cx = parent(flags).attach();
        rt.block_on(one(client, uri));
        let region = Region::new(GLOBAL);
        rt.block_on(async {
            for _ in 0..1000 {
                one(client, uri).await;
            }
        });
        println!(
            "{name:<40} {:>7.1}",
            region.change().allocations as f64 / 1000.0
        );
    }
    println!();

    let mut g = c.benchmark_group("client");
    for (name, client, uri, flags) in &variants {
        let _cx = parent(flags).attach();
        g.bench_function(*name, |b| b.to_async(&rt).iter(|| one(client, uri)));
    }
    g.finish();
    drop(server_rt);
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
