//! What a context carries for the next hop: the random-trace-id mark, the received
//! `tracestate` and baggage.

use super::extracted::Carried;
use std::borrow::Cow;

use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceId};

use crate::baggage::{Baggage, BaggageLimits};
use crate::tracestate::TraceState;

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
pub(super) struct RandomTrace(TraceId);

/// The complete `tracestate` to send for the span in `cx`: what was received, unless the
/// span's state was changed through opentelemetry since.
pub fn trace_state_of(cx: &Context) -> Cow<'_, TraceState> {
    trace_state_with(cx.span().span_context(), cx.get::<Carried>())
}

pub(super) fn trace_state_with<'a>(
    sc: &SpanContext,
    carried: Option<&'a Carried>,
) -> Cow<'a, TraceState> {
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

pub(super) fn baggage_with<'a>(
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
