//! Conformance tests, named by the rule of the project's spec digest they check
//! (section 0 is the W3C checklist; 2.1 traceparent, 2.2 tracestate, 2.3 baggage, 2.4 B3 and
//! Jaeger).

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracewire_propagation::baggage::{Baggage, BaggageLimits};
use tracewire_propagation::traceparent::{TraceParent, TraceParentError};
use tracewire_propagation::tracestate::TraceState;
use tracewire_propagation::{Format, Propagator};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";

fn tp(flags: &str) -> String {
    format!("00-{TRACE}-{SPAN}-{flags}")
}

fn headers(fields: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in fields {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    map
}

fn inject(propagator: &Propagator, cx: &Context) -> HeaderMap {
    let mut out = HeaderMap::new();
    propagator.inject_context(cx, &mut out);
    out
}

fn roundtrip(fields: &[(&str, &[u8])]) -> HeaderMap {
    let p = Propagator::new();
    let cx = p.extract(&headers(fields)).into_context(&Context::new());
    inject(&p, &cx)
}

fn sdk_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder().build()
}

// ---- 0.1 every traceparent field is read; two fields are invalid ------------------------

#[test]
fn rule_0_1_two_traceparent_fields_are_invalid() {
    let h = headers(&[
        ("traceparent", tp("01").as_bytes()),
        ("traceparent", tp("01").as_bytes()),
        ("tracestate", b"congo=1"),
    ]);
    let extracted = Propagator::new().extract(&h);
    assert!(extracted.parent().is_none());
    assert!(
        extracted.trace_state().is_empty(),
        "tracestate dropped with the parent"
    );
    assert_eq!(
        TraceParent::parse_fields(h.get_all("traceparent").iter().map(|v| v.as_bytes())),
        Err(TraceParentError::Duplicate)
    );
}

#[test]
fn rule_0_1_two_fields_invalid_even_if_one_is_garbage() {
    let h = headers(&[("traceparent", tp("01").as_bytes()), ("traceparent", b"x")]);
    assert!(Propagator::new().extract(&h).parent().is_none());
}

#[test]
fn rule_0_1_one_field_is_read() {
    let h = headers(&[("traceparent", tp("01").as_bytes())]);
    let parent = *Propagator::new().extract(&h).parent().unwrap();
    assert_eq!(parent.to_string(), tp("01"));
}

// ---- 0.2 strict parse by length and character set -----------------------------------------

#[test]
fn rule_0_2_strict_traceparent_table() {
    let z32 = "0".repeat(32);
    let z16 = "0".repeat(16);
    let cases: Vec<(String, Result<(), TraceParentError>)> = vec![
        (tp("01"), Ok(())),
        (tp("00"), Ok(())),
        // OWS at both ends is trimmed.
        (format!(" \t{}\t ", tp("01")), Ok(())),
        // Uppercase is invalid everywhere.
        (
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            Err(TraceParentError::TraceId),
        ),
        (
            format!("00-{TRACE}-{}-01", SPAN.to_uppercase()),
            Err(TraceParentError::ParentId),
        ),
        (
            format!("00-{TRACE}-{SPAN}-0A"),
            Err(TraceParentError::Flags),
        ),
        (
            format!("0A-{TRACE}-{SPAN}-01"),
            Err(TraceParentError::Version),
        ),
        // What a number parser would accept: '+' signs, and short ids.
        (
            format!("00-+{}-{SPAN}-01", &TRACE[1..]),
            Err(TraceParentError::TraceId),
        ),
        (
            format!("00-{TRACE}-+{}-01", &SPAN[1..]),
            Err(TraceParentError::ParentId),
        ),
        (
            format!("00-{TRACE}-{SPAN}-+1"),
            Err(TraceParentError::Flags),
        ),
        (
            format!("+0-{TRACE}-{SPAN}-01"),
            Err(TraceParentError::Version),
        ),
        (
            format!("00-{}-{SPAN}-01", &TRACE[1..]),
            Err(TraceParentError::Length),
        ),
        (
            format!("00-{TRACE}-{}-01", &SPAN[1..]),
            Err(TraceParentError::Length),
        ),
        // All-zero ids.
        (
            format!("00-{z32}-{SPAN}-01"),
            Err(TraceParentError::TraceId),
        ),
        (
            format!("00-{TRACE}-{z16}-01"),
            Err(TraceParentError::ParentId),
        ),
        // Version ff is forbidden.
        (
            format!("ff-{TRACE}-{SPAN}-01"),
            Err(TraceParentError::Version),
        ),
        // Version 00 is exactly 55 characters.
        (format!("{}-extra", tp("01")), Err(TraceParentError::Length)),
        (format!("{}.", tp("01")), Err(TraceParentError::Length)),
        (tp("01")[..54].to_owned(), Err(TraceParentError::Length)),
        // Delimiters at 2, 35 and 52.
        (
            format!("00_{TRACE}-{SPAN}-01"),
            Err(TraceParentError::Delimiter),
        ),
        (
            format!("00-{TRACE}_{SPAN}-01"),
            Err(TraceParentError::Delimiter),
        ),
        (
            format!("00-{TRACE}-{SPAN}_01"),
            Err(TraceParentError::Delimiter),
        ),
        // Garbage and empty.
        (String::new(), Err(TraceParentError::Length)),
        ("   ".to_owned(), Err(TraceParentError::Length)),
        ("00-".to_owned(), Err(TraceParentError::Length)),
    ];
    for (input, want) in cases {
        let got = TraceParent::parse(input.as_bytes()).map(|_| ());
        assert_eq!(got, want, "input {input:?}");
    }
}

