//! Extract and inject, ours against opentelemetry_sdk's `TraceContextPropagator` and
//! `BaggagePropagator` (reached through opentelemetry-http's `HeaderExtractor`/`HeaderInjector`,
//! as applications use them), in one run.
//!
//! Run with `cargo bench -p tracewire-propagation`. Before the timings it prints heap
//! allocations per operation, counted with an instrumented global allocator.

use std::alloc::System;
use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use http::HeaderMap;
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tracewire_propagation::{Format, Propagator, extract_traceparent};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TS: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,vendor@tenant=opaque-value-123";
const BAGGAGE: &str =
    "userId=alice,serverNode=DF%2028,isProduction=false,tenant=acme;region=eu,requestClass=gold";

fn headers(with_state: bool, with_baggage: bool) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", "example.com".parse().unwrap());
    h.insert("user-agent", "bench/1.0".parse().unwrap());
    h.insert("accept", "*/*".parse().unwrap());
    h.insert("traceparent", TP.parse().unwrap());
    if with_state {
        h.insert("tracestate", TS.parse().unwrap());
    }
    if with_baggage {
        h.insert("baggage", BAGGAGE.parse().unwrap());
    }
    h
}

struct Variants {
    tc_only: Propagator,
    baggage_only: Propagator,
    sdk_tc: TraceContextPropagator,
    sdk_bag: BaggagePropagator,
}

impl Variants {
    fn new() -> Self {
        Self {
            tc_only: Propagator::from_formats([Format::TraceContext]),
            baggage_only: Propagator::from_formats([Format::Baggage]),
            sdk_tc: TraceContextPropagator::new(),
            sdk_bag: BaggagePropagator::new(),
        }
    }
}

fn ours_span_context(v: &Variants, h: &HeaderMap) -> SpanContext {
    v.tc_only.extract(h).span_context()
}

fn sdk_span_context(v: &Variants, h: &HeaderMap) -> SpanContext {
    v.sdk_tc
        .extract_with_context(&Context::new(), &HeaderExtractor(h))
        .span()
        .span_context()
        .clone()
}

fn count_allocs(label: &str, f: impl Fn()) {
    f(); // warm up lazily initialised state
    let region = Region::new(GLOBAL);
    for _ in 0..100 {
        f();
    }
    let stats = region.change();
    println!("{label:<58} {:>6.2}", stats.allocations as f64 / 100.0);
}

fn allocation_report(v: &Variants) {
    let tp = headers(false, false);
    let ts = headers(true, false);
    let bag = headers(false, true);
    let cx_tp = v.tc_only.extract(&tp).into_context(&Context::new());
    let cx_ts = v.tc_only.extract(&ts).into_context(&Context::new());
    let cx_bag = v.baggage_only.extract(&bag).into_context(&Context::new());
    println!("\nheap allocations per operation");
    println!("{:<58} {:>6}", "operation", "allocs");
    count_allocs("extract traceparent: ours, raw TraceParent", || {
        black_box(extract_traceparent(black_box(&tp)).ok());
    });
    count_allocs("extract traceparent: ours -> SpanContext", || {
        black_box(ours_span_context(v, black_box(&tp)));
    });
    count_allocs("extract traceparent: ours -> Context", || {
        black_box(v.tc_only.extract_context(black_box(&tp), &Context::new()));
    });
    count_allocs("extract traceparent: sdk -> SpanContext", || {
        black_box(sdk_span_context(v, black_box(&tp)));
    });
    count_allocs(
        "extract traceparent+tracestate: ours -> SpanContext",
        || {
            black_box(ours_span_context(v, black_box(&ts)));
        },
    );
    count_allocs("extract traceparent+tracestate: ours -> Extracted", || {
        black_box(v.tc_only.extract(black_box(&ts)));
    });
    count_allocs("extract traceparent+tracestate: sdk -> SpanContext", || {
        black_box(sdk_span_context(v, black_box(&ts)));
    });
    count_allocs("extract baggage (5): ours -> Extracted", || {
        black_box(v.baggage_only.extract(black_box(&bag)));
    });
    count_allocs("extract baggage (5): ours -> Context", || {
        black_box(
            v.baggage_only
                .extract_context(black_box(&bag), &Context::new()),
        );
    });
    count_allocs("extract baggage (5): sdk -> Context", || {
        black_box(
            v.sdk_bag
                .extract_with_context(&Context::new(), &HeaderExtractor(black_box(&bag))),
        );
    });
    for (label, cx, ours, sdk) in [
        ("inject traceparent", &cx_tp, &v.tc_only, 0),
        ("inject traceparent+tracestate", &cx_ts, &v.tc_only, 0),
        ("inject baggage (5)", &cx_bag, &v.baggage_only, 1),
    ] {
        count_allocs(&format!("{label}: ours (into an allocated map)"), || {
            let mut out = HeaderMap::with_capacity(4);
            ours.inject_context(black_box(cx), &mut out);
            black_box(out);
        });
        count_allocs(&format!("{label}: sdk (into an allocated map)"), || {
            let mut out = HeaderMap::with_capacity(4);
            if sdk == 0 {
                v.sdk_tc
                    .inject_context(black_box(cx), &mut HeaderInjector(&mut out));
            } else {
                v.sdk_bag
                    .inject_context(black_box(cx), &mut HeaderInjector(&mut out));
            }
            black_box(out);
        });
    }
    count_allocs(
        "one empty HeaderMap::with_capacity(4), for reference",
        || {
            black_box(HeaderMap::<http::HeaderValue>::with_capacity(4));
        },
    );
    println!();
}

