//! Per-request cost of the server layer through an in-process axum router (body fully
//! consumed, the router prepared with `with_state(())` as `axum::serve` prepares it for each
//! connection), side by side in one run: no middleware, our layer sampled and unsampled (each
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
//! `cargo bench -p tracewire-http --features axum --bench server` prints allocations per request first, and
//! after criterion's figures the targets measured in alternating rounds (the figures
//! to quote on a machine whose speed drifts); `SERVER_BENCH_TARGETS_ONLY=1` prints only those.

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
    // Metrics: off, and recorded into an SDK meter provider (aggregated in memory; a manual
    // reader whose interval never comes within a run, so export costs nothing here). The default layer
    // records into the global meter provider, which is a no-op when none is installed.
    let meters = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(
            opentelemetry_sdk::metrics::PeriodicReader::builder(
                opentelemetry_sdk::metrics::InMemoryMetricExporter::default(),
            )
            .with_interval(std::time::Duration::from_secs(3600))
            .build(),
        )
        .build();
    let ours_off_no_metrics = base().layer(
        HttpServerLayer::new()
            .sampler(Sampler::AlwaysOff)
            .metrics(false),
    );
    let ours_off_metrics = base().layer(
        HttpServerLayer::new()
            .sampler(Sampler::AlwaysOff)
            .meter_provider(&meters),
    );
    let direct_no_metrics = base().layer(
        HttpServerLayer::new()
            .metrics(false)
            .tracer_provider(&on_provider),
    );
    let direct_metrics = base().layer(
        HttpServerLayer::new()
            .meter_provider(&meters)
            .tracer_provider(&on_provider),
    );
    let tower_http = base().layer(tower_http::trace::TraceLayer::new_for_http());
    // What axum charges for any layer: a layer that does nothing.
    let passthrough = base().layer(tower::util::MapRequestLayer::new(|r: Request<Body>| r));
    // What axum charges for a layer that wraps the response body (as any layer timing the
    // body must): axum boxes a body that is not its own `Body` again.
    let body_wrapper = base().layer(tower::util::MapResponseLayer::new(
        |r: http::Response<Body>| r.map(|b| b.map_frame(|f| f)),
    ));
    let ato = || base().layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default());
    // As `axum::serve` does once per connection: handlers become routes (and layers are
    // applied) once, not on every request.
    let v = |name, router: Router, dispatch: &Dispatch, traceparent| Variant {
        name,
        router: router.with_state(()),
        dispatch: dispatch.clone(),
        traceparent,
    };
    vec![
        v("none, no traceparent", base(), &on, false),
        v("none, traceparent", base(), &on, true),
        v("pass-through layer, traceparent", passthrough, &on, true),
        v(
            "pass-through layer wrapping the body, traceparent",
            body_wrapper,
            &on,
            true,
        ),
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
            "tracewire unsampled, metrics off, traceparent",
            ours_off_no_metrics,
            &off,
            true,
        ),
        v(
            "tracewire unsampled, SDK metrics, traceparent",
            ours_off_metrics,
            &off,
            true,
        ),
        v(
            "tracewire direct, metrics off, traceparent",
            direct_no_metrics,
            &on,
            true,
        ),
        v(
            "tracewire direct, SDK metrics, traceparent",
            direct_metrics,
            &on,
            true,
        ),
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