#[test]
fn rule_0_2_future_versions() {
    let body = format!("{TRACE}-{SPAN}-01");
    // Higher version, same length: accepted.
    assert!(TraceParent::parse(format!("cc-{body}").as_bytes()).is_ok());
    // Higher version with more fields after a '-': accepted, the rest ignored, 00 emitted.
    let future =
        TraceParent::parse(format!("cc-{body}-what-the-future-will-be-like").as_bytes()).unwrap();
    assert_eq!(future.to_string(), format!("00-{body}"));
    // Higher version with anything but '-' at position 55: restart.
    assert_eq!(
        TraceParent::parse(format!("cc-{body}.what-the-future-will-be-like").as_bytes()),
        Err(TraceParentError::Length)
    );
    // Higher version, shorter than 55: restart.
    assert_eq!(
        TraceParent::parse(format!("cc-{}", &body[1..]).as_bytes()),
        Err(TraceParentError::Length)
    );
    // Higher version with invalid ids is still invalid.
    assert!(TraceParent::parse(format!("cc-{}-{SPAN}-01-x", "0".repeat(32)).as_bytes()).is_err());
}

#[test]
fn rule_0_2_non_utf8_and_oversized_values_are_ignored() {
    let mut bad = tp("01").into_bytes();
    bad[10] = 0xe9;
    let big = vec![b'a'; 64 * 1024];
    for value in [&bad[..], &big[..], b"\x80\x81"] {
        let h = headers(&[("traceparent", value), ("tracestate", b"a=1")]);
        let extracted = Propagator::new().extract(&h);
        assert!(extracted.parent().is_none());
        assert!(extracted.trace_state().is_empty());
    }
}

// ---- 0.3 random-trace-id flag -----------------------------------------------------------------

#[test]
fn rule_0_3_random_flag_kept_when_continuing() {
    let out = roundtrip(&[("traceparent", tp("02").as_bytes())]);
    assert_eq!(out["traceparent"], tp("02").as_str());
    let out = roundtrip(&[("traceparent", tp("03").as_bytes())]);
    assert_eq!(out["traceparent"], tp("03").as_str());
}

