//! The W3C `traceparent` header, Levels 1 and 2.
//!
//! Parsing is by length and character set only: the version, ids and flags are checked
//! against lowercase hex digit by digit, never handed to a number parser. Future versions are
//! accepted as the specification requires (the version-`00` fields are read, anything after a
//! `-` at position 55 is ignored) and we always emit version `00`.
//!
//! ```
//! use tracewire_propagation::traceparent::{TraceParent, TraceParentError};
//!
//! let tp = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03")?;
//! assert!(tp.is_sampled());
//! assert!(tp.is_random());
//! assert_eq!(tp.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
//!
//! // Uppercase hex, a `+` sign, or a zero id: the whole header is ignored.
//! assert_eq!(
//!     TraceParent::parse(b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
//!     Err(TraceParentError::TraceId)
//! );
//! # Ok::<(), TraceParentError>(())
//! ```

use std::fmt;

use http::HeaderValue;
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use crate::hex;

/// The `sampled` flag (bit 0).
pub const FLAG_SAMPLED: u8 = 0x01;
/// The Level 2 `random-trace-id` flag (bit 1): the right-most 7 bytes of the trace id are
/// uniformly random.
pub const FLAG_RANDOM: u8 = 0x02;
/// The flags this implementation knows; every other bit is zeroed on output.
pub const KNOWN_FLAGS: u8 = FLAG_SAMPLED | FLAG_RANDOM;

/// Length of a version-`00` header value.
pub const LEN: usize = 55;

/// A parsed `traceparent`: trace id, parent (span) id and the known trace flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: TraceId,
    span_id: SpanId,
    flags: u8,
}

/// Why a `traceparent` value was rejected. Every case means: ignore the header, start a new
/// trace and drop `tracestate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceParentError {
    /// No `traceparent` field at all.
    Missing,
    /// More than one `traceparent` field.
    Duplicate,
    /// The version is not two lowercase hex digits, or is the forbidden `ff`.
    Version,
    /// Wrong length for the version (exactly 55 for `00`, at least 55 and a `-` at position
    /// 55 for later versions).
    Length,
    /// A `-` is missing at position 2, 35 or 52.
    Delimiter,
    /// The trace id is not 32 lowercase hex digits, or is all zeros.
    TraceId,
    /// The parent id is not 16 lowercase hex digits, or is all zeros.
    ParentId,
    /// The flags are not two lowercase hex digits.
    Flags,
}

impl fmt::Display for TraceParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "no traceparent header",
            Self::Duplicate => "more than one traceparent header field",
            Self::Version => "traceparent version is not two lowercase hex digits other than ff",
            Self::Length => "traceparent has the wrong length for its version",
            Self::Delimiter => "traceparent is missing a '-' delimiter",
            Self::TraceId => "traceparent trace-id is not 32 lowercase hex digits, or is all zeros",
            Self::ParentId => {
                "traceparent parent-id is not 16 lowercase hex digits, or is all zeros"
            }
            Self::Flags => "traceparent trace-flags are not two lowercase hex digits",
        })
    }
}

impl std::error::Error for TraceParentError {}

/// Trims optional white space (space and horizontal tab) at both ends.
#[inline]
pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

