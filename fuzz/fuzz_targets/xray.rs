#![no_main]
//! AWS X-Ray: extraction never panics, and what we send reads back to the same ids.

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use opentelemetry::Context;
use tracewire_propagation::{Format, Propagator};

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for chunk in data.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(chunk) {
            headers.append("x-amzn-trace-id", value);
        }
    }
    let p = Propagator::from_formats([Format::XRay]);
    let extracted = p.extract(&headers);
    let ids = extracted
        .parent()
        .map(|t| (t.trace_id(), t.span_id(), t.is_sampled()));
    let mut out = HeaderMap::new();
    p.inject_context(&extracted.into_context(&Context::new()), &mut out);
    let again = p.extract(&out);
    assert_eq!(
        again
            .parent()
            .map(|t| (t.trace_id(), t.span_id(), t.is_sampled())),
        ids
    );
});