#[test]
fn rule_0_3_random_flag_survives_an_sdk_child_span() {
    let provider = sdk_provider();
    let tracer = provider.tracer("conformance");
    let p = Propagator::new();
    let cx = p
        .extract(&headers(&[("traceparent", tp("03").as_bytes())]))
        .into_context(&Context::new());
    let span = tracer.start_with_context("child", &cx);
    let child_cx = cx.with_span(span);
    let out = inject(&p, &child_cx);
    let sent = TraceParent::parse(out["traceparent"].as_bytes()).unwrap();
    assert_eq!(sent.trace_id().to_string(), TRACE);
    assert!(
        sent.is_random(),
        "flag 0x02 must stay set for the same trace id"
    );
}

#[test]
fn rule_0_3_unknown_flag_bits_are_zeroed() {
    let out = roundtrip(&[("traceparent", tp("ff").as_bytes())]);
    assert_eq!(out["traceparent"], tp("03").as_str());
    let out = roundtrip(&[("traceparent", tp("fc").as_bytes())]);
    assert_eq!(out["traceparent"], tp("00").as_str());
}

#[test]
fn rule_0_3_new_trace_sets_random_flag() {
    for sampled in [true, false] {
        let root = TraceParent::new_root(sampled);
        assert!(root.is_random());
        assert_eq!(root.is_sampled(), sampled);
        let text = root.to_string();
        assert_eq!(TraceParent::parse(text.as_bytes()), Ok(root));
    }
}

// ---- 0.4 tracestate fields combined, empty members skipped -----------------------------------

#[test]
fn rule_0_4_tracestate_fields_combined_in_order() {
    let out = roundtrip(&[
        ("traceparent", tp("01").as_bytes()),
        ("tracestate", b"a=1, ,\t"),
        ("tracestate", b""),
        ("tracestate", b" b=2 ,,c=3"),
    ]);
    assert_eq!(out["tracestate"], "a=1,b=2,c=3");
}

// ---- 0.5 Level 2 grammar, 32-member limit ------------------------------------------------------

#[test]
fn rule_0_5_level_2_key_grammar() {
    let valid = [
        "foo".to_owned(),
        "foo@".to_owned(),
        "foo@@bar".to_owned(),
        "foo@bar@baz".to_owned(),
        "t@v*15".to_owned(),
        format!("t{}@v", "*".repeat(242)),
        "0abc".to_owned(),
        "a_-*/@".to_owned(),
        "k".repeat(256),
    ];
    for key in &valid {
        assert!(
            TraceState::parse(&format!("{key}=v")).is_ok(),
            "key {key:?} must be valid"
        );
    }
    let invalid = [
        "@foo".to_owned(),
        "k".repeat(257),
        "Foo".to_owned(),
        "_foo".to_owned(),
        "fo o".to_owned(),
        "foo.bar".to_owned(),
        String::new(),
    ];
    for key in &invalid {
        assert!(
            TraceState::parse(&format!("{key}=v")).is_err(),
            "key {key:?} must be invalid"
        );
    }
}

#[test]
fn rule_0_5_value_grammar() {
    let ok = [
        "v",
        " leading-space-kept",
        "!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~",
        &"v".repeat(256),
    ];
    for value in ok {
        let state =
            TraceState::parse(&format!("k={value}")).unwrap_or_else(|e| panic!("{value:?}: {e}"));
        assert_eq!(state.get("k"), Some(value));
    }
    // Trailing spaces are OWS.
    assert_eq!(TraceState::parse("k=v  ").unwrap().get("k"), Some("v"));
    for value in ["", "   ", "a=b", "\u{e9}", &"v".repeat(257), "tab\tinside"] {
        assert!(
            TraceState::parse(&format!("k={value}")).is_err(),
            "value {value:?}"
        );
    }
}

#[test]
fn rule_0_5_any_invalid_member_discards_the_whole_tracestate() {
    let out = roundtrip(&[
        ("traceparent", tp("01").as_bytes()),
        ("tracestate", b"a=1,B=2,c=3"),
    ]);
    assert!(out.get("tracestate").is_none());
    let out = roundtrip(&[
        ("traceparent", tp("01").as_bytes()),
        ("tracestate", b"a=1,novalue"),
    ]);
    assert!(out.get("tracestate").is_none());
    // ...and never breaks the traceparent.
    assert_eq!(out["traceparent"], tp("01").as_str());
}

