//! Keeping errors and slow requests through a real SDK tracer provider and an in-memory
//! exporter.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, Sampler, SdkTracerProvider, SimpleSpanProcessor,
};
use tracewire_sampling::{KeepErrorsAndSlow, TailStats};

fn setup(keep: &KeepErrorsAndSlow, head: Sampler) -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_sampler(keep.sampler(head))
        .with_span_processor(keep.processor(SimpleSpanProcessor::new(exporter.clone())))
        .build();
    (provider, exporter)
}

/// A request: a SERVER root with a CLIENT child and an INTERNAL grandchild; `error` marks the
/// grandchild failed, `took` is the root's duration.
fn request(provider: &SdkTracerProvider, name: &str, error: bool, took: Duration) {
    let tracer = provider.tracer("test");
    let start = SystemTime::now();
    let root = tracer
        .span_builder(name.to_owned())
        .with_kind(SpanKind::Server)
        .with_start_time(start)
        .start(&tracer);
    let cx = Context::new().with_span(root);
    let child = tracer
        .span_builder("call")
        .with_kind(SpanKind::Client)
        .start_with_context(&tracer, &cx);
    let child_cx = cx.with_span(child);
    let mut grandchild = tracer.start_with_context("work", &child_cx);
    if error {
        grandchild.set_status(Status::error("boom"));
    }
    grandchild.end();
    child_cx.span().end();
    cx.span().end_with_timestamp(start + took);
}

#[test]
fn errors_and_slow_traces_are_kept_while_normal_ones_are_dropped() {
    let keep = KeepErrorsAndSlow::new().slower_than(Duration::from_millis(500));
    let (provider, exporter) = setup(&keep, Sampler::AlwaysOff);
    request(&provider, "normal", false, Duration::from_millis(5));
    request(&provider, "failed", true, Duration::from_millis(5));
    request(&provider, "slow", false, Duration::from_secs(2));
    request(&provider, "normal again", false, Duration::from_millis(5));

    let spans = exporter.get_finished_spans().unwrap();
    let roots: Vec<&str> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Server)
        .map(|s| s.name.as_ref())
        .collect();
    assert_eq!(roots, ["failed", "slow"]);
    assert_eq!(spans.len(), 6, "whole traces: root, child, grandchild");
    assert!(
        spans.iter().all(|s| s.span_context.is_sampled()),
        "exported as sampled"
    );
    // Each kept trace is one connected tree.
    for root in spans.iter().filter(|s| s.span_kind == SpanKind::Server) {
        let trace: Vec<_> = spans
            .iter()
            .filter(|s| s.span_context.trace_id() == root.span_context.trace_id())
            .collect();
        assert_eq!(trace.len(), 3);
        let child = trace.iter().find(|s| s.name == "call").unwrap();
        assert_eq!(child.parent_span_id, root.span_context.span_id());
    }
    let stats: TailStats = keep.stats();
    assert_eq!(
        (
            stats.buffered_traces,
            stats.kept_traces,
            stats.discarded_traces,
            stats.dropped_traces,
            stats.dropped_spans
        ),
        (0, 2, 2, 0, 0)
    );
}

#[test]
fn head_sampled_traces_pass_straight_through_and_predicates_keep_more() {
    let keep = KeepErrorsAndSlow::new().keep_if(|span| {
        span.attributes
            .iter()
            .any(|kv| kv.key.as_str() == "tenant.id" && kv.value.as_str() == "vip")
    });
    let (provider, exporter) = setup(&keep, Sampler::AlwaysOn);
    request(&provider, "sampled", false, Duration::from_millis(1));
    assert_eq!(exporter.get_finished_spans().unwrap().len(), 3);
    assert_eq!(keep.stats().kept_traces, 0, "never buffered");

    let keep = KeepErrorsAndSlow::new().keep_if(|span| {
        span.attributes
            .iter()
            .any(|kv| kv.key.as_str() == "tenant.id" && kv.value.as_str() == "vip")
    });
    let (provider, exporter) = setup(&keep, Sampler::AlwaysOff);
    let tracer = provider.tracer("test");
    for tenant in ["vip", "other"] {
        let mut span = tracer
            .span_builder("request")
            .with_attributes([KeyValue::new("tenant.id", tenant)])
            .start(&tracer);
        span.end();
    }
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].attributes[0].value.as_str(), "vip");
}

#[test]
fn a_flood_of_unsampled_traffic_stays_under_the_cap() {
    let keep = KeepErrorsAndSlow::new()
        .max_traces(100)
        .max_spans_per_trace(10);
    let (provider, exporter) = setup(&keep, Sampler::AlwaysOff);
    let tracer = provider.tracer("test");
    // 10 000 roots that never end (a leak upstream, or very long requests), each with 20
    // finished children.
    let mut open = Vec::new();
    for _ in 0..10_000 {
        let root = tracer.start("open");
        let cx = Context::new().with_span(root);
        for _ in 0..20 {
            tracer.start_with_context("child", &cx).end();
        }
        open.push(cx);
        let stats = keep.stats();
        assert!(stats.buffered_traces <= 100, "{stats:?}");
    }
    let stats = keep.stats();
    assert_eq!(stats.buffered_traces, 100);
    assert_eq!(stats.dropped_traces, 9_900, "oldest first");
    assert!(stats.dropped_spans >= 10 * 10_000, "{stats:?}");
    assert!(exporter.get_finished_spans().unwrap().is_empty());

    // The newest traces are still buffered and decided when they end: one fails.
    let last = open.pop().unwrap();
    last.span().set_status(Status::error("late failure"));
    last.span().end();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(
        spans.len(),
        10,
        "the root and its newest 9 children (cap 10)"
    );
    // An evicted one ends: nothing to export, nothing buffered for it.
    open[0].span().set_status(Status::error("too late"));
    open[0].span().end();
    assert_eq!(exporter.get_finished_spans().unwrap().len(), 10);
}

#[test]
fn spans_that_end_after_their_root_follow_the_trace() {
    let keep = KeepErrorsAndSlow::new();
    let (provider, exporter) = setup(&keep, Sampler::AlwaysOff);
    let tracer = provider.tracer("test");
    for fail in [true, false] {
        let root = tracer.start("root");
        let cx = Context::new().with_span(root);
        let late = tracer.start_with_context("background", &cx);
        if fail {
            cx.span().set_status(Status::error("x"));
        }
        cx.span().end();
        let mut late = late;
        late.end();
    }
    let spans = exporter.get_finished_spans().unwrap();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        ["root", "background"],
        "only the failed trace's spans"
    );
}
