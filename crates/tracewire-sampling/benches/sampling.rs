//! Decision cost per span for each sampler, side by side with the SDK's `TraceIdRatioBased`,
//! and the cost per request of the tail buffer against exporting every span.
//!
//! Decisions are made for a root span with the attributes an HTTP server span has at its
//! start (method, route, path, scheme). A request is a SERVER root with two children, made
//! with an SDK tracer; "exporting" means a simple processor feeding an exporter that encodes
//! every span's fields into a buffer (what an OTLP encoder does, without the network).
//!
//! `cargo bench -p tracewire-sampling` prints allocations per request first.

use std::alloc::System;
use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use opentelemetry::trace::{SpanKind, TraceContextExt, TraceId, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    Sampler, SdkTracerProvider, ShouldSample, SimpleSpanProcessor, SpanData, SpanExporter,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tracewire_sampling::{AdaptiveSampler, KeepErrorsAndSlow, Rule, RuleSampler};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn attributes() -> Vec<KeyValue> {
    vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.route", "/api/users/{id}"),
        KeyValue::new("url.path", "/api/users/42"),
        KeyValue::new("url.scheme", "http"),
    ]
}

fn rules() -> RuleSampler {
    RuleSampler::new([
        Rule::path("/health").never(),
        Rule::path_glob("/static/*").ratio(0.01),
        Rule::rpc_method_glob("inventory.*").always(),
        Rule::path_prefix("/api").ratio(0.1),
    ])
}

fn decide(c: &mut Criterion) {
    let attrs = attributes();
    let samplers: Vec<(&str, Box<dyn ShouldSample>)> = vec![
        (
            "SDK TraceIdRatioBased(0.1)",
            Box::new(Sampler::TraceIdRatioBased(0.1)),
        ),
        (
            "SDK ParentBased(TraceIdRatioBased(0.1)), root",
            Box::new(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                0.1,
            )))),
        ),
        ("RuleSampler, 4 rules, the last matches", Box::new(rules())),
        ("AdaptiveSampler", Box::new(AdaptiveSampler::new(10.0))),
        (
            "AdaptiveSampler per route",
            Box::new(AdaptiveSampler::new(10.0).per_route()),
        ),
        (
            "RuleSampler, adaptive rule per route",
            Box::new(RuleSampler::new([
                Rule::path("/health").never(),
                Rule::path_prefix("/api").adaptive(AdaptiveSampler::new(10.0).per_route()),
            ])),
        ),
        (
            "KeepErrorsAndSlow sampler around ratio, root",
            Box::new(KeepErrorsAndSlow::new().sampler(Sampler::TraceIdRatioBased(0.1))),
        ),
    ];
    let mut g = c.benchmark_group("decide");
    for (name, sampler) in &samplers {
        let mut n = 0u128;
        g.bench_function(*name, |b| {
            b.iter(|| {
                n = n.wrapping_add(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
                let r = sampler.should_sample(
                    None,
                    TraceId::from(n),
                    "GET /api/users/{id}",
                    &SpanKind::Server,
                    black_box(&attrs),
                    &[],
                );
                black_box(r.decision)
            });
        });
    }
    g.finish();
}

/// Encodes each span's fields into a buffer: the work of an encoder, without a network.
#[derive(Debug)]
struct EncodingExporter;

impl SpanExporter for EncodingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut out = String::with_capacity(256 * batch.len());
        for span in &batch {
            let _ = write!(
                out,
                "{}{}{}{:?}{:?}{:?}",
                span.name,
                span.span_context.trace_id(),
                span.span_context.span_id(),
                span.start_time,
                span.end_time,
                span.status
            );
            for kv in &span.attributes {
                let _ = write!(out, "{}={}", kv.key, kv.value);
            }
        }
        black_box(out);
        Ok(())
    }
}

fn provider(
    sampler: impl ShouldSample + 'static,
    tail: Option<&KeepErrorsAndSlow>,
) -> SdkTracerProvider {
    let builder = SdkTracerProvider::builder();
    match tail {
        Some(keep) => builder
            .with_sampler(sampler)
            .with_span_processor(keep.processor(SimpleSpanProcessor::new(EncodingExporter))),
        None => builder
            .with_sampler(sampler)
            .with_span_processor(SimpleSpanProcessor::new(EncodingExporter)),
    }
    .build()
}

fn request(provider: &SdkTracerProvider, attrs: &[KeyValue]) {
    let tracer = provider.tracer("bench");
    let root = tracer
        .span_builder("GET /api/users/{id}")
        .with_kind(SpanKind::Server)
        .with_attributes(attrs.to_vec())
        .start(&tracer);
    let cx = Context::new().with_span(root);
    for name in ["db query", "cache"] {
        let span = tracer.start_with_context(name, &cx);
        drop(span);
    }
    cx.span().end();
}

fn tail(c: &mut Criterion) {
    let attrs = attributes();
    let keep = KeepErrorsAndSlow::new();
    let variants = [
        (
            "head sampling only, 1 % (no tail)",
            provider(Sampler::TraceIdRatioBased(0.01), None),
        ),
        ("export every span", provider(Sampler::AlwaysOn, None)),
        (
            "tail buffer around 1 % head sampling",
            provider(keep.sampler(Sampler::TraceIdRatioBased(0.01)), Some(&keep)),
        ),
    ];
    println!("\nheap allocations per request of three spans (mean of 1000)");
    for (name, p) in &variants {
        request(p, &attrs);
        let region = Region::new(GLOBAL);
        for _ in 0..1000 {
            request(p, &attrs);
        }
        println!(
            "{name:<44} {:>7.1}",
            region.change().allocations as f64 / 1000.0
        );
    }
    println!();
    let mut g = c.benchmark_group("request");
    for (name, p) in &variants {
        g.bench_function(*name, |b| b.iter(|| request(p, &attrs)));
    }
    g.finish();
}

criterion_group!(benches, decide, tail);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
