//! The composite [`Propagator`]: a list of formats, custom fields and baggage limits.

mod carried;
mod extract;
mod extracted;
mod format;
mod inject;
mod otel;

pub use self::carried::{baggage_of, is_random_trace, mark_random_trace_id, trace_state_of};
pub use self::extract::extract_traceparent;
pub use self::extracted::Extracted;
pub use self::format::{BAGGAGE, Format, PropagatorError, TRACEPARENT, TRACESTATE};

use std::fmt;
use std::sync::Arc;

use crate::baggage::BaggageLimits;
use crate::fields::{ContextField, ErasedField};

struct Inner {
    formats: Vec<Format>,
    /// Whether a W3C format is configured (its headers are probed together).
    w3c: bool,
    /// Whether W3C formats are all there is (no other format, no custom field): a carrier
    /// with neither `tracestate` nor `baggage` is then read by parsing `traceparent` alone.
    only_w3c: bool,
    /// Whether W3C trace context is configured.
    trace_context: bool,
    /// Whether inject needs the baggage (a baggage-carrying format, or custom fields).
    needs_baggage: bool,
    /// Whether inject needs the debug and deny marks (B3, Jaeger).
    needs_marks: bool,
    fields: Vec<Arc<dyn ErasedField>>,
    limits: BaggageLimits,
    /// The longest `tracestate` written, in bytes.
    trace_state_limit: usize,
    header_names: Vec<String>,
}

/// A composite propagator: reads and writes every configured format.
///
/// Extraction takes the trace context from the first format that yields a valid one (W3C
/// first by default) and merges the baggage of every format; injection writes every format.
/// Cheap to clone (one `Arc`).
///
/// ```
/// use http::HeaderMap;
/// use opentelemetry::Context;
/// use opentelemetry::baggage::BaggageExt;
/// use opentelemetry::trace::TraceContextExt;
/// use tracewire_propagation::Propagator;
///
/// let propagator = Propagator::new(); // W3C trace context + baggage
///
/// let mut incoming = HeaderMap::new();
/// incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// incoming.insert("baggage", "userId=alice".parse().unwrap());
/// let cx = propagator.extract(&incoming).into_context(&Context::new());
/// assert!(cx.span().span_context().is_sampled());
/// assert_eq!(cx.baggage().get("userId").map(|v| v.as_str()), Some("alice"));
///
/// let mut outgoing = HeaderMap::new();
/// propagator.inject_context(&cx, &mut outgoing);
/// assert_eq!(outgoing["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// assert_eq!(outgoing["baggage"], "userId=alice");
/// ```
#[derive(Clone)]
pub struct Propagator {
    inner: Arc<Inner>,
}

impl Default for Propagator {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Propagator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Propagator")
            .field("formats", &self.inner.formats)
            .field("fields", &self.inner.fields)
            .field("limits", &self.inner.limits)
            .finish()
    }
}

impl Propagator {
    /// W3C Trace Context and W3C Baggage, the OpenTelemetry default.
    pub fn new() -> Self {
        Self::from_formats([Format::TraceContext, Format::Baggage])
    }

    /// Propagates nothing (`OTEL_PROPAGATORS=none`).
    pub fn none() -> Self {
        Self::from_formats([])
    }

    /// The given formats, in order.
    ///
    /// ```
    /// use tracewire_propagation::{Format, Propagator};
    ///
    /// let propagator = Propagator::from_formats([Format::TraceContext, Format::Baggage, Format::B3]);
    /// ```
    pub fn from_formats<I: IntoIterator<Item = Format>>(formats: I) -> Self {
        Self::build(
            formats.into_iter().collect(),
            Vec::new(),
            BaggageLimits::new(),
        )
    }

    fn build(
        formats: Vec<Format>,
        fields: Vec<Arc<dyn ErasedField>>,
        limits: BaggageLimits,
    ) -> Self {
        let mut header_names: Vec<String> = formats
            .iter()
            .flat_map(Format::header_names)
            .chain(fields.iter().flat_map(|f| f.header_names()))
            .collect();
        header_names.dedup();
        Self {
            inner: Arc::new(Inner {
                w3c: formats
                    .iter()
                    .any(|f| matches!(f, Format::TraceContext | Format::Baggage)),
                only_w3c: fields.is_empty()
                    && formats
                        .iter()
                        .all(|f| matches!(f, Format::TraceContext | Format::Baggage)),
                trace_context: formats.iter().any(|f| matches!(f, Format::TraceContext)),
                needs_baggage: !fields.is_empty()
                    || formats
                        .iter()
                        .any(|f| matches!(f, Format::Baggage | Format::Jaeger)),
                needs_marks: formats.iter().any(|f| {
                    matches!(
                        f,
                        Format::B3 | Format::B3Multi | Format::B3With(_) | Format::Jaeger
                    )
                }),
                formats,
                fields,
                limits,
                trace_state_limit: Self::TRACE_STATE_LIMIT,
                header_names,
            }),
        }
    }

    fn rebuild(
        &self,
        formats: Vec<Format>,
        fields: Vec<Arc<dyn ErasedField>>,
        limits: BaggageLimits,
    ) -> Self {
        let mut built = Self::build(formats, fields, limits);
        if let Some(inner) = Arc::get_mut(&mut built.inner) {
            inner.trace_state_limit = self.inner.trace_state_limit;
        }
        built
    }