fn bench(c: &mut Criterion) {
    let v = Variants::new();
    allocation_report(&v);

    let tp = headers(false, false);
    let mut g = c.benchmark_group("extract traceparent");
    g.bench_function("ours raw TraceParent", |b| {
        b.iter(|| extract_traceparent(black_box(&tp)).ok())
    });
    g.bench_function("ours SpanContext", |b| {
        b.iter(|| ours_span_context(&v, black_box(&tp)))
    });
    g.bench_function("ours Context", |b| {
        b.iter(|| v.tc_only.extract_context(black_box(&tp), &Context::new()))
    });
    g.bench_function("sdk SpanContext", |b| {
        b.iter(|| sdk_span_context(&v, black_box(&tp)))
    });
    g.bench_function("sdk Context", |b| {
        b.iter(|| {
            v.sdk_tc
                .extract_with_context(&Context::new(), &HeaderExtractor(black_box(&tp)))
        })
    });
    g.finish();

    let ts = headers(true, false);
    let mut g = c.benchmark_group("extract traceparent+tracestate");
    g.bench_function("ours Extracted", |b| {
        b.iter(|| v.tc_only.extract(black_box(&ts)))
    });
    g.bench_function("ours SpanContext", |b| {
        b.iter(|| ours_span_context(&v, black_box(&ts)))
    });
    g.bench_function("ours Context", |b| {
        b.iter(|| v.tc_only.extract_context(black_box(&ts), &Context::new()))
    });
    g.bench_function("sdk SpanContext", |b| {
        b.iter(|| sdk_span_context(&v, black_box(&ts)))
    });
    g.bench_function("sdk Context", |b| {
        b.iter(|| {
            v.sdk_tc
                .extract_with_context(&Context::new(), &HeaderExtractor(black_box(&ts)))
        })
    });
    g.finish();

    let bag = headers(false, true);
    let mut g = c.benchmark_group("extract baggage 5 members");
    g.bench_function("ours Extracted", |b| {
        b.iter(|| v.baggage_only.extract(black_box(&bag)))
    });
    g.bench_function("ours Context", |b| {
        b.iter(|| {
            v.baggage_only
                .extract_context(black_box(&bag), &Context::new())
        })
    });
    g.bench_function("sdk Context", |b| {
        b.iter(|| {
            v.sdk_bag
                .extract_with_context(&Context::new(), &HeaderExtractor(black_box(&bag)))
        })
    });
    g.finish();

    let cx_tp = v.tc_only.extract(&tp).into_context(&Context::new());
    let cx_ts = v.tc_only.extract(&ts).into_context(&Context::new());
    let cx_bag = v.baggage_only.extract(&bag).into_context(&Context::new());
    for (name, cx, ours, sdk_is_tc) in [
        ("inject traceparent", &cx_tp, &v.tc_only, true),
        ("inject traceparent+tracestate", &cx_ts, &v.tc_only, true),
        ("inject baggage 5 members", &cx_bag, &v.baggage_only, false),
    ] {
        let mut g = c.benchmark_group(name);
        // One map, cleared before each injection (clearing keeps its capacity).
        let mut out = HeaderMap::with_capacity(4);
        g.bench_function("ours", |b| {
            b.iter(|| {
                out.clear();
                ours.inject_context(black_box(cx), &mut out);
            })
        });
        g.bench_function("sdk", |b| {
            b.iter(|| {
                out.clear();
                if sdk_is_tc {
                    v.sdk_tc
                        .inject_context(black_box(cx), &mut HeaderInjector(&mut out));
                } else {
                    v.sdk_bag
                        .inject_context(black_box(cx), &mut HeaderInjector(&mut out));
                }
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
