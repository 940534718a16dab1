//! Jaeger propagation: `uber-trace-id` and `uberctx-*` baggage.
//!
//! `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}`, possibly URL-encoded
//! (`%3A` for `:`). Ids may be shorter than 32/16 hex digits and are left-padded; either case
//! is accepted. Flags are one byte in hex: `0x01` sampled, `0x02` debug (meaningful only with
//! sampled). Baggage travels as one `uberctx-{key}` header per item, URL-encoded.
//!
//! ```
//! use http::HeaderMap;
//! use tracewire_propagation::{Format, Propagator};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("uber-trace-id", "3ce929d0e0e4736%3A00f067aa0ba902b7%3A0%3A1".parse().unwrap());
//! headers.insert("uberctx-tenant", "acme%20corp".parse().unwrap());
//! let extracted = Propagator::from_formats([Format::Jaeger]).extract(&headers);
//! assert!(extracted.span_context().is_sampled());
//! assert_eq!(extracted.baggage().get("tenant"), Some("acme corp"));
//! ```

use http::{HeaderName, HeaderValue};
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};

use crate::baggage::{Baggage, BaggageLimits, Member, percent_decode, percent_encode_into};
use crate::carrier::{Carrier, CarrierMut};
use crate::hex;
use crate::traceparent::{TraceParent, trim_ows};

/// `uber-trace-id`
pub const UBER_TRACE_ID: HeaderName = HeaderName::from_static("uber-trace-id");
/// Prefix of the baggage headers.
pub const BAGGAGE_PREFIX: &str = "uberctx-";

const FLAG_SAMPLED: u8 = 0x01;
const FLAG_DEBUG: u8 = 0x02;

/// Parses an `uber-trace-id` value; returns the parent and whether debug is set.
pub(crate) fn parse(value: &[u8]) -> Option<(TraceParent, bool)> {
    let raw = std::str::from_utf8(trim_ows(value)).ok()?;
    let decoded = percent_decode(raw);
    let mut parts = decoded.split(':');
    let trace = hex::decode_padded_any_case::<16>(parts.next()?.as_bytes())?;
    let span = hex::decode_padded_any_case::<8>(parts.next()?.as_bytes())?;
    let parent_span = parts.next()?;
    hex::decode_padded_any_case::<8>(parent_span.as_bytes())?;
    let flags = parts.next()?;
    if flags.is_empty() || flags.len() > 2 || parts.next().is_some() {
        return None;
    }
    let flags = hex::decode_padded_any_case::<1>(flags.as_bytes())?[0];
    let sampled = flags & FLAG_SAMPLED != 0;
    let parent = TraceParent::new(
        TraceId::from_bytes(trace),
        SpanId::from_bytes(span),
        TraceFlags::new(u8::from(sampled)),
    )?;
    Some((parent, sampled && flags & FLAG_DEBUG != 0))
}

/// Reads `uber-trace-id` (first value).
pub(crate) fn extract<C: Carrier + ?Sized>(carrier: &C) -> Option<(TraceParent, bool)> {
    carrier.first_value(&UBER_TRACE_ID).and_then(parse)
}

/// Appends `uberctx-*` items to `bag`, in header-name order.
pub(crate) fn extract_baggage<C: Carrier + ?Sized>(
    carrier: &C,
    bag: &mut Baggage,
    limits: BaggageLimits,
) {
    for name in carrier.header_names() {
        let Some(key) = name.strip_prefix(BAGGAGE_PREFIX) else {
            continue;
        };
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        let Some(value) = carrier.first_value(&header) else {
            continue;
        };
        let Ok(value) = std::str::from_utf8(trim_ows(value)) else {
            continue;
        };
        if let Some(member) = Member::new(key, &percent_decode(value), "") {
            bag.push_within(member, limits);
        }
    }
}

/// Writes `uber-trace-id`.
pub(crate) fn inject<C: CarrierMut + ?Sized>(parent: &TraceParent, debug: bool, carrier: &mut C) {
    let mut v = [0u8; 32 + 1 + 16 + 3 + 1];
    hex::encode_into(&parent.trace_id().to_bytes(), &mut v[..32]);
    v[32] = b':';
    hex::encode_into(&parent.span_id().to_bytes(), &mut v[33..49]);
    v[49..52].copy_from_slice(b":0:");
    v[52] = match (parent.is_sampled(), debug) {
        (true, true) => b'3',
        (true, false) => b'1',
        (false, _) => b'0',
    };
    if let Ok(v) = HeaderValue::from_bytes(&v) {
        carrier.set_value(&UBER_TRACE_ID, v);
    }
}

/// Writes one `uberctx-{key}` header per baggage member.
pub(crate) fn inject_baggage<C: CarrierMut + ?Sized>(bag: &Baggage, carrier: &mut C) {
    for member in bag.iter() {
        let name = format!("{BAGGAGE_PREFIX}{}", member.key().to_ascii_lowercase());
        let mut value = String::new();
        percent_encode_into(member.value(), &mut value);
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            carrier.set_value(&name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        let (p, debug) = parse(b"4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1").unwrap();
        assert!(p.is_sampled() && !debug);
        let (p, debug) = parse(b"3ce929d0e0e4736:f067aa0ba902b7:0:03").unwrap();
        assert!(p.is_sampled() && debug);
        assert_eq!(p.trace_id().to_string(), "000000000000000003ce929d0e0e4736");
        assert_eq!(p.span_id().to_string(), "00f067aa0ba902b7");
        let (p, debug) = parse(b"ABC%3a1%3A0%3A2").unwrap();
        assert!(
            !p.is_sampled() && !debug,
            "debug without sampled means nothing"
        );
        assert!(parse(b"0:1:0:1").is_none(), "zero trace id");
        assert!(parse(b"1:0:0:1").is_none(), "zero span id");
        assert!(parse(b"1:1:0").is_none());
        assert!(parse(b"1:1:0:1:extra").is_none());
        assert!(parse(b"1:1:0:100").is_none(), "flags are one byte");
        assert!(parse(b"1:1:0:").is_none());
        assert!(parse(b"+1:1:0:1").is_none());
        assert!(parse(&[b'1'; 33]).is_none());
    }

    #[test]
    fn injects() {
        let p =
            TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let mut h = http::HeaderMap::new();
        inject(&p, true, &mut h);
        assert_eq!(
            h[UBER_TRACE_ID],
            "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:3"
        );
        let bag = Baggage::parse_fields(["Tenant=acme%20corp"], BaggageLimits::default());
        inject_baggage(&bag, &mut h);
        assert_eq!(h["uberctx-tenant"], "acme%20corp");
    }
}
