//! The composite [`Propagator`]: a list of formats, custom fields and baggage limits.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter,
};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceId};

use crate::b3::{self, B3Context, B3Encoding};
use crate::baggage::{Baggage, BaggageLimits};
use crate::carrier::{Carrier, CarrierMut, ExtractorCarrier, Probe};
use crate::fields::{ContextField, ErasedField, FieldValue};
use crate::jaeger;
use crate::traceparent::{TraceParent, TraceParentError};
use crate::tracestate::TraceState;

/// `traceparent`
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate`
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// `baggage`
pub const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// One propagation format.
#[derive(Clone)]
#[non_exhaustive]
pub enum Format {
    /// W3C Trace Context: `traceparent` and `tracestate` (`tracecontext`).
    TraceContext,
    /// W3C Baggage: `baggage` (`baggage`).
    Baggage,
    /// B3 single header `b3` (`b3`).
    B3,
    /// B3 multi-header `X-B3-*` (`b3multi`).
    B3Multi,
    /// B3 with the given encoding (extraction reads both forms).
    B3With(B3Encoding),
    /// Jaeger `uber-trace-id` and `uberctx-*` baggage (`jaeger`).
    Jaeger,
    /// Any other opentelemetry propagator, reached through its `Extractor`/`Injector` API.
    Custom(Arc<dyn TextMapPropagator + Send + Sync>),
}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TraceContext => f.write_str("TraceContext"),
            Self::Baggage => f.write_str("Baggage"),
            Self::B3 => f.write_str("B3"),
            Self::B3Multi => f.write_str("B3Multi"),
            Self::B3With(e) => f.debug_tuple("B3With").field(e).finish(),
            Self::Jaeger => f.write_str("Jaeger"),
            Self::Custom(p) => f.debug_tuple("Custom").field(p).finish(),
        }
    }
}

impl Format {
    fn header_names(&self) -> Vec<String> {
        let names: &[&HeaderName] = match self {
            Self::TraceContext => &[&TRACEPARENT, &TRACESTATE],
            Self::Baggage => &[&BAGGAGE],
            Self::B3 => &[&b3::B3],
            Self::B3Multi => &[&b3::TRACE_ID, &b3::SPAN_ID, &b3::SAMPLED, &b3::FLAGS],
            Self::B3With(_) => &[
                &b3::B3,
                &b3::TRACE_ID,
                &b3::SPAN_ID,
                &b3::SAMPLED,
                &b3::FLAGS,
            ],
            Self::Jaeger => &[&jaeger::UBER_TRACE_ID],
            Self::Custom(p) => return p.fields().map(str::to_owned).collect(),
        };
        names.iter().map(|n| n.as_str().to_owned()).collect()
    }
}

/// An unknown or unsupported name in `OTEL_PROPAGATORS`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropagatorError {
    /// A name this crate does not know.
    Unknown {
        /// The name as written.
        name: String,
    },
    /// A name from the OpenTelemetry list that this crate does not implement.
    Unsupported {
        /// The name as written.
        name: String,
    },
    /// `none` together with other names.
    NoneWithOthers,
}

impl fmt::Display for PropagatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KNOWN: &str = "tracecontext, baggage, b3, b3multi, jaeger, none";
        match self {
            Self::Unknown { name } => write!(
                f,
                "OTEL_PROPAGATORS: unknown propagator {name:?} (known: {KNOWN})"
            ),
            Self::Unsupported { name } => write!(
                f,
                "OTEL_PROPAGATORS: propagator {name:?} is not supported (supported: {KNOWN})"
            ),
            Self::NoneWithOthers => {
                f.write_str("OTEL_PROPAGATORS: \"none\" cannot be combined with other propagators")
            }
        }
    }
}

impl std::error::Error for PropagatorError {}

/// What a [`Propagator`] read from a carrier, before it becomes an OpenTelemetry `Context`.
///
/// Cheap when there is nothing but a `traceparent`: no heap allocation, and small enough to
/// move around freely. Decide what to do (sample or not, trust or not) from it, then call
/// [`into_context`](Self::into_context).
#[derive(Debug, Default)]
pub struct Extracted {
    parent: Option<TraceParent>,
    trace_state: TraceState,
    debug: bool,
    deny: bool,
    /// Baggage and custom fields, boxed: most requests have none.
    rest: Option<Box<Rest>>,
}

#[derive(Debug, Default)]
struct Rest {
    baggage: Baggage,
    fields: Vec<Box<dyn FieldValue>>,
}

static NO_BAGGAGE: Baggage = Baggage::new();

/// What the propagators carry in a `Context` beside opentelemetry's own values, in one entry
/// (each `Context::with_value` copies the context's map).
#[derive(Debug, Default)]
struct Carried {
    /// The complete `tracestate` when opentelemetry's `TraceState` could not hold all of it,
    /// with the trace it belongs to.
    trace_state: Option<(TraceId, TraceState)>,
    /// The complete, ordered baggage, and a fingerprint of the opentelemetry projection stored
    /// with it (to tell whether that one was changed since).
    baggage: Option<(Baggage, (usize, u64))>,
    /// B3/Jaeger debug flag, for this trace.
    debug: Option<TraceId>,
    /// B3 deny-only: the caller said "do not sample" without sending ids.
    deny: bool,
}

impl Extracted {
    fn rest_mut(&mut self) -> &mut Rest {
        self.rest.get_or_insert_with(Box::default)
    }

    fn set_trace_state(&mut self, state: TraceState) {
        self.trace_state = state;
    }

    fn add_baggage(&mut self, baggage: Baggage, limits: BaggageLimits) {
        if baggage.is_empty() {
            return;
        }
        let rest = self.rest_mut();
        if rest.baggage.is_empty() {
            rest.baggage = baggage;
        } else {
            rest.baggage.extend_within(&baggage, limits);
        }
    }

    /// The incoming parent, if a format yielded a valid one.
    pub fn parent(&self) -> Option<&TraceParent> {
        self.parent.as_ref()
    }

    /// The incoming parent as a remote span context (invalid when there is none). Builds
    /// opentelemetry's `TraceState` from the incoming one.
    #[inline]
    pub fn span_context(&self) -> SpanContext {
        match &self.parent {
            Some(p) => p.to_span_context(self.trace_state().to_otel()),
            None => SpanContext::empty_context(),
        }
    }

    /// The incoming `tracestate` (empty when there is none, or when it was invalid).
    pub fn trace_state(&self) -> &TraceState {
        &self.trace_state
    }

    /// The incoming baggage, from every format that carries it.
    pub fn baggage(&self) -> &Baggage {
        self.rest.as_ref().map_or(&NO_BAGGAGE, |r| &r.baggage)
    }

    /// Whether the caller asked for debug (B3 `d` or `X-B3-Flags: 1`, Jaeger flag `0x02`).
    pub fn is_debug(&self) -> bool {
        self.debug
    }

    /// Whether the caller denied sampling without sending ids (B3 `b3: 0`).
    pub fn is_denied(&self) -> bool {
        self.deny
    }

    /// The value of a custom field, by type.
    pub fn field<T: 'static>(&self) -> Option<&T> {
        self.rest
            .as_ref()?
            .fields
            .iter()
            .find_map(|f| f.as_any().downcast_ref())
    }

    /// Sets or clears the incoming parent's `sampled` flag: for a receiver that makes its own
    /// sampling decision for the caller's trace.
    pub fn set_parent_sampled(&mut self, sampled: bool) {
        if let Some(p) = &mut self.parent {
            *p = p.with_sampled(sampled);
        }
    }

    /// Drops the incoming parent (and its `tracestate` and debug flag), keeping baggage and
    /// fields: for a public edge that starts its own trace.
    pub fn forget_parent(&mut self) -> Option<TraceParent> {
        self.trace_state = TraceState::new();
        self.debug = false;
        self.parent.take()
    }

    /// Puts everything into a `Context` derived from `parent`: the remote span context,
    /// baggage (readable with opentelemetry's `BaggageExt`) and custom fields (readable with
    /// `cx.get::<T>()`).
    pub fn into_context(self, parent: &Context) -> Context {
        self.build_context(parent, None)
    }

    /// Like [`into_context`](Self::into_context), but the context's span is `child`, a local
    /// span of the incoming trace (same trace id, our own span id and flags) that records
    /// nothing: what a server carries for a request it does not sample. One context is built
    /// instead of two.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use opentelemetry::Context;
    /// use opentelemetry::trace::TraceContextExt;
    /// use tracewire_propagation::Propagator;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".parse().unwrap());
    /// let extracted = Propagator::new().extract(&headers);
    /// let child = extracted.parent().unwrap().with_new_span_id();
    /// let cx = extracted.into_child_context(&Context::new(), child);
    /// assert_eq!(cx.span().span_context().span_id(), child.span_id());
    /// assert!(!cx.span().span_context().is_remote());
    /// ```
    pub fn into_child_context(self, parent: &Context, child: TraceParent) -> Context {
        self.build_context(parent, Some(child))
    }

    fn build_context(mut self, parent: &Context, child: Option<TraceParent>) -> Context {
        if self.rest.is_none() && self.trace_state.is_empty() && !self.debug && !self.deny {
            // Nothing but a traceparent (the common case): one span context, no entries.
            return match (child, self.parent) {
                (Some(c), _) => parent.with_remote_span_context(SpanContext::new(
                    c.trace_id(),
                    c.span_id(),
                    c.flags(),
                    false,
                    opentelemetry::trace::TraceState::NONE,
                )),
                (None, Some(p)) => parent.with_remote_span_context(
                    p.to_span_context(opentelemetry::trace::TraceState::NONE),
                ),
                (None, None) => parent.clone(),
            };
        }
        let mut cx = parent.clone();
        let mut carried = Carried::default();
        let mut trace_state = std::mem::take(&mut self.trace_state);
        let Rest { baggage, fields } = self.rest.map(|r| *r).unwrap_or_default();
        if let Some(child) = child {
            if self
                .parent
                .is_some_and(|p| p.trace_id() != child.trace_id())
            {
                // A child of another trace: nothing of the incoming trace applies.
                trace_state = TraceState::new();
                self.debug = false;
            }
            self.parent = Some(child);
        }
        if let Some(p) = &self.parent {
            let otel_state = trace_state.to_otel();
            let span_context = match child {
                Some(c) => {
                    SpanContext::new(c.trace_id(), c.span_id(), c.flags(), false, otel_state)
                }
                None => p.to_span_context(otel_state),
            };
            cx = cx.with_remote_span_context(span_context);
            if !trace_state.fits_otel() {
                carried.trace_state = Some((p.trace_id(), trace_state));
            }
            if self.debug {
                carried.debug = Some(p.trace_id());
            }
        } else {
            carried.deny = self.deny;
        }
        if !baggage.is_empty() {
            let otel = baggage.to_otel();
            carried.baggage = Some((baggage, crate::baggage::otel_fingerprint(&otel)));
            cx = cx.with_baggage(otel);
        }
        if carried.trace_state.is_some()
            || carried.baggage.is_some()
            || carried.debug.is_some()
            || carried.deny
        {
            cx = cx.with_value(carried);
        }
        for field in fields {
            cx = field.attach(cx);
        }
        cx
    }
}

