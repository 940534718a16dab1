#![no_main]
//! Every format at once on arbitrary header fields: extract and inject never panic, and the
//! trace context we send reads back the same.

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use opentelemetry::Context;
use tracewire_propagation::{Format, Propagator};

const NAMES: [&str; 8] = [
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "uber-trace-id",
    "uberctx-tenant",
];

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for chunk in data.split(|&b| b == b'\n') {
        if let Some((&selector, value)) = chunk.split_first() {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.append(HeaderName::from_static(NAMES[selector as usize % NAMES.len()]), value);
            }
        }
    }
    let p = Propagator::from_formats([
        Format::TraceContext,
        Format::Baggage,
        Format::B3,
        Format::B3Multi,
        Format::Jaeger,
    ]);
    let extracted = p.extract(&headers);
    let ids = extracted.parent().map(|t| (t.trace_id(), t.span_id(), t.is_sampled()));
    let mut out = HeaderMap::new();
    p.inject_context(&extracted.into_context(&Context::new()), &mut out);
    let again = p.extract(&out);
    assert_eq!(again.parent().map(|t| (t.trace_id(), t.span_id(), t.is_sampled())), ids);
});
