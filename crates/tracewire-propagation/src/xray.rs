//! AWS X-Ray propagation: `X-Amzn-Trace-Id`.
//!
//! `X-Amzn-Trace-Id: Root=1-{8 hex epoch seconds}-{24 hex};Parent={16 hex};Sampled={0|1}`.
//! The trace id is the 8 and the 24 hex digits together; other keys (`Lineage`, `Self`) are
//! ignored, keys and their order are as AWS writes them but parsed in any order. The parse is
//! strict: version `1`, exact lengths, lowercase hex, a non-zero trace id and parent, at most
//! one of each key. `Sampled=1` is sampled; `0`, `?` (the caller defers) or no `Sampled` is
//! not. There is no baggage in X-Ray's header.
//!
//! ```
//! use http::HeaderMap;
//! use tracewire_propagation::{Format, Propagator};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert(
//!     "x-amzn-trace-id",
//!     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap(),
//! );
//! let extracted = Propagator::from_formats([Format::XRay]).extract(&headers);
//! let parent = extracted.parent().unwrap();
//! assert_eq!(parent.trace_id().to_string(), "5759e988bd862e3fe1be46a994272793");
//! assert!(parent.is_sampled());
//! ```

use http::{HeaderName, HeaderValue};
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};

use crate::carrier::{Carrier, CarrierMut};
use crate::hex;
use crate::traceparent::{TraceParent, trim_ows};

/// `x-amzn-trace-id`
pub const X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

/// The longest value read (AWS's own are under 256 bytes).
const MAX_LEN: usize = 512;

/// Parses an `X-Amzn-Trace-Id` value.
pub(crate) fn parse(value: &[u8]) -> Option<TraceParent> {
    let value = trim_ows(value);
    if value.len() > MAX_LEN {
        return None;
    }
    let (mut root, mut parent, mut sampled) = (None, None, None);
    for part in value.split(|&b| b == b';') {
        let part = trim_ows(part);
        if part.is_empty() {
            continue;
        }
        let eq = part.iter().position(|&b| b == b'=')?;
        let (key, val) = (trim_ows(&part[..eq]), trim_ows(&part[eq + 1..]));
        let slot = match key {
            b"Root" => &mut root,
            b"Parent" => &mut parent,
            b"Sampled" => &mut sampled,
            _ => continue,
        };
        if slot.replace(val).is_some() {
            // A key given twice: which one is meant is unknown.
            return None;
        }
    }
    let root = root?;
    // 1-{8 hex}-{24 hex}
    if root.len() != 35 || &root[..2] != b"1-" || root[10] != b'-' {
        return None;
    }
    let mut trace = [0u8; 32];
    trace[..8].copy_from_slice(&root[2..10]);
    trace[8..].copy_from_slice(&root[11..35]);
    let trace = hex::decode::<16>(&trace)?;
    let parent = parent?;
    if parent.len() != 16 {
        return None;
    }
    let span = hex::decode::<8>(parent)?;
    let sampled = match sampled {
        Some(b"1") => true,
        Some(b"0" | b"?") | None => false,
        Some(_) => return None,
    };
    TraceParent::new(
        TraceId::from_bytes(trace),
        SpanId::from_bytes(span),
        TraceFlags::new(u8::from(sampled)),
    )
}

/// Reads `X-Amzn-Trace-Id` (the first value).
pub(crate) fn extract<C: Carrier + ?Sized>(carrier: &C) -> Option<TraceParent> {
    carrier.first_value(&X_AMZN_TRACE_ID).and_then(parse)
}

/// Writes `X-Amzn-Trace-Id: Root=1-…-…;Parent=…;Sampled=0|1`.
pub(crate) fn inject<C: CarrierMut + ?Sized>(parent: &TraceParent, carrier: &mut C) {
    let mut trace = [0u8; 32];
    hex::encode_into(&parent.trace_id().to_bytes(), &mut trace);
    let mut v = Vec::with_capacity(74);
    v.extend_from_slice(b"Root=1-");
    v.extend_from_slice(&trace[..8]);
    v.push(b'-');
    v.extend_from_slice(&trace[8..]);
    v.extend_from_slice(b";Parent=");
    let mut span = [0u8; 16];
    hex::encode_into(&parent.span_id().to_bytes(), &mut span);
    v.extend_from_slice(&span);
    v.extend_from_slice(if parent.is_sampled() {
        b";Sampled=1"
    } else {
        b";Sampled=0"
    });
    if let Ok(v) = HeaderValue::from_bytes(&v) {
        carrier.set_value(&X_AMZN_TRACE_ID, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[test]
    fn reads_what_aws_writes() {
        let p = parse(GOOD.as_bytes()).unwrap();
        assert_eq!(p.trace_id().to_string(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(p.span_id().to_string(), "53995c3f42cd8ad8");
        assert!(p.is_sampled());
        // Other keys, any order, spaces around parts.
        let p = parse(
            b"Self=1-67891234-12456789abcdef012345678; Sampled=0 ;Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:1|68fd508a:5",
        )
        .unwrap();
        assert!(!p.is_sampled());
        for deferred in ["?", ""] {
            let value = format!(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8{}",
                if deferred.is_empty() {
                    String::new()
                } else {
                    format!(";Sampled={deferred}")
                }
            );
            assert!(!parse(value.as_bytes()).unwrap().is_sampled(), "{value}");
        }
    }

    #[test]
    fn refuses_what_is_not_exactly_the_format() {
        for bad in [
            "",
            "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759E988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e988bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
            "Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=yes",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent",
        ] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        let long = format!("{GOOD};Lineage={}", "a".repeat(600));
        assert!(parse(long.as_bytes()).is_none());
    }

    #[test]
    fn writes_what_it_reads() {
        let p = parse(GOOD.as_bytes()).unwrap();
        let mut headers = http::HeaderMap::new();
        inject(&p, &mut headers);
        assert_eq!(headers[&X_AMZN_TRACE_ID], GOOD);
    }
}
