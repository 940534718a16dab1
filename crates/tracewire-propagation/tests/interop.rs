//! Interoperability with opentelemetry_sdk's own propagators: what one writes, the other reads.

use std::collections::HashMap;

use http::HeaderMap;
use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use tracewire_propagation::Propagator;
use tracewire_propagation::carrier::{HeaderExtractor, HeaderInjector};

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn sdk_reads_what_we_write() {
    let ours = Propagator::new();
    let mut incoming = HeaderMap::new();
    incoming.insert("traceparent", TP.parse().unwrap());
    incoming.insert(
        "tracestate",
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7".parse().unwrap(),
    );
    incoming.insert("baggage", "userId=alice,note=a%20b".parse().unwrap());
    let cx = ours.extract(&incoming).into_context(&Context::new());
    let mut sent = HashMap::new();
    TextMapPropagator::inject_context(&ours, &cx, &mut sent);

    let theirs = TraceContextPropagator::new().extract(&sent);
    let sc = theirs.span().span_context().clone();
    assert_eq!(sc, cx.span().span_context().clone());
    assert_eq!(
        sc.trace_state().header(),
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    );
    let bag = BaggagePropagator::new().extract(&sent);
    assert_eq!(bag.baggage().get("note").map(|v| v.as_str()), Some("a b"));
}

#[test]
fn we_read_what_the_sdk_writes() {
    let mut incoming = HashMap::new();
    incoming.insert("traceparent".to_owned(), TP.to_owned());
    incoming.insert("tracestate".to_owned(), "a=1,b=2".to_owned());
    let sdk_cx = TraceContextPropagator::new().extract(&incoming);
    let sdk_cx = sdk_cx.with_baggage([opentelemetry::KeyValue::new("k", "v w")]);
    let mut headers = HeaderMap::new();
    TraceContextPropagator::new().inject_context(&sdk_cx, &mut HeaderInjector(&mut headers));
    BaggagePropagator::new().inject_context(&sdk_cx, &mut HeaderInjector(&mut headers));

    let ours = Propagator::new().extract(&headers);
    assert_eq!(ours.parent().unwrap().to_string(), TP);
    assert_eq!(ours.trace_state().header(), "a=1,b=2");
    assert_eq!(ours.baggage().get("k"), Some("v w"));
}

#[test]
fn works_through_the_textmap_interface() {
    let mut headers = HeaderMap::new();
    headers.append("tracestate", "a=1".parse().unwrap());
    headers.append("tracestate", "b=2".parse().unwrap());
    headers.insert("traceparent", TP.parse().unwrap());
    let ours = Propagator::new();
    let cx =
        TextMapPropagator::extract_with_context(&ours, &Context::new(), &HeaderExtractor(&headers));
    assert_eq!(cx.span().span_context().trace_state().header(), "a=1,b=2");
    let fields: Vec<_> = TextMapPropagator::fields(&ours).collect();
    assert_eq!(fields, ["traceparent", "tracestate", "baggage"]);
}

#[test]
fn stricter_than_the_sdk() {
    // Inputs the SDK's propagator accepts and ours rejects, per the W3C rules.
    let two_fields = {
        let mut h = HeaderMap::new();
        h.append("traceparent", TP.parse().unwrap());
        h.append(
            "traceparent",
            "00-11111111111111111111111111111111-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        h
    };
    assert!(
        TraceContextPropagator::new()
            .extract(&HeaderExtractor(&two_fields))
            .span()
            .span_context()
            .is_valid()
    );
    assert!(Propagator::new().extract(&two_fields).parent().is_none());

    let mut plus = HeaderMap::new();
    plus.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-+0f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    assert!(Propagator::new().extract(&plus).parent().is_none());

    let mut random = HeaderMap::new();
    random.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
            .parse()
            .unwrap(),
    );
    let ours = Propagator::new().extract(&random);
    assert!(
        ours.parent().unwrap().is_random(),
        "Level 2 random flag kept"
    );
}

#[cfg(feature = "tonic")]
#[test]
fn tonic_metadata_carrier() {
    use tonic::metadata::MetadataMap;
    let mut md = MetadataMap::new();
    md.insert("traceparent", TP.parse().unwrap());
    md.append("tracestate", "a=1".parse().unwrap());
    md.append("tracestate", "b=2".parse().unwrap());
    md.insert("baggage", "tenant=acme".parse().unwrap());
    let p = Propagator::new();
    let cx = p.extract(&md).into_context(&Context::new());
    let mut out = MetadataMap::new();
    p.inject_context(&cx, &mut out);
    assert_eq!(out.get("traceparent").unwrap(), TP);
    assert_eq!(out.get("tracestate").unwrap(), "a=1,b=2");
    assert_eq!(out.get("baggage").unwrap(), "tenant=acme");
}