#[test]
fn rule_0_5_more_than_32_members_discards() {
    let members = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(TraceState::parse(&members(32)).unwrap().len(), 32);
    assert!(TraceState::parse(&members(33)).is_err());
    // Empty members do not count.
    assert_eq!(
        TraceState::parse(&format!("{},,, ,", members(32)))
            .unwrap()
            .len(),
        32
    );
    // Across fields.
    let a = members(20);
    let b = (20..33)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join(",");
    assert!(TraceState::parse_fields([a.as_str(), b.as_str()]).is_err());
}

#[test]
fn rule_0_5_level_2_keys_survive_an_sdk_hop() {
    // opentelemetry's TraceState cannot hold `foo@@bar`; the propagator carries it anyway.
    let provider = sdk_provider();
    let tracer = provider.tracer("conformance");
    let p = Propagator::new();
    let incoming = headers(&[
        ("traceparent", tp("01").as_bytes()),
        ("tracestate", b"foo@@bar=1,congo=2,x@averyverylongvendor=3"),
    ]);
    let cx = p.extract(&incoming).into_context(&Context::new());
    let child = cx.with_span(tracer.start_with_context("child", &cx));
    let out = inject(&p, &child);
    assert_eq!(
        out["tracestate"],
        "foo@@bar=1,congo=2,x@averyverylongvendor=3"
    );
    // A change made through opentelemetry wins over the carried copy.
    let state = child
        .span()
        .span_context()
        .trace_state()
        .insert("mine", "9")
        .unwrap();
    let sc = child.span().span_context().clone();
    let changed = opentelemetry::trace::SpanContext::new(
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags(),
        false,
        state,
    );
    let out = inject(&p, &child.with_remote_span_context(changed));
    assert_eq!(out["tracestate"], "mine=9,congo=2");
}

#[test]
fn rule_0_5_mutation_moves_keys_left_and_truncation_removes_whole_members() {
    let mut s = TraceState::parse("a=1,b=2,c=3").unwrap();
    s.insert("c", "9").unwrap();
    assert_eq!(s.header(), "c=9,a=1,b=2");
    s.insert("d", "4").unwrap();
    assert_eq!(s.header(), "d=4,c=9,a=1,b=2");
    assert!(s.insert("D", "4").is_err());
    assert!(s.insert("e", "").is_err(), "never an empty value");

    // 512/128 rules: long members first (right-most first), then from the right.
    let long = "x".repeat(130);
    let mut s = TraceState::parse(&format!("a={long},b=1,c={long},d=2")).unwrap();
    let full = s.header().len();
    s.truncate_to(full - 1);
    assert_eq!(s.header(), format!("a={long},b=1,d=2"));
    s.truncate_to(512);
    assert_eq!(s.header().len(), full - 133);
    s.truncate_to(10);
    assert_eq!(s.header(), "b=1,d=2");
    s.truncate_to(4);
    assert_eq!(s.header(), "b=1");
    s.truncate_to(0);
    assert!(s.is_empty());
}

// ---- 0.6 never an empty tracestate header ---------------------------------------------------

#[test]
fn rule_0_6_no_empty_tracestate_header() {
    for state in [&b""[..], b" , ,", b"invalid"] {
        let out = roundtrip(&[("traceparent", tp("01").as_bytes()), ("tracestate", state)]);
        assert!(out.get("tracestate").is_none(), "{state:?}");
    }
    assert!(TraceState::new().to_header_value().is_none());
}

// ---- 0.7 each outgoing request its own parent-id ------------------------------------------

#[test]
fn rule_0_7_child_span_sends_its_own_parent_id() {
    let provider = sdk_provider();
    let tracer = provider.tracer("conformance");
    let p = Propagator::new();
    let cx = p
        .extract(&headers(&[("traceparent", tp("01").as_bytes())]))
        .into_context(&Context::new());
    let mut sent = Vec::new();
    for _ in 0..2 {
        let span = tracer.start_with_context("client", &cx);
        let span_id = span.span_context().span_id();
        let out = inject(&p, &cx.with_span(span));
        let parent = TraceParent::parse(out["traceparent"].as_bytes()).unwrap();
        assert_eq!(parent.span_id(), span_id);
        assert_eq!(parent.trace_id().to_string(), TRACE);
        sent.push(parent.span_id());
    }
    assert_ne!(sent[0], sent[1]);
    assert!(!sent.iter().any(|s| s.to_string() == SPAN));
}

