//! Property tests: formatting then parsing is the identity, and no input makes a parser panic.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceFlags, TraceId};
use proptest::prelude::*;
use tracewire_propagation::baggage::{Baggage, BaggageLimits, Member};
use tracewire_propagation::traceparent::TraceParent;
use tracewire_propagation::tracestate::TraceState;
use tracewire_propagation::{Format, Propagator};

fn all_formats() -> Propagator {
    Propagator::from_formats([
        Format::TraceContext,
        Format::Baggage,
        Format::B3,
        Format::B3Multi,
        Format::Jaeger,
        Format::XRay,
    ])
}

const NAMES: &[&str] = &[
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-b3-parentspanid",
    "uber-trace-id",
    "uberctx-k",
    "x-amzn-trace-id",
];

fn tracestate_key() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_*/@-]{0,20}"
}

fn tracestate_value() -> impl Strategy<Value = String> {
    // chr* nblk-chr, without ',' and '='
    "[ !-+\\--<>-~]{0,20}[!-+\\--<>-~]"
}

proptest! {
    #[test]
    fn xray_round_trips(trace in 1u128.., span in 1u64.., sampled in any::<bool>()) {
        let tp = TraceParent::new(
            TraceId::from_bytes(trace.to_be_bytes()),
            SpanId::from_bytes(span.to_be_bytes()),
            TraceFlags::new(u8::from(sampled)),
        ).unwrap();
        let p = Propagator::from_formats([Format::XRay]);
        let cx = Context::new().with_remote_span_context(tp.to_span_context(Default::default()));
        let mut out = HeaderMap::new();
        p.inject_context(&cx, &mut out);
        let back = p.extract(&out);
        let back = back.parent().unwrap();
        prop_assert_eq!(back.trace_id(), tp.trace_id());
        prop_assert_eq!(back.span_id(), tp.span_id());
        prop_assert_eq!(back.is_sampled(), sampled);
    }

    #[test]
    fn xray_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_bytes(&bytes) {
            headers.insert("x-amzn-trace-id", v);
        }
        let _ = Propagator::from_formats([Format::XRay]).extract(&headers);
    }

    #[test]
    fn traceparent_round_trips(trace in 1u128.., span in 1u64.., flags in any::<u8>()) {
        let tp = TraceParent::new(
            TraceId::from_bytes(trace.to_be_bytes()),
            SpanId::from_bytes(span.to_be_bytes()),
            TraceFlags::new(flags),
        ).unwrap();
        let text = tp.to_string();
        prop_assert_eq!(text.len(), 55);
        prop_assert_eq!(TraceParent::parse(text.as_bytes()), Ok(tp));
        prop_assert_eq!(tp.flags().to_u8(), flags & 0x03);
    }

    #[test]
    fn traceparent_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = TraceParent::parse(&bytes);
    }

    #[test]
    fn traceparent_mutations_are_rejected_or_reparse(
        trace in 1u128.., span in 1u64.., pos in 0usize..55, byte in any::<u8>()
    ) {
        // Changing one character either keeps a valid header or is rejected; it never
        // yields ids that differ from the text.
        let tp = TraceParent::new(
            TraceId::from_bytes(trace.to_be_bytes()),
            SpanId::from_bytes(span.to_be_bytes()),
            TraceFlags::SAMPLED,
        ).unwrap();
        let mut text = tp.encode().to_vec();
        text[pos] = byte;
        if let Ok(parsed) = TraceParent::parse(&text) {
            let again = parsed.encode();
            prop_assert_eq!(&again[3..52], &text[3..52]);
        }
    }

    #[test]
    fn tracestate_round_trips(members in proptest::collection::vec((tracestate_key(), tracestate_value()), 0..32)) {
        let mut seen = std::collections::HashSet::new();
        let members: Vec<_> = members.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
        let header = members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        let state = TraceState::parse(&header).unwrap();
        prop_assert_eq!(state.header(), header.as_str());
        prop_assert_eq!(state.len(), members.len());
        let back: Vec<_> = state.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(back, members);
    }

    #[test]
    fn tracestate_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(state) = TraceState::parse_fields([&bytes[..]]) {
            prop_assert!(state.len() <= 32);
            // What we accept we can emit and read back.
            prop_assert_eq!(TraceState::parse(state.header()), Ok(state));
        }
    }

    #[test]
    fn tracestate_truncation_respects_the_limit(
        members in proptest::collection::vec((tracestate_key(), "[a-z]{1,200}"), 1..32),
        limit in 0usize..1000,
    ) {
        let mut seen = std::collections::HashSet::new();
        let header = members.iter().filter(|(k, _)| seen.insert(k.clone()))
            .map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        let mut state = TraceState::parse(&header).unwrap();
        let before: Vec<String> = state.iter().map(|(k, v)| format!("{k}={v}")).collect();
        state.truncate_to(limit);
        prop_assert!(state.header().len() <= limit);
        // Only whole members are removed, order kept.
        let after: Vec<String> = state.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut it = before.iter();
        for m in &after {
            prop_assert!(it.any(|b| b == m));
        }
    }

    #[test]
    fn baggage_round_trips(members in proptest::collection::vec(("[A-Za-z0-9!#$&'*+.^_`|~-]{1,10}", any::<String>(), "(;[a-z]{1,5}(=[a-z0-9]{0,5})?){0,2}"), 0..20)) {
        let mut bag = Baggage::new();
        for (k, v, p) in &members {
            bag.push_within(Member::new(k, v, p).unwrap(), BaggageLimits::default());
        }
        let header = bag.header();
        let parsed = Baggage::parse_fields([header], BaggageLimits::default());
        let want: Vec<_> = bag.iter().map(|m| (m.key(), m.value(), m.properties())).collect();
        let got: Vec<_> = parsed.iter().map(|m| (m.key(), m.value(), m.properties())).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn baggage_parse_never_panics_and_respects_limits(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let bag = Baggage::parse_fields([&bytes[..]], BaggageLimits::default());
        prop_assert!(bag.len() <= 64);
        prop_assert!(bag.encoded_len() <= 8192);
        prop_assert_eq!(bag.header().len(), bag.encoded_len());
    }

    #[test]
    fn composite_extract_and_inject_never_panic(
        fields in proptest::collection::vec((0usize..NAMES.len(), proptest::collection::vec(any::<u8>(), 0..100)), 0..12)
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                headers.append(HeaderName::from_static(NAMES[name]), value);
            }
        }
        let p = all_formats();
        let cx = p.extract(&headers).into_context(&Context::new());
        let mut out = HeaderMap::new();
        p.inject_context(&cx, &mut out);
        // Whatever we send, we read back the same way.
        let again = p.extract(&out);
        let first = p.extract(&headers);
        prop_assert_eq!(again.parent().map(|t| (t.trace_id(), t.span_id(), t.is_sampled())),
                        first.parent().map(|t| (t.trace_id(), t.span_id(), t.is_sampled())));
    }
}
