//! Zipkin B3 propagation: the single `b3` header and the multi-header `X-B3-*` form.
//!
//! Extraction prefers a valid single header and falls back to the multi-header form. Trace
//! ids of 16 or 32 lowercase hex digits are accepted (16 are left-padded), span ids of 16.
//! Sampling states: `1` accept, `0` deny, `d` debug (single) or `X-B3-Flags: 1` (multi), and
//! absent (defer, read as not sampled). The deny-only forms `b3: 0` and a lone
//! `X-B3-Sampled: 0` carry no ids; they are kept so that a deny reaches the next hop.
//!
//! ```
//! use http::HeaderMap;
//! use tracewire_propagation::{Format, Propagator};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d".parse().unwrap());
//! let extracted = Propagator::from_formats([Format::B3]).extract(&headers);
//! assert!(extracted.is_debug());
//! assert!(extracted.span_context().is_sampled());
//! ```

use http::{HeaderName, HeaderValue};
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};

use crate::carrier::{Carrier, CarrierMut};
use crate::hex;
use crate::traceparent::{TraceParent, trim_ows};

/// `b3`
pub const B3: HeaderName = HeaderName::from_static("b3");
/// `x-b3-traceid`
pub const TRACE_ID: HeaderName = HeaderName::from_static("x-b3-traceid");
/// `x-b3-spanid`
pub const SPAN_ID: HeaderName = HeaderName::from_static("x-b3-spanid");
/// `x-b3-parentspanid`
pub const PARENT_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-parentspanid");
/// `x-b3-sampled`
pub const SAMPLED: HeaderName = HeaderName::from_static("x-b3-sampled");
/// `x-b3-flags`
pub const FLAGS: HeaderName = HeaderName::from_static("x-b3-flags");

/// Which B3 headers to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum B3Encoding {
    /// The single `b3` header.
    Single,
    /// The `X-B3-*` headers.
    Multi,
    /// Both.
    SingleAndMulti,
}

/// What a B3 carrier held.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum B3Context {
    /// Ids, with debug set when the sampling state was debug.
    Span { parent: TraceParent, debug: bool },
    /// Deny-only: no ids, sampling denied.
    Deny,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sampling {
    Accept,
    Deny,
    Debug,
    Defer,
}

fn trace_id(v: &[u8]) -> Option<TraceId> {
    let bytes = match v.len() {
        32 => hex::decode::<16>(v)?,
        16 => {
            let low = hex::decode::<8>(v)?;
            let mut b = [0u8; 16];
            b[8..].copy_from_slice(&low);
            b
        }
        _ => return None,
    };
    (bytes != [0; 16]).then(|| TraceId::from_bytes(bytes))
}

fn span_id(v: &[u8]) -> Option<SpanId> {
    hex::decode::<8>(v)
        .filter(|b| *b != [0; 8])
        .map(SpanId::from_bytes)
}

fn span(trace: TraceId, span: SpanId, sampling: Sampling) -> Option<B3Context> {
    let sampled = matches!(sampling, Sampling::Accept | Sampling::Debug);
    let flags = TraceFlags::new(u8::from(sampled));
    Some(B3Context::Span {
        parent: TraceParent::new(trace, span, flags)?,
        debug: sampling == Sampling::Debug,
    })
}

fn single(v: &[u8]) -> Option<B3Context> {
    let v = trim_ows(v);
    match v {
        b"0" => return Some(B3Context::Deny),
        b"1" | b"d" => return None, // sampling without ids: nothing to continue
        _ => {}
    }
    let mut parts = v.split(|&b| b == b'-');
    let trace = trace_id(parts.next()?)?;
    let span_id = span_id(parts.next()?)?;
    let sampling = match parts.next() {
        None => Sampling::Defer,
        Some(b"1") => Sampling::Accept,
        Some(b"0") => Sampling::Deny,
        Some(b"d") => Sampling::Debug,
        Some(_) => return None,
    };
    if let Some(parent) = parts.next() {
        self::span_id(parent)?;
    }
    if parts.next().is_some() {
        return None;
    }
    span(trace, span_id, sampling)
}

fn multi<C: Carrier + ?Sized>(carrier: &C) -> Option<B3Context> {
    let first = |name: &HeaderName| carrier.first_value(name).map(trim_ows);
    let debug = first(&FLAGS) == Some(b"1");
    let sampling = match first(&SAMPLED) {
        _ if debug => Sampling::Debug,
        Some(b"1" | b"true") => Sampling::Accept,
        Some(b"0" | b"false") => Sampling::Deny,
        Some(_) => return None,
        None => Sampling::Defer,
    };
    let (trace, span_id) = match (first(&TRACE_ID), first(&SPAN_ID)) {
        (Some(t), Some(s)) => (trace_id(t)?, span_id(s)?),
        (None, None) if sampling == Sampling::Deny => return Some(B3Context::Deny),
        _ => return None,
    };
    if let Some(parent) = first(&PARENT_SPAN_ID) {
        self::span_id(parent)?;
    }
    span(trace, span_id, sampling)
}

/// Reads B3 from a carrier: a valid single header first, then the multi-header form.
pub(crate) fn extract<C: Carrier + ?Sized>(carrier: &C) -> Option<B3Context> {
    carrier
        .first_value(&B3)
        .and_then(single)
        .or_else(|| multi(carrier))
}

