//! [`Extracted`]: what a propagator read, before it becomes a `Context`.

use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceId};

use crate::baggage::{Baggage, BaggageLimits};
use crate::fields::FieldValue;
use crate::traceparent::TraceParent;
use crate::tracestate::TraceState;

/// What a [`Propagator`](super::Propagator) read from a carrier, before it becomes an
/// OpenTelemetry `Context`.
///
/// Cheap when there is nothing but a `traceparent`: no heap allocation, and small enough to
/// move around freely. Decide what to do (sample or not, trust or not) from it, then call
/// [`into_context`](Self::into_context).
#[derive(Debug, Default)]
pub struct Extracted {
    pub(super) parent: Option<TraceParent>,
    pub(super) trace_state: TraceState,
    pub(super) debug: bool,
    pub(super) deny: bool,
    /// Baggage and custom fields, boxed: most requests have none.
    pub(super) rest: Option<Box<Rest>>,
}

#[derive(Debug, Default)]
pub(super) struct Rest {
    pub(super) baggage: Baggage,
    pub(super) fields: Vec<Box<dyn FieldValue>>,
}

static NO_BAGGAGE: Baggage = Baggage::new();

/// What the propagators carry in a `Context` beside opentelemetry's own values, in one entry
/// (each `Context::with_value` copies the context's map).
#[derive(Debug, Default)]
pub(super) struct Carried {
    /// The complete `tracestate` when opentelemetry's `TraceState` could not hold all of it,
    /// with the trace it belongs to.
    pub(super) trace_state: Option<(TraceId, TraceState)>,
    /// The complete, ordered baggage, and a fingerprint of the opentelemetry projection stored
    /// with it (to tell whether that one was changed since).
    pub(super) baggage: Option<(Baggage, (usize, u64))>,
    /// B3/Jaeger debug flag, for this trace.
    pub(super) debug: Option<TraceId>,
    /// B3 deny-only: the caller said "do not sample" without sending ids.
    pub(super) deny: bool,
}

impl Extracted {
    pub(super) fn rest_mut(&mut self) -> &mut Rest {
        self.rest.get_or_insert_with(Box::default)
    }

    pub(super) fn set_trace_state(&mut self, state: TraceState) {
        self.trace_state = state;
    }

    pub(super) fn add_baggage(&mut self, baggage: Baggage, limits: BaggageLimits) {
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