// ---- 0.8 baggage: every field, limits, whole members ----------------------------------------

#[test]
fn rule_0_8_baggage_fields_combined() {
    let out = roundtrip(&[("baggage", b"a=1"), ("baggage", b" b = 2 ;p, ,c=3")]);
    assert_eq!(out["baggage"], "a=1,b=2;p,c=3");
}

#[test]
fn rule_0_8_at_least_64_members_then_whole_members_dropped() {
    let members: Vec<String> = (0..70).map(|i| format!("k{i}=v{i}")).collect();
    let header = members.join(",");
    let bag = Baggage::parse_fields([header.as_str()], BaggageLimits::default());
    assert_eq!(bag.len(), 64);
    assert_eq!(bag.iter().last().unwrap().key(), "k63");
    // Configurable upward.
    let bag = Baggage::parse_fields([header.as_str()], BaggageLimits::default().max_members(100));
    assert_eq!(bag.len(), 70);
}

#[test]
fn rule_0_8_at_least_8192_bytes_then_whole_members_dropped() {
    let big = format!("big={}", "x".repeat(8000));
    let small = "s=1";
    let too_big = format!("next={}", "y".repeat(300));
    let header = format!("{big},{too_big},{small}");
    let bag = Baggage::parse_fields([header.as_str()], BaggageLimits::default());
    let keys: Vec<_> = bag.iter().map(|m| m.key()).collect();
    assert_eq!(
        keys,
        ["big", "s"],
        "the member that does not fit is dropped whole"
    );
    assert!(bag.encoded_len() <= 8192);
    assert_eq!(bag.header().len(), bag.encoded_len());
    // Exactly 8192 bytes fits.
    let exact = format!("k={}", "z".repeat(8190));
    assert_eq!(
        Baggage::parse_fields([exact.as_str()], BaggageLimits::default()).len(),
        1
    );
    let over = format!("k={}", "z".repeat(8191));
    assert!(Baggage::parse_fields([over.as_str()], BaggageLimits::default()).is_empty());
    // Configurable upward.
    let bag = Baggage::parse_fields([header.as_str()], BaggageLimits::default().max_bytes(9000));
    assert_eq!(bag.len(), 3);
}

#[test]
fn rule_0_8_more_than_otel_can_hold_still_propagates() {
    let p = Propagator::new().with_baggage_limits(BaggageLimits::default().max_members(100));
    let header = (0..80)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join(",");
    let cx = p
        .extract(&headers(&[("baggage", header.as_bytes())]))
        .into_context(&Context::new());
    assert_eq!(cx.baggage().len(), 64, "opentelemetry's own cap");
    assert_eq!(inject(&p, &cx)["baggage"], header.as_str());
}

// ---- 2.1 processing model ------------------------------------------------------------------

#[test]
fn rule_2_1_tracestate_without_traceparent_is_discarded() {
    let out = roundtrip(&[("tracestate", b"a=1")]);
    assert!(out.is_empty());
}

#[test]
fn rule_2_1_invalid_traceparent_means_tracestate_is_not_parsed() {
    let extracted = Propagator::new().extract(&headers(&[
        ("traceparent", format!("00-{TRACE}-{SPAN}-0X").as_bytes()),
        ("tracestate", b"a=1"),
    ]));
    assert!(extracted.parent().is_none());
    assert!(extracted.trace_state().is_empty());
}

#[test]
fn rule_2_1_invalid_tracestate_does_not_affect_traceparent() {
    let extracted = Propagator::new().extract(&headers(&[
        ("traceparent", tp("01").as_bytes()),
        ("tracestate", b"=broken"),
    ]));
    assert!(extracted.parent().is_some());
    assert!(extracted.trace_state().is_empty());
}