/// Marks `trace_id` as drawn uniformly at random in a context derived from `cx`: the spans of
/// that trace made under it (and their children) are written with the Level 2
/// `random-trace-id` flag, which the OpenTelemetry SDK does not keep on the spans it makes.
/// The layers mark the traces they start; nothing else needs to.
///
/// ```
/// use http::HeaderMap;
/// use opentelemetry::Context;
/// use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
/// use tracewire_propagation::{Propagator, mark_random_trace_id};
///
/// let trace_id = TraceId::from_bytes([7; 16]);
/// let sdk_span = SpanContext::new(trace_id, SpanId::from_bytes([1; 8]), TraceFlags::SAMPLED, false, TraceState::NONE);
/// let cx = mark_random_trace_id(&Context::new(), trace_id).with_remote_span_context(sdk_span);
/// let mut headers = HeaderMap::new();
/// Propagator::new().inject_context(&cx, &mut headers);
/// assert!(headers["traceparent"].to_str().unwrap().ends_with("-03"));
/// ```
pub fn mark_random_trace_id(cx: &Context, trace_id: TraceId) -> Context {
    cx.with_value(RandomTrace(trace_id))
}

/// Whether `trace_id` was marked random in `cx` ([`mark_random_trace_id`]).
pub fn is_random_trace(cx: &Context, trace_id: TraceId) -> bool {
    cx.get::<RandomTrace>().is_some_and(|r| r.0 == trace_id)
}