impl TraceParent {
    /// Builds a `traceparent` from its parts. Unknown flag bits are dropped.
    ///
    /// Returns `None` when either id is invalid (all zeros).
    pub fn new(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> Option<Self> {
        (trace_id != TraceId::INVALID && span_id != SpanId::INVALID).then_some(Self {
            trace_id,
            span_id,
            flags: flags.to_u8() & KNOWN_FLAGS,
        })
    }

    /// Starts a new trace: random trace and span ids, the `random-trace-id` flag set, and
    /// `sampled` as given.
    ///
    /// ```
    /// use tracewire_propagation::traceparent::TraceParent;
    ///
    /// let root = TraceParent::new_root(true);
    /// assert!(root.is_random() && root.is_sampled());
    /// ```
    #[must_use]
    pub fn new_root(sampled: bool) -> Self {
        Self {
            trace_id: crate::ids::trace_id(),
            span_id: crate::ids::span_id(),
            flags: FLAG_RANDOM | u8::from(sampled),
        }
    }

    /// The same trace with a new random parent (span) id and the same flags: what a
    /// participant sends on each outgoing request.
    #[must_use]
    pub fn with_new_span_id(self) -> Self {
        Self {
            span_id: crate::ids::span_id(),
            ..self
        }
    }

    /// Parses one header value (OWS at both ends is trimmed).
    pub fn parse(value: &[u8]) -> Result<Self, TraceParentError> {
        let v = trim_ows(value);
        if v.len() < 3 {
            return Err(TraceParentError::Length);
        }
        let version = hex::decode::<1>(&v[..2]).ok_or(TraceParentError::Version)?[0];
        if version == 0xff {
            return Err(TraceParentError::Version);
        }
        if v[2] != b'-' {
            return Err(TraceParentError::Delimiter);
        }
        match v.len() {
            LEN => {}
            n if n > LEN && version != 0 && v[LEN] == b'-' => {}
            _ => return Err(TraceParentError::Length),
        }
        if v[35] != b'-' || v[52] != b'-' {
            return Err(TraceParentError::Delimiter);
        }
        let trace_id = hex::decode_lower_swar::<16>(&v[3..35])
            .filter(|b| *b != [0; 16])
            .ok_or(TraceParentError::TraceId)?;
        let span_id = hex::decode_lower_swar::<8>(&v[36..52])
            .filter(|b| *b != [0; 8])
            .ok_or(TraceParentError::ParentId)?;
        let flags = hex::decode::<1>(&v[53..55]).ok_or(TraceParentError::Flags)?[0];
        Ok(Self {
            trace_id: TraceId::from_bytes(trace_id),
            span_id: SpanId::from_bytes(span_id),
            flags: flags & KNOWN_FLAGS,
        })
    }

    /// Parses the `traceparent` fields of a request: exactly one field must be present.
    ///
    /// ```
    /// use tracewire_propagation::traceparent::{TraceParent, TraceParentError};
    ///
    /// let one = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    /// assert!(TraceParent::parse_fields([one.as_bytes()]).is_ok());
    /// assert_eq!(
    ///     TraceParent::parse_fields([one.as_bytes(), one.as_bytes()]),
    ///     Err(TraceParentError::Duplicate)
    /// );
    /// ```
    pub fn parse_fields<'a, I>(fields: I) -> Result<Self, TraceParentError>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut fields = fields.into_iter();
        let first = fields.next().ok_or(TraceParentError::Missing)?;
        if fields.next().is_some() {
            return Err(TraceParentError::Duplicate);
        }
        Self::parse(first)
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The parent (span) id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The known trace flags (`sampled`, `random-trace-id`); other bits are always zero.
    pub fn flags(&self) -> TraceFlags {
        TraceFlags::new(self.flags)
    }

    /// Whether the caller sampled this trace.
    pub fn is_sampled(&self) -> bool {
        self.flags & FLAG_SAMPLED != 0
    }

    /// Whether the Level 2 `random-trace-id` flag is set.
    pub fn is_random(&self) -> bool {
        self.flags & FLAG_RANDOM != 0
    }

    /// A copy with the `sampled` flag set or cleared. The caller must also use a new parent
    /// id ([`with_new_span_id`](Self::with_new_span_id)) when sending it on.
    #[must_use]
    pub fn with_sampled(self, sampled: bool) -> Self {
        Self {
            flags: (self.flags & !FLAG_SAMPLED) | u8::from(sampled),
            ..self
        }
    }

    /// A copy with the Level 2 `random-trace-id` flag set or cleared: set it only when the
    /// trace id's right-most 7 bytes are uniformly random (ids this crate draws are).
    ///
    /// ```
    /// use tracewire_propagation::traceparent::TraceParent;
    ///
    /// let root = TraceParent::new_root(true).with_random(false);
    /// assert!(!root.is_random() && root.with_random(true).is_random());
    /// ```
    #[must_use]
    pub fn with_random(self, random: bool) -> Self {
        Self {
            flags: (self.flags & !FLAG_RANDOM) | if random { FLAG_RANDOM } else { 0 },
            ..self
        }
    }

    /// The version-`00` encoding, as bytes.
    pub fn encode(&self) -> [u8; LEN] {
        let mut out = [b'-'; LEN];
        out[0] = b'0';
        out[1] = b'0';
        hex::encode_into(&self.trace_id.to_bytes(), &mut out[3..35]);
        hex::encode_into(&self.span_id.to_bytes(), &mut out[36..52]);
        hex::encode_into(&[self.flags & KNOWN_FLAGS], &mut out[53..55]);
        out
    }

    /// The version-`00` encoding as a header value.
    pub fn to_header_value(&self) -> HeaderValue {
        // Only lowercase hex and '-': always a valid header value.
        HeaderValue::from_bytes(&self.encode()).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// A remote [`SpanContext`] with the given trace state.
    pub fn to_span_context(&self, trace_state: TraceState) -> SpanContext {
        SpanContext::new(
            self.trace_id,
            self.span_id,
            TraceFlags::new(self.flags),
            true,
            trace_state,
        )
    }

    /// Reads ids and flags from a span context; `None` when it is not valid.
    pub fn from_span_context(span_context: &SpanContext) -> Option<Self> {
        Self::new(
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags(),
        )
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.encode();
        // The encoding is ASCII by construction.
        f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn tp(s: &str) -> Result<TraceParent, TraceParentError> {
        TraceParent::parse(s.as_bytes())
    }

    #[test]
    fn valid_header_round_trips() {
        let s = format!("00-{TRACE}-{SPAN}-01");
        let parsed = tp(&s).unwrap();
        assert_eq!(parsed.to_string(), s);
        assert_eq!(parsed.trace_id(), TraceId::from_hex(TRACE).unwrap());
        assert_eq!(parsed.span_id(), SpanId::from_hex(SPAN).unwrap());
    }

    #[test]
    fn flags_outside_the_known_set_are_zeroed() {
        let parsed = tp(&format!("00-{TRACE}-{SPAN}-ff")).unwrap();
        assert_eq!(parsed.flags().to_u8(), 0x03);
        assert!(parsed.to_string().ends_with("-03"));
    }

    #[test]
    fn span_context_round_trip() {
        let parsed = tp(&format!("00-{TRACE}-{SPAN}-03")).unwrap();
        let sc = parsed.to_span_context(TraceState::NONE);
        assert!(sc.is_remote() && sc.is_sampled() && sc.is_valid());
        assert_eq!(TraceParent::from_span_context(&sc), Some(parsed));
        assert_eq!(TraceParent::from_span_context(&SpanContext::NONE), None);
    }

    #[test]
    fn new_span_id_keeps_trace_and_flags() {
        let parsed = tp(&format!("00-{TRACE}-{SPAN}-02")).unwrap();
        let next = parsed.with_new_span_id();
        assert_eq!(next.trace_id(), parsed.trace_id());
        assert_eq!(next.flags(), parsed.flags());
        assert_ne!(next.span_id(), parsed.span_id());
    }

    #[test]
    fn with_sampled_toggles_only_bit_zero() {
        let parsed = tp(&format!("00-{TRACE}-{SPAN}-02")).unwrap();
        assert_eq!(parsed.with_sampled(true).flags().to_u8(), 0x03);
        assert_eq!(
            parsed
                .with_sampled(true)
                .with_sampled(false)
                .flags()
                .to_u8(),
            0x02
        );
    }
}
