//! Per-request cost of the server layer through an in-process axum router (body fully
//! consumed), side by side in one run: no middleware, our layer sampled and unsampled (each
//! with and without an incoming `traceparent`), tower-http's `TraceLayer::new_for_http()`, and
//! axum-tracing-opentelemetry's `OtelAxumLayer` at the same settings.
//!
//! Sampled variants run under a tracer provider with `AlwaysOn` and a simple processor
//! feeding a no-op exporter (the cost of export itself is not the middleware's): our layer in
//! its default mode (a bridged `tracing` span) and in its direct mode (`tracer_provider`, a
//! span made with the provider's tracer); unsampled
//! variants under `AlwaysOff`, with our layer's sampler `AlwaysOff` too. Both subscribers are
//! `tracing_subscriber::registry()` with `tracing-opentelemetry`'s layer only.
//!
//! `cargo bench -p tracewire-http --bench server` prints allocations per request first.

mod support;

use std::alloc::System;
use std::hint::black_box;
use support::NoopExporter;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group};
use http::Request;
use http_body_util::BodyExt;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::ServiceExt;
use tracewire_http::server::HttpServerLayer;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn dispatch(sampler: Sampler) -> (Dispatch, SdkTracerProvider) {
    let provider = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_simple_exporter(NoopExporter)
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    (Dispatch::new(subscriber), provider)
}

async fn handler() -> &'static str {
    "alice"
}

fn base() -> Router {
    Router::new().route("/users/{id}", get(handler))
}

struct Variant {
    name: &'static str,
    router: Router,
    dispatch: Dispatch,
    traceparent: bool,
}

fn variants() -> Vec<Variant> {
    let (on, on_provider) = dispatch(Sampler::AlwaysOn);
    let (off, _off_provider) = dispatch(Sampler::AlwaysOff);
    let direct = || base().layer(HttpServerLayer::new().tracer_provider(&on_provider));
    let ours = || base().layer(HttpServerLayer::new());
    let ours_off = || base().layer(HttpServerLayer::new().sampler(Sampler::AlwaysOff));
    let tower_http = base().layer(tower_http::trace::TraceLayer::new_for_http());
    // What axum charges for any layer: a layer that does nothing.
    let passthrough = base().layer(tower::util::MapRequestLayer::new(|r: Request<Body>| r));
    let ato = || base().layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default());
    let v = |name, router, dispatch: &Dispatch, traceparent| Variant {
        name,
        router,
        dispatch: dispatch.clone(),
        traceparent,
    };
    vec![
        v("none, no traceparent", base(), &on, false),
        v("none, traceparent", base(), &on, true),
        v("pass-through layer, traceparent", passthrough, &on, true),
        v(
            "tracewire unsampled, no traceparent",
            ours_off(),
            &off,
            false,
        ),
        v("tracewire unsampled, traceparent", ours_off(), &off, true),
        v("tracewire sampled, no traceparent", ours(), &on, false),
        v("tracewire sampled, traceparent", ours(), &on, true),
        v(
            "tracewire sampled direct, no traceparent",
            direct(),
            &on,
            false,
        ),
        v("tracewire sampled direct, traceparent", direct(), &on, true),
        v(
            "tower-http TraceLayer + otel bridge, sampled",
            tower_http,
            &on,
            false,
        ),
        v(
            "axum-tracing-opentelemetry, sampling off",
            ato(),
            &off,
            true,
        ),
        v("axum-tracing-opentelemetry, sampled", ato(), &on, true),
    ]
}

async fn one_request(router: &Router, traceparent: bool) {
    let mut req = Request::get("/users/42").header("host", "localhost:3000");
    if traceparent {
        req = req.header("traceparent", TP);
    }
    let resp = router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = resp.into_body().collect().await.unwrap();
    black_box(body);
}

fn allocation_report(variants: &[Variant], rt: &tokio::runtime::Runtime) {
    println!("\nheap allocations per request (mean of 1000)");
    for v in variants {
        let _guard = tracing::dispatcher::set_default(&v.dispatch);
        rt.block_on(one_request(&v.router, v.traceparent));
        let region = Region::new(GLOBAL);
        rt.block_on(async {
            for _ in 0..1000 {
                one_request(&v.router, v.traceparent).await;
            }
        });
        let stats = region.change();
        println!("{:<48} {:>7.1}", v.name, stats.allocations as f64 / 1000.0);
    }
    println!();
}

fn bench(c: &mut Criterion) {
    // axum-tracing-opentelemetry extracts through the global propagator.
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let variants = variants();
    allocation_report(&variants, &rt);
    let mut g = c.benchmark_group("server");
    for v in &variants {
        let _guard = tracing::dispatcher::set_default(&v.dispatch);
        g.bench_function(v.name, |b| {
            b.to_async(&rt)
                .iter(|| one_request(&v.router, v.traceparent));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