/// A trace id drawn at random by the layer that started the trace.
#[derive(Clone, Copy, Debug)]
struct RandomTrace(TraceId);

/// The complete `tracestate` to send for the span in `cx`: what was received, unless the
/// span's state was changed through opentelemetry since.
pub fn trace_state_of(cx: &Context) -> Cow<'_, TraceState> {
    trace_state_with(cx.span().span_context(), cx.get::<Carried>())
}

fn trace_state_with<'a>(sc: &SpanContext, carried: Option<&'a Carried>) -> Cow<'a, TraceState> {
    if let Some((trace_id, state)) = carried.and_then(|c| c.trace_state.as_ref())
        && *trace_id == sc.trace_id()
        && state.matches_otel(sc.trace_state())
    {
        return Cow::Borrowed(state);
    }
    Cow::Owned(TraceState::from_otel(sc.trace_state()))
}

/// The complete baggage to send from `cx`: what was received, unless it was changed through
/// opentelemetry's `BaggageExt` since.
pub fn baggage_of(cx: &Context, limits: BaggageLimits) -> Cow<'_, Baggage> {
    baggage_with(cx, cx.get::<Carried>(), limits)
}

fn baggage_with<'a>(
    cx: &Context,
    carried: Option<&'a Carried>,
    limits: BaggageLimits,
) -> Cow<'a, Baggage> {
    let otel = cx.baggage();
    if let Some((ours, fingerprint)) = carried.and_then(|c| c.baggage.as_ref())
        && *fingerprint == crate::baggage::otel_fingerprint(otel)
    {
        return Cow::Borrowed(ours);
    }
    if otel.is_empty() {
        Cow::Owned(Baggage::new())
    } else {
        Cow::Owned(Baggage::from_otel(otel, limits))
    }
}

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
    /// `tracecontext`, `baggage`, `b3`, `b3multi`, `jaeger`, `none`. An empty list means the
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
                "none" => {
                    none = true;
                    seen.push(lower);
                    continue;
                }
                "xray" | "ottrace" => {
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

    /// Reads every configured format from `carrier`.
    #[inline]
    pub fn extract<C: Carrier>(&self, carrier: &C) -> Extracted {
        let mut out = Extracted::default();
        let limits = self.inner.limits;
        // The W3C names in one pass over the carrier.
        let mut w3c = [Probe::default(); 3];
        if self.inner.w3c {
            carrier.probe(&W3C_NAMES, &mut w3c);
        }
        let [traceparent, tracestate, baggage] = w3c;
        if self.inner.only_w3c && tracestate.first.is_none() && baggage.first.is_none() {
            // The common request: a traceparent (or nothing) and no other context.
            if self.inner.trace_context {
                out.parent = traceparent_of(traceparent).ok();
            }
            return out;
        }
        for format in &self.inner.formats {
            match format {
                Format::TraceContext => {
                    if out.parent.is_none()
                        && let Ok(p) = traceparent_of(traceparent)
                    {
                        out.parent = Some(p);
                        let state = match tracestate {
                            Probe { first: None, .. } => Ok(TraceState::new()),
                            Probe {
                                first: Some(one),
                                repeated: false,
                            } => TraceState::parse_fields([one]),
                            Probe { repeated: true, .. } => {
                                TraceState::parse_fields(carrier.get_all_values(&TRACESTATE))
                            }
                        }
                        .unwrap_or_default();
                        out.set_trace_state(state);
                    }
                }
                Format::Baggage => {
                    let parsed = match baggage {
                        Probe { first: None, .. } => Baggage::new(),
                        Probe {
                            first: Some(one),
                            repeated: false,
                        } => Baggage::parse_fields([one], limits),
                        Probe { repeated: true, .. } => {
                            Baggage::parse_fields(carrier.get_all_values(&BAGGAGE), limits)
                        }
                    };
                    out.add_baggage(parsed, limits);
                }
                Format::B3 | Format::B3Multi | Format::B3With(_) => {
                    if out.parent.is_none() && !out.deny {
                        match b3::extract(carrier) {
                            Some(B3Context::Span { parent, debug }) => {
                                out.parent = Some(parent);
                                out.debug = debug;
                            }
                            Some(B3Context::Deny) => out.deny = true,
                            None => {}
                        }
                    }
                }
                Format::Jaeger => {
                    if out.parent.is_none()
                        && let Some((parent, debug)) = jaeger::extract(carrier)
                    {
                        out.parent = Some(parent);
                        out.debug = debug;
                    }
                    let mut bag = Baggage::new();
                    jaeger::extract_baggage(carrier, &mut bag, limits);
                    out.add_baggage(bag, limits);
                }
                Format::Custom(p) => {
                    // Reached through opentelemetry's Context; merge what it found.
                    let extractor = CarrierExtractor(carrier);
                    let cx = p.extract_with_context(&Context::new(), &extractor);
                    let span = cx.span();
                    let sc = span.span_context();
                    if out.parent.is_none() && sc.is_valid() {
                        out.parent = TraceParent::from_span_context(sc);
                        out.set_trace_state(TraceState::from_otel(sc.trace_state()));
                    }
                    out.add_baggage(Baggage::from_otel(cx.baggage(), limits), limits);
                }
            }
        }
        if out.parent.is_some() {
            out.deny = false;
        }
        for field in &self.inner.fields {
            if let Some(v) = field.extract(carrier, out.baggage()) {
                out.rest_mut().fields.push(v);
            }
        }
        out
    }

    /// Extracts into a `Context` derived from `parent`.
    pub fn extract_context<C: Carrier>(&self, carrier: &C, parent: &Context) -> Context {
        self.extract(carrier).into_context(parent)
    }

    /// Writes every configured format for the span, baggage and fields in `cx`.
    ///
    /// Nothing is written for trace context when `cx` has no valid span context; the
    /// `tracestate` and `baggage` headers are never written empty.
    pub fn inject_context<C: CarrierMut>(&self, cx: &Context, carrier: &mut C) {
        self.inject_context_with(cx, carrier, true);
    }

    /// Like [`inject_context`](Self::inject_context), but writes baggage (the `baggage`
    /// header, Jaeger's `uberctx-*`, baggage-carried custom fields) only when `baggage` is
    /// true: for calls to hosts that must not receive internal baggage.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use opentelemetry::Context;
    /// use tracewire_propagation::Propagator;
    ///
    /// let p = Propagator::new();
    /// let mut incoming = HeaderMap::new();
    /// incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
    /// incoming.insert("baggage", "internal=secret".parse().unwrap());
    /// let cx = p.extract(&incoming).into_context(&Context::new());
    ///
    /// let mut outgoing = HeaderMap::new();
    /// p.inject_context_with(&cx, &mut outgoing, false);
    /// assert!(outgoing.contains_key("traceparent"));
    /// assert!(!outgoing.contains_key("baggage"));
    /// ```
    pub fn inject_context_with<C: CarrierMut>(&self, cx: &Context, carrier: &mut C, baggage: bool) {
        self.inject_parts(cx, None, carrier, baggage);
    }

    /// Writes the context of `child`, a span of ours under `cx`'s span (same trace), with
    /// `cx`'s tracestate, baggage and fields: what a caller that makes no span of its own (an
    /// unsampled call with its own span id) sends, without building a `Context` for it.
    /// Baggage is written only when `baggage` is true.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use opentelemetry::Context;
    /// use tracewire_propagation::Propagator;
    /// use tracewire_propagation::traceparent::TraceParent;
    ///
    /// let p = Propagator::new();
    /// let mut incoming = HeaderMap::new();
    /// incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".parse().unwrap());
    /// incoming.insert("tracestate", "vendor=1".parse().unwrap());
    /// let extracted = p.extract(&incoming);
    /// let parent = *extracted.parent().unwrap();
    /// let cx = extracted.into_context(&Context::new());
    ///
    /// let child = TraceParent::new(parent.trace_id(), TraceParent::new_root(false).span_id(), parent.flags()).unwrap();
    /// let mut outgoing = HeaderMap::new();
    /// p.inject_child_with(&cx, child, &mut outgoing, false);
    /// assert_eq!(outgoing["traceparent"], child.to_header_value());
    /// assert_eq!(outgoing["tracestate"], "vendor=1");
    /// ```
    pub fn inject_child_with<C: CarrierMut>(
        &self,
        cx: &Context,
        child: TraceParent,
        carrier: &mut C,
        baggage: bool,
    ) {
        self.inject_parts(cx, Some(child), carrier, baggage);
    }

    /// Writes `cx`, with `child` in place of its span when given.
    fn inject_parts<C: CarrierMut>(
        &self,
        cx: &Context,
        child: Option<TraceParent>,
        carrier: &mut C,
        baggage: bool,
    ) {
        let span = cx.span();
        let sc = span.span_context();
        let parent = child.or_else(|| {
            TraceParent::from_span_context(sc).map(|p| {
                // A span of a trace whose id we drew (the SDK keeps only the sampled flag).
                if !p.is_random() && is_random_trace(cx, p.trace_id()) {
                    p.with_random(true)
                } else {
                    p
                }
            })
        });
        let carried = cx.get::<Carried>();
        let (debug, deny) = match carried {
            Some(c) if self.inner.needs_marks => (
                parent.is_some_and(|p| c.debug == Some(p.trace_id())),
                parent.is_none() && c.deny,
            ),
            _ => (false, false),
        };
        let limits = self.inner.limits;
        let mut bag = if self.inner.needs_baggage && baggage {
            baggage_with(cx, carried, limits)
        } else {
            Cow::Owned(Baggage::new())
        };
        for field in &self.inner.fields {
            field.inject(cx, carrier, bag.to_mut(), limits);
        }

        for format in &self.inner.formats {
            match format {
                Format::TraceContext => {
                    if let Some(p) = &parent {
                        carrier.set_value(&TRACEPARENT, p.to_header_value());
                        let has_state = sc.trace_state().into_iter().next().is_some()
                            || carried.is_some_and(|c| c.trace_state.is_some());
                        if has_state {
                            let mut state = trace_state_with(sc, carried);
                            let limit = self.inner.trace_state_limit;
                            if state.header().len() > limit {
                                state.to_mut().truncate_to(limit);
                            }
                            if let Some(v) = state.to_header_value() {
                                carrier.set_value(&TRACESTATE, v);
                            }
                        }
                    }
                }
                Format::Baggage => {
                    if baggage && let Some(v) = bag.to_header_value() {
                        carrier.set_value(&BAGGAGE, v);
                    }
                }
                Format::B3 => b3::inject(parent.as_ref(), debug, deny, B3Encoding::Single, carrier),
                Format::B3Multi => {
                    b3::inject(parent.as_ref(), debug, deny, B3Encoding::Multi, carrier);
                }
                Format::B3With(encoding) => {
                    b3::inject(parent.as_ref(), debug, deny, *encoding, carrier);
                }
                Format::Jaeger => {
                    if let Some(p) = &parent {
                        jaeger::inject(p, debug, carrier);
                    }
                    if baggage {
                        jaeger::inject_baggage(&bag, carrier);
                    }
                }
                Format::Custom(p) => {
                    let mut injector = CarrierInjector(carrier);
                    match child {
                        // Another propagator needs the child as a context of its own.
                        Some(child) => {
                            let child_cx = cx.with_remote_span_context(
                                child.to_span_context(sc.trace_state().clone()),
                            );
                            p.inject_context(&child_cx, &mut injector);
                        }
                        None => p.inject_context(cx, &mut injector),
                    }
                }
            }
        }
    }
}