#[test]
fn rule_2_1_sampled_flag_round_trips_both_ways() {
    for flags in ["00", "01"] {
        let out = roundtrip(&[("traceparent", tp(flags).as_bytes())]);
        assert_eq!(out["traceparent"], tp(flags).as_str());
    }
}

#[test]
fn rule_2_1_no_context_means_no_headers() {
    assert!(inject(&Propagator::new(), &Context::new()).is_empty());
}

// ---- 2.3 baggage encoding --------------------------------------------------------------------

#[test]
fn rule_2_3_baggage_decoding_table() {
    let cases: &[(&[u8], &[(&str, &str, &str)])] = &[
        (b"k=v", &[("k", "v", "")]),
        (b"k = v ", &[("k", "v", "")]),
        (b"k=a%20b%2C%3B", &[("k", "a b,;", "")]),
        (b"k=%E2%9C%93", &[("k", "\u{2713}", "")]),
        (b"k=%FF%FE", &[("k", "\u{FFFD}\u{FFFD}", "")]),
        (b"k=a=b=c", &[("k", "a=b=c", "")]),
        (b"k=", &[("k", "", "")]),
        (b"k=v;p1=x;p2", &[("k", "v", ";p1=x;p2")]),
        (b"k=v ; p1 = x ; p2 ", &[("k", "v", ";p1=x;p2")]),
        (b"k=v,bad,k2=v2", &[("k", "v", ""), ("k2", "v2", "")]),
        (b"k=v,bad key=v,k2=v2", &[("k", "v", ""), ("k2", "v2", "")]),
        (b"k=v w,k2=v2", &[("k2", "v2", "")]),
        (b"k=v;bad prop,k2=v2", &[("k2", "v2", "")]),
        (b"k=\"quoted\"", &[]),
        (b"=v", &[]),
        (b"dup=1,dup=2", &[("dup", "1", ""), ("dup", "2", "")]),
        (b"\xff=1,k=v", &[("k", "v", "")]),
    ];
    for (input, want) in cases {
        let bag = Baggage::parse_fields([*input], BaggageLimits::default());
        let got: Vec<_> = bag
            .iter()
            .map(|m| (m.key(), m.value(), m.properties()))
            .collect();
        assert_eq!(&got, want, "input {:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn rule_2_3_baggage_passes_through_byte_for_byte() {
    let header = b"k=a%20b,Mixed%41=x;p=1;q,dup=1,dup=2";
    let out = roundtrip(&[("baggage", header)]);
    assert_eq!(out["baggage"].as_bytes(), header);
}

#[test]
fn rule_2_3_baggage_changed_through_opentelemetry_is_sent() {
    let p = Propagator::new();
    let cx = p
        .extract(&headers(&[("baggage", b"b=2,a=1")]))
        .into_context(&Context::new());
    let mut kvs: Vec<_> = cx
        .baggage()
        .iter()
        .map(|(k, (v, _))| opentelemetry::KeyValue::new(k.clone(), v.clone()))
        .collect();
    kvs.push(opentelemetry::KeyValue::new("c", "x y"));
    let changed = cx.with_baggage(kvs);
    assert_eq!(inject(&p, &changed)["baggage"], "a=1,b=2,c=x%20y");
    // Cleared baggage sends nothing.
    assert!(
        inject(&p, &cx.with_cleared_baggage())
            .get("baggage")
            .is_none()
    );
}

// ---- 2.4 composite, B3 and Jaeger ------------------------------------------------------------

#[test]
fn rule_2_4_w3c_first_by_default() {
    let p = Propagator::from_formats([Format::TraceContext, Format::B3]);
    let other = "11111111111111111111111111111111";
    let h = headers(&[
        ("traceparent", format!("00-{other}-{SPAN}-00").as_bytes()),
        ("b3", format!("{TRACE}-{SPAN}-1").as_bytes()),
    ]);
    assert_eq!(
        p.extract(&h).parent().unwrap().trace_id().to_string(),
        other
    );
    // An invalid traceparent falls through to B3.
    let h = headers(&[
        ("traceparent", b"garbage"),
        ("b3", format!("{TRACE}-{SPAN}-1").as_bytes()),
    ]);
    assert_eq!(
        p.extract(&h).parent().unwrap().trace_id().to_string(),
        TRACE
    );
}

#[test]
fn rule_2_4_inject_writes_every_format() {
    let p = Propagator::from_formats([
        Format::TraceContext,
        Format::Baggage,
        Format::B3,
        Format::B3Multi,
        Format::Jaeger,
    ]);
    let cx = p
        .extract(&headers(&[
            ("traceparent", tp("01").as_bytes()),
            ("baggage", b"k=v"),
        ]))
        .into_context(&Context::new());
    let out = inject(&p, &cx);
    assert_eq!(out["traceparent"], tp("01").as_str());
    assert_eq!(out["b3"], format!("{TRACE}-{SPAN}-1").as_str());
    assert_eq!(out["x-b3-traceid"], TRACE);
    assert_eq!(out["x-b3-sampled"], "1");
    assert_eq!(out["uber-trace-id"], format!("{TRACE}:{SPAN}:0:1").as_str());
    assert_eq!(out["baggage"], "k=v");
    assert_eq!(out["uberctx-k"], "v");
}

#[test]
fn rule_2_4_baggage_merged_across_formats() {
    let p = Propagator::from_formats([Format::TraceContext, Format::Baggage, Format::Jaeger]);
    let h = headers(&[("baggage", b"a=1"), ("uberctx-b", b"two%20words")]);
    let extracted = p.extract(&h);
    assert_eq!(extracted.baggage().get("a"), Some("1"));
    assert_eq!(extracted.baggage().get("b"), Some("two words"));
}

#[test]
fn rule_2_4_b3_single_round_trip_and_debug() {
    let p = Propagator::from_formats([Format::B3]);
    for (state, sampled, debug) in [("1", true, false), ("0", false, false), ("d", true, true)] {
        let h = headers(&[("b3", format!("{TRACE}-{SPAN}-{state}").as_bytes())]);
        let extracted = p.extract(&h);
        assert_eq!(extracted.span_context().is_sampled(), sampled);
        assert_eq!(extracted.is_debug(), debug);
        let out = inject(&p, &extracted.into_context(&Context::new()));
        assert_eq!(out["b3"], format!("{TRACE}-{SPAN}-{state}").as_str());
    }
}

#[test]
fn rule_2_4_b3_deny_only_reaches_the_next_hop() {
    let p = Propagator::from_formats([Format::B3]);
    let extracted = p.extract(&headers(&[("b3", b"0")]));
    assert!(extracted.is_denied());
    assert!(extracted.parent().is_none());
    let out = inject(&p, &extracted.into_context(&Context::new()));
    assert_eq!(out["b3"], "0");
    let multi = Propagator::from_formats([Format::B3Multi]);
    let extracted = multi.extract(&headers(&[("x-b3-sampled", b"0")]));
    assert!(extracted.is_denied());
    let out = inject(&multi, &extracted.into_context(&Context::new()));
    assert_eq!(out["x-b3-sampled"], "0");
    assert!(out.get("x-b3-traceid").is_none());
}

#[test]
fn rule_2_4_b3_multi_first_value_wins_and_debug_suppresses_sampled() {
    let p = Propagator::from_formats([Format::B3Multi]);
    let h = headers(&[
        ("x-b3-traceid", TRACE.as_bytes()),
        ("x-b3-traceid", b"22222222222222222222222222222222"),
        ("x-b3-spanid", SPAN.as_bytes()),
        ("x-b3-flags", b"1"),
    ]);
    let extracted = p.extract(&h);
    assert_eq!(extracted.parent().unwrap().trace_id().to_string(), TRACE);
    assert!(extracted.is_debug());
    let out = inject(&p, &extracted.into_context(&Context::new()));
    assert_eq!(out["x-b3-flags"], "1");
    assert!(out.get("x-b3-sampled").is_none());
}

#[test]
fn rule_2_4_jaeger_encoded_and_short_ids() {
    let p = Propagator::from_formats([Format::Jaeger]);
    let h = headers(&[(
        "uber-trace-id",
        b"a3ce929d0e0e4736%3Af067aa0ba902b7%3A0%3A3",
    )]);
    let extracted = p.extract(&h);
    let parent = *extracted.parent().unwrap();
    assert_eq!(
        parent.trace_id().to_string(),
        "0000000000000000a3ce929d0e0e4736"
    );
    assert_eq!(parent.span_id().to_string(), "00f067aa0ba902b7");
    assert!(extracted.is_debug());
    let out = inject(&p, &extracted.into_context(&Context::new()));
    assert_eq!(
        out["uber-trace-id"],
        "0000000000000000a3ce929d0e0e4736:00f067aa0ba902b7:0:3"
    );
}

#[test]
fn rule_2_4_otel_propagators_names() {
    assert_eq!(Propagator::from_names("").unwrap().formats().len(), 2);
    assert_eq!(Propagator::from_names("none").unwrap().formats().len(), 0);
    assert_eq!(
        Propagator::from_names(" TraceContext , baggage,b3,b3multi,jaeger,b3 ")
            .unwrap()
            .formats()
            .len(),
        5
    );
    let err = Propagator::from_names("tracecontext,bogus").unwrap_err();
    assert_eq!(
        err.to_string(),
        "OTEL_PROPAGATORS: unknown propagator \"bogus\" (known: tracecontext, baggage, b3, b3multi, jaeger, xray, none)"
    );
    // `ottrace` is on the OpenTelemetry list and not implemented; `xray` is.
    assert!(
        Propagator::from_names("ottrace")
            .unwrap_err()
            .to_string()
            .contains("not supported")
    );
    assert_eq!(
        Propagator::from_names("tracecontext,xray")
            .unwrap()
            .formats()
            .len(),
        2
    );
    assert!(Propagator::from_names("none,b3").is_err());
}

#[test]
fn rule_0_8_baggage_can_be_withheld_per_destination() {
    use tracewire_propagation::fields::BaggageField;
    let p = Propagator::from_formats([Format::TraceContext, Format::Baggage, Format::Jaeger])
        .with_field(BaggageField::<u32>::parsed("tier"));
    let cx = p
        .extract(&headers(&[
            ("traceparent", tp("01").as_bytes()),
            ("baggage", b"tier=2,secret=x"),
        ]))
        .into_context(&Context::new());
    let mut out = HeaderMap::new();
    p.inject_context_with(&cx, &mut out, false);
    assert_eq!(out["traceparent"], tp("01").as_str());
    assert!(out.get("baggage").is_none());
    assert!(out.keys().all(|k| !k.as_str().starts_with("uberctx-")));
    let mut out = HeaderMap::new();
    p.inject_context_with(&cx, &mut out, true);
    assert_eq!(out["baggage"], "tier=2,secret=x");
}

#[test]
fn xray_reads_and_writes_x_amzn_trace_id_beside_w3c() {
    let p = Propagator::from_names("xray,tracecontext").unwrap();
    let incoming = headers(&[(
        "x-amzn-trace-id",
        b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )]);
    let cx = p
        .extract(&incoming)
        .into_context(&opentelemetry::Context::new());
    let mut out = http::HeaderMap::new();
    p.inject_context(&cx, &mut out);
    assert_eq!(
        out["x-amzn-trace-id"],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    );
    assert_eq!(
        out["traceparent"],
        "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
    );
    // A malformed X-Ray header is ignored: the W3C one still counts.
    let both = headers(&[
        ("x-amzn-trace-id", b"Root=1-bad;Parent=53995c3f42cd8ad8"),
        ("traceparent", tp("01").as_bytes()),
    ]);
    assert!(p.extract(&both).parent().is_some());
    let alone = headers(&[("x-amzn-trace-id", b"Root=1-bad;Parent=53995c3f42cd8ad8")]);
    assert!(p.extract(&alone).parent().is_none());
}