/// The targets measured in alternating rounds, so that the machine's drift cancels:
/// each round times every variant of [`TARGETS`] (order reversed every other round) and
/// computes each overhead ratio from that round's own figures; the medians over rounds are
/// printed. `SERVER_BENCH_ROUNDS` (default 21) sets the number of rounds.
fn targets_report(variants: &[Variant], rt: &tokio::runtime::Runtime) {
    const REQUESTS: u32 = 20_000;
    let rounds: usize = std::env::var("SERVER_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    let index = |name: &str| {
        variants
            .iter()
            .position(|v| v.name == name)
            .expect("a variant of the targets report")
    };
    let picked: Vec<usize> = TARGETS.iter().map(|name| index(name)).collect();
    let time = |v: &Variant| {
        let _guard = tracing::dispatcher::set_default(&v.dispatch);
        let start = std::time::Instant::now();
        rt.block_on(async {
            for _ in 0..REQUESTS {
                one_request(&v.router, v.traceparent).await;
            }
        });
        start.elapsed().as_secs_f64() * 1e9 / f64::from(REQUESTS)
    };
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); picked.len()];
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..picked.len()).collect()
        } else {
            (0..picked.len()).rev().collect()
        };
        for i in order {
            times[i].push(time(&variants[picked[i]]));
        }
    }
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let per_round = |f: &dyn Fn(usize) -> f64| median((0..rounds).map(f).collect());
    let none = 0;
    println!("\ntargets: {rounds} alternating rounds of {REQUESTS} requests, medians over rounds");
    println!(
        "{:<48} {:>9} {:>10} {:>7}",
        "variant", "ns", "overhead", "ratio"
    );
    for (i, name) in TARGETS.iter().enumerate() {
        println!(
            "{:<48} {:>9.0} {:>+10.0} {:>7.2}",
            name,
            median(times[i].clone()),
            per_round(&|r| times[i][r] - times[none][r]),
            per_round(&|r| times[i][r] / times[none][r])
        );
    }
    let ratio = |ours: usize, theirs: usize| {
        per_round(&|r| (times[ours][r] - times[none][r]) / (times[theirs][r] - times[none][r]))
    };
    println!(
        "unsampled overhead / axum-tracing-opentelemetry's, sampling off: {:.1} % (target <= 15 %)",
        100.0 * ratio(1, 2)
    );
    println!(
        "sampled direct overhead / axum-tracing-opentelemetry's, sampled: {:.1} % (target <= 50 %)",
        100.0 * ratio(3, 4)
    );
    println!(
        "sampled bridged overhead / axum-tracing-opentelemetry's, sampled: {:.1} %",
        100.0 * ratio(5, 4)
    );
    let diff = |a: usize, b: usize| per_round(&|r| times[a][r] - times[b][r]);
    // What the SDK itself takes for what a request records: one duration with the attribute
    // set of the server's metric (its `ValueMap` hashes the set under a read lock, then the
    // histogram's buckets take a mutex).
    let sdk_record = {
        use opentelemetry::metrics::MeterProvider as _;
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_reader(
                opentelemetry_sdk::metrics::PeriodicReader::builder(
                    opentelemetry_sdk::metrics::InMemoryMetricExporter::default(),
                )
                .with_interval(std::time::Duration::from_secs(3600))
                .build(),
            )
            .build();
        let histogram = provider.meter("bench").f64_histogram("d").build();
        let attributes = [
            opentelemetry::KeyValue::new("http.request.method", "GET"),
            opentelemetry::KeyValue::new("url.scheme", "http"),
            opentelemetry::KeyValue::new("http.response.status_code", 200_i64),
            opentelemetry::KeyValue::new("http.route", "/users/{id}"),
            opentelemetry::KeyValue::new("network.protocol.version", "1.1"),
        ];
        let n = 200_000;
        for _ in 0..n {
            histogram.record(0.001, &attributes);
        }
        let start = std::time::Instant::now();
        for _ in 0..n {
            histogram.record(
                std::hint::black_box(0.001),
                std::hint::black_box(&attributes),
            );
        }
        start.elapsed().as_nanos() as f64 / f64::from(n)
    };
    println!("the SDK's histogram.record with those five attributes, alone: {sdk_record:.0} ns");
    println!(
        "metrics, SDK vs off: unsampled {:+.0} ns, direct sampled {:+.0} ns (target <= 150 ns); \
         global no-op vs off: unsampled {:+.0} ns\n",
        diff(10, 9),
        diff(12, 11),
        diff(1, 9)
    );
}

/// The variants of [`targets_report`], "none" first; the ratios read them by position.
const TARGETS: [&str; 13] = [
    "none, traceparent",
    "tracewire unsampled, traceparent",
    "axum-tracing-opentelemetry, sampling off",
    "tracewire sampled direct, traceparent",
    "axum-tracing-opentelemetry, sampled",
    "tracewire sampled, traceparent",
    "pass-through layer, traceparent",
    "pass-through layer wrapping the body, traceparent",
    "tower-http TraceLayer + otel bridge, sampled",
    "tracewire unsampled, metrics off, traceparent",
    "tracewire unsampled, SDK metrics, traceparent",
    "tracewire direct, metrics off, traceparent",
    "tracewire direct, SDK metrics, traceparent",
];

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
    if std::env::var_os("SERVER_BENCH_TARGETS_ONLY").is_some() {
        targets_report(&variants, &rt);
        return;
    }
    let mut g = c.benchmark_group("server");
    for v in &variants {
        let _guard = tracing::dispatcher::set_default(&v.dispatch);
        g.bench_function(v.name, |b| {
            b.to_async(&rt)
                .iter(|| one_request(&v.router, v.traceparent));
        });
    }
    g.finish();
    if !std::env::args().any(|a| a == "--profile-time" || a == "--list" || a == "--test") {
        targets_report(&variants, &rt);
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