/// Reads the single `traceparent` of a carrier (two fields are invalid).
///
/// The hot path of the layers: no allocation.
///
/// ```
/// use http::HeaderMap;
/// use tracewire_propagation::extract_traceparent;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// assert!(extract_traceparent(&headers).unwrap().is_sampled());
/// ```
#[inline]
pub fn extract_traceparent<C: Carrier + ?Sized>(
    carrier: &C,
) -> Result<TraceParent, TraceParentError> {
    let mut probe = [Probe::default()];
    carrier.probe(std::slice::from_ref(&TRACEPARENT), &mut probe);
    traceparent_of(probe[0])
}

const W3C_NAMES: [HeaderName; 3] = [TRACEPARENT, TRACESTATE, BAGGAGE];

#[inline]
fn traceparent_of(probe: Probe<'_>) -> Result<TraceParent, TraceParentError> {
    match probe {
        Probe { first: None, .. } => Err(TraceParentError::Missing),
        Probe { repeated: true, .. } => Err(TraceParentError::Duplicate),
        Probe {
            first: Some(value), ..
        } => TraceParent::parse(value),
    }
}

/// A [`Carrier`] seen as an opentelemetry [`Extractor`], for custom formats.
struct CarrierExtractor<'a, C: ?Sized>(&'a C);

impl<C: Carrier + ?Sized> Extractor for CarrierExtractor<'_, C> {
    fn get(&self, key: &str) -> Option<&str> {
        let name = HeaderName::from_bytes(key.as_bytes()).ok()?;
        self.0
            .first_value(&name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.header_names()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let name = HeaderName::from_bytes(key.as_bytes()).ok()?;
        let all: Vec<&str> = self
            .0
            .get_all_values(&name)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .collect();
        (!all.is_empty()).then_some(all)
    }
}

/// A [`CarrierMut`] seen as an opentelemetry [`Injector`], for custom formats.
struct CarrierInjector<'a, C: ?Sized>(&'a mut C);

impl<C: CarrierMut + ?Sized> Injector for CarrierInjector<'_, C> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.set_value(&name, value);
        }
    }
}

impl TextMapPropagator for Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let mut carrier = crate::carrier::InjectorCarrier(injector);
        Self::inject_context(self, cx, &mut carrier);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.extract(&ExtractorCarrier(extractor)).into_context(cx)
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.inner.header_names)
    }
}
