#![no_main]
//! B3 (single and multi) and Jaeger: extraction never panics, and what we send reads back to
//! the same ids.

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use opentelemetry::Context;
use tracewire_propagation::{Format, Propagator};

const NAMES: [&str; 7] = [
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-sampled",
    "x-b3-flags",
    "uber-trace-id",
    "uberctx-k",
];

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for (i, chunk) in data.split(|&b| b == b'\n').enumerate() {
        if let Ok(value) = HeaderValue::from_bytes(chunk) {
            headers.append(HeaderName::from_static(NAMES[i % NAMES.len()]), value);
        }
    }
    for p in [
        Propagator::from_formats([Format::B3]),
        Propagator::from_formats([Format::B3Multi]),
        Propagator::from_formats([Format::Jaeger]),
    ] {
        let extracted = p.extract(&headers);
        let ids = extracted.parent().map(|t| (t.trace_id(), t.span_id(), t.is_sampled()));
        let mut out = HeaderMap::new();
        p.inject_context(&extracted.into_context(&Context::new()), &mut out);
        let again = p.extract(&out);
        assert_eq!(again.parent().map(|t| (t.trace_id(), t.span_id(), t.is_sampled())), ids);
    }
});