/// Writes B3 headers for `parent` (or the deny-only form when there is no parent and `deny`).
pub(crate) fn inject<C: CarrierMut + ?Sized>(
    parent: Option<&TraceParent>,
    debug: bool,
    deny: bool,
    encoding: B3Encoding,
    carrier: &mut C,
) {
    let single_too = matches!(encoding, B3Encoding::Single | B3Encoding::SingleAndMulti);
    let multi_too = matches!(encoding, B3Encoding::Multi | B3Encoding::SingleAndMulti);
    let Some(parent) = parent else {
        if deny {
            if single_too {
                carrier.set_value(&B3, HeaderValue::from_static("0"));
            }
            if multi_too {
                carrier.set_value(&SAMPLED, HeaderValue::from_static("0"));
            }
        }
        return;
    };
    let mut trace = [0u8; 32];
    hex::encode_into(&parent.trace_id().to_bytes(), &mut trace);
    let mut span = [0u8; 16];
    hex::encode_into(&parent.span_id().to_bytes(), &mut span);
    let state: &[u8] = match (debug, parent.is_sampled()) {
        (true, _) => b"d",
        (false, true) => b"1",
        (false, false) => b"0",
    };
    if single_too {
        let mut v = Vec::with_capacity(51);
        v.extend_from_slice(&trace);
        v.push(b'-');
        v.extend_from_slice(&span);
        v.push(b'-');
        v.extend_from_slice(state);
        if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(v)) {
            carrier.set_value(&B3, v);
        }
    }
    if multi_too {
        if let (Ok(t), Ok(s)) = (
            HeaderValue::from_bytes(&trace),
            HeaderValue::from_bytes(&span),
        ) {
            carrier.set_value(&TRACE_ID, t);
            carrier.set_value(&SPAN_ID, s);
        }
        if debug {
            carrier.set_value(&FLAGS, HeaderValue::from_static("1"));
        } else {
            carrier.set_value(
                &SAMPLED,
                HeaderValue::from_static(if parent.is_sampled() { "1" } else { "0" }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    const T: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const S: &str = "e457b5a2e4d86bd1";

    fn single_of(s: &str) -> Option<B3Context> {
        single(s.as_bytes())
    }

    #[test]
    fn single_forms() {
        assert!(
            matches!(single_of(&format!("{T}-{S}-1")), Some(B3Context::Span { debug: false, parent }) if parent.is_sampled())
        );
        assert!(
            matches!(single_of(&format!("{T}-{S}-0")), Some(B3Context::Span { parent, .. }) if !parent.is_sampled())
        );
        assert!(
            matches!(single_of(&format!("{T}-{S}")), Some(B3Context::Span { parent, .. }) if !parent.is_sampled())
        );
        assert!(matches!(
            single_of(&format!("{T}-{S}-d")),
            Some(B3Context::Span { debug: true, .. })
        ));
        assert!(single_of(&format!("{T}-{S}-1-05e3ac9a4f6e3b90")).is_some());
        assert_eq!(single_of("0"), Some(B3Context::Deny));
        assert!(single_of(&format!("{T}-{S}-x")).is_none());
        assert!(single_of(&format!("{T}-{S}-1-zz")).is_none());
        assert!(single_of(&format!("{T}-{S}-1-05e3ac9a4f6e3b90-extra")).is_none());
        assert!(single_of(&format!("{}-{S}-1", T.to_uppercase())).is_none());
        assert!(single_of(&format!("{}-{S}-1", "0".repeat(32))).is_none());
    }

    #[test]
    fn short_trace_id_is_padded() {
        let Some(B3Context::Span { parent, .. }) = single_of(&format!("{}-{S}-1", &T[16..])) else {
            panic!("64-bit trace id rejected");
        };
        assert_eq!(
            parent.trace_id(),
            TraceId::from_hex(&format!("{}{}", "0".repeat(16), &T[16..])).unwrap()
        );
    }

    #[test]
    fn multi_forms() {
        let mut h = HeaderMap::new();
        h.insert(TRACE_ID, T.parse().unwrap());
        h.insert(SPAN_ID, S.parse().unwrap());
        h.insert(SAMPLED, "1".parse().unwrap());
        assert!(
            matches!(extract(&h), Some(B3Context::Span { parent, debug: false }) if parent.is_sampled())
        );
        h.insert(FLAGS, "1".parse().unwrap());
        assert!(matches!(
            extract(&h),
            Some(B3Context::Span { debug: true, .. })
        ));
        let mut deny = HeaderMap::new();
        deny.insert(SAMPLED, "0".parse().unwrap());
        assert_eq!(extract(&deny), Some(B3Context::Deny));
        let mut bad = HeaderMap::new();
        bad.insert(TRACE_ID, T.parse().unwrap());
        assert_eq!(extract(&bad), None);
    }

    #[test]
    fn single_wins_and_invalid_single_falls_back() {
        let mut h = HeaderMap::new();
        h.insert(TRACE_ID, T.parse().unwrap());
        h.insert(SPAN_ID, S.parse().unwrap());
        h.insert(B3, "garbage".parse().unwrap());
        assert!(matches!(extract(&h), Some(B3Context::Span { .. })));
    }

    #[test]
    fn inject_forms() {
        let parent = TraceParent::parse(format!("00-{T}-{S}-01").as_bytes()).unwrap();
        let mut h = HeaderMap::new();
        inject(
            Some(&parent),
            false,
            false,
            B3Encoding::SingleAndMulti,
            &mut h,
        );
        assert_eq!(h[B3], format!("{T}-{S}-1").as_str());
        assert_eq!(h[TRACE_ID], T);
        assert_eq!(h[SAMPLED], "1");
        let mut d = HeaderMap::new();
        inject(Some(&parent), true, false, B3Encoding::Multi, &mut d);
        assert_eq!(d[FLAGS], "1");
        assert!(d.get(SAMPLED).is_none());
        let mut deny = HeaderMap::new();
        inject(None, false, true, B3Encoding::Single, &mut deny);
        assert_eq!(deny[B3], "0");
    }
}