    /// The default bound of the `tracestate` this propagator writes: 512 bytes, what W3C
    /// Trace Context asks a participant that truncates to keep at least. Ordinary lists are
    /// far shorter and pass whole.
    pub const TRACE_STATE_LIMIT: usize = 512;

    /// Bounds the `tracestate` this propagator writes to `bytes` (default
    /// [`TRACE_STATE_LIMIT`](Self::TRACE_STATE_LIMIT)): a longer list is truncated in the
    /// order W3C Trace Context gives (members over 128 bytes first, then from the right), so
    /// that a caller's oversized list cannot make every downstream call's headers exceed a
    /// server's limit (gRPC's default metadata limit is 8 KiB). What is read is not bounded
    /// beyond the format's own rules.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use tracewire_propagation::Propagator;
    ///
    /// let p = Propagator::new().with_trace_state_limit(16);
    /// let mut incoming = HeaderMap::new();
    /// incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
    /// incoming.insert("tracestate", "a=1,b=2,c=333333,d=444444".parse().unwrap());
    /// let cx = p.extract_context(&incoming, &opentelemetry::Context::new());
    /// let mut outgoing = HeaderMap::new();
    /// p.inject_context(&cx, &mut outgoing);
    /// assert_eq!(outgoing["tracestate"], "a=1,b=2,c=333333");
    /// ```
    #[must_use]
    pub fn with_trace_state_limit(self, bytes: usize) -> Self {
        let mut built = self.rebuild(
            self.inner.formats.clone(),
            self.inner.fields.clone(),
            self.inner.limits,
        );
        if let Some(inner) = Arc::get_mut(&mut built.inner) {
            inner.trace_state_limit = bytes;
        }
        built
    }

    /// Adds a format after the configured ones.
    #[must_use]
    pub fn with_format(self, format: Format) -> Self {
        let mut formats = self.inner.formats.clone();
        formats.push(format);
        self.rebuild(formats, self.inner.fields.clone(), self.inner.limits)
    }

    /// Registers a custom context field (see [`fields`](crate::fields)).
    #[must_use]
    pub fn with_field<F: ContextField>(self, field: F) -> Self {
        let mut fields = self.inner.fields.clone();
        fields.push(Arc::new(field));
        self.rebuild(self.inner.formats.clone(), fields, self.inner.limits)
    }

    /// Baggage limits (default: 64 members, 8192 bytes).
    #[must_use]
    pub fn with_baggage_limits(self, limits: BaggageLimits) -> Self {
        self.rebuild(
            self.inner.formats.clone(),
            self.inner.fields.clone(),
            limits,
        )
    }

    /// The configured formats.
    pub fn formats(&self) -> &[Format] {
        &self.inner.formats
    }

    /// The baggage limits.
    pub fn baggage_limits(&self) -> BaggageLimits {
        self.inner.limits
    }

    /// Builds a propagator from a comma-separated list of OpenTelemetry propagator names:
    /// `tracecontext`, `baggage`, `b3`, `b3multi`, `jaeger`, `xray`, `none`. An empty list means the
    /// default (`tracecontext,baggage`).
    ///
    /// ```
    /// use tracewire_propagation::Propagator;
    ///
    /// assert_eq!(Propagator::from_names("tracecontext, b3multi").unwrap().formats().len(), 2);
    /// let err = Propagator::from_names("tracecontext,zipkin").unwrap_err();
    /// assert!(err.to_string().contains("unknown propagator \"zipkin\""));
    /// ```
    pub fn from_names(names: &str) -> Result<Self, PropagatorError> {
        let names: Vec<&str> = names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return Ok(Self::new());
        }
        let mut formats = Vec::new();
        let mut none = false;
        let mut seen = Vec::new();
        for name in &names {
            let lower = name.to_ascii_lowercase();
            if seen.contains(&lower) {
                continue;
            }
            let format = match lower.as_str() {
                "tracecontext" => Format::TraceContext,
                "baggage" => Format::Baggage,
                "b3" => Format::B3,
                "b3multi" => Format::B3Multi,
                "jaeger" => Format::Jaeger,
                "xray" => Format::XRay,
                "none" => {
                    none = true;
                    seen.push(lower);
                    continue;
                }
                "ottrace" => {
                    return Err(PropagatorError::Unsupported {
                        name: (*name).to_owned(),
                    });
                }
                _ => {
                    return Err(PropagatorError::Unknown {
                        name: (*name).to_owned(),
                    });
                }
            };
            seen.push(lower);
            formats.push(format);
        }
        if none && !formats.is_empty() {
            return Err(PropagatorError::NoneWithOthers);
        }
        Ok(Self::from_formats(formats))
    }

    /// Builds a propagator from the `OTEL_PROPAGATORS` environment variable; unset or empty
    /// means the default. Unknown names are an error, never silently skipped.
    pub fn from_env() -> Result<Self, PropagatorError> {
        Self::from_names(&std::env::var("OTEL_PROPAGATORS").unwrap_or_default())
    }
}
