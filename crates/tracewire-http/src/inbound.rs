//! The head of a traced call, shared by every layer: the incoming context (read with our
//! propagator or the global one, under a trust policy) and the sampling decision made before
//! any span exists, with the cheap context of an unsampled call.

use opentelemetry::Context;
use opentelemetry::KeyValue;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use tracewire_propagation::Extracted;
use tracewire_propagation::carrier::HeaderExtractor;
use tracewire_propagation::traceparent::{FLAG_RANDOM, TraceParent};

use crate::sampling::{Decider, Decision};
use crate::server::{PropagatorChoice, TrustPolicy};

/// The incoming context, as our propagator or the global one gave it.
#[derive(Debug)]
pub enum Incoming {
    /// Read with one of this crate's propagators.
    Ours(Extracted),
    /// Read with the global opentelemetry propagator.
    Global {
        /// The extracted context.
        cx: Context,
        /// Its span context as a traceparent, when valid.
        parent: Option<TraceParent>,
    },
}

impl Incoming {
    /// Extracts the incoming context from `headers`. With `forget_parent` (a new root), the
    /// parent is returned apart, for a link, and left out of the context.
    pub fn extract(
        propagator: &PropagatorChoice,
        headers: &http::HeaderMap,
        forget_parent: bool,
    ) -> (Self, Option<TraceParent>) {
        match propagator {
            PropagatorChoice::Ours(p) => {
                let mut extracted = p.extract(headers);
                let link = if forget_parent {
                    extracted.forget_parent()
                } else {
                    None
                };
                (Self::Ours(extracted), link)
            }
            PropagatorChoice::Global => {
                let cx = opentelemetry::global::get_text_map_propagator(|p| {
                    p.extract_with_context(&Context::new(), &HeaderExtractor(headers))
                });
                let parent = TraceParent::from_span_context(cx.span().span_context());
                if forget_parent && parent.is_some() {
                    // A fresh context with the baggage only.
                    let baggage: Vec<opentelemetry::baggage::KeyValueMetadata> = cx
                        .baggage()
                        .iter()
                        .map(|(k, (v, m))| {
                            opentelemetry::baggage::KeyValueMetadata::new(
                                k.clone(),
                                v.clone(),
                                m.clone(),
                            )
                        })
                        .collect();
                    let cx = Context::new().with_baggage(baggage);
                    (Self::Global { cx, parent: None }, parent)
                } else {
                    (Self::Global { cx, parent }, None)
                }
            }
        }
    }

    /// The caller's span, when a valid one arrived.
    pub fn parent(&self) -> Option<TraceParent> {
        match self {
            Self::Ours(e) => e.parent().copied(),
            Self::Global { parent, .. } => *parent,
        }
    }

    /// For a receiver that decides sampling itself: the parent's flag becomes the decision.
    pub fn set_parent_sampled(&mut self, sampled: bool) {
        match self {
            Self::Ours(e) => e.set_parent_sampled(sampled),
            Self::Global { cx, parent } => {
                if let Some(p) = parent {
                    *p = p.with_sampled(sampled);
                    let state = cx.span().span_context().trace_state().clone();
                    *cx = cx.with_remote_span_context(p.to_span_context(state));
                }
            }
        }
    }

    /// The incoming context, for a span's parent (or a filtered call).
    pub fn into_context(self) -> Context {
        match self {
            Self::Ours(e) => e.into_context(&Context::new()),
            Self::Global { cx, .. } => cx,
        }
    }

    /// A context whose span is `own`, a non-recording span of ours in the incoming trace.
    pub fn into_child_context(self, own: TraceParent, state: Option<TraceState>) -> Context {
        match (self, state) {
            (Self::Ours(e), None) => e.into_child_context(&Context::new(), own),
            (incoming, state) => {
                let cx = incoming.into_context();
                let state = state.unwrap_or_else(|| cx.span().span_context().trace_state().clone());
                cx.with_remote_span_context(SpanContext::new(
                    own.trace_id(),
                    own.span_id(),
                    own.flags(),
                    false,
                    state,
                ))
            }
        }
    }
}

/// The ids a call starts with and the parent its sampling decision is made under.
#[derive(Clone, Copy, Debug)]
pub struct Head {
    /// The caller's (or the current) span, when valid.
    pub parent: Option<TraceParent>,
    /// The parent the sampler sees: none for a root decision.
    pub decision_parent: Option<TraceParent>,
    /// The call's trace id: the parent's, or a fresh one.
    pub trace_id: TraceId,
    /// A fresh random span id: the span id of an unsampled call.
    fresh: SpanId,
}

impl Head {
    /// A call under `parent`; with `decide_as_root` the sampler ignores the parent (the
    /// [`TrustPolicy::OwnSampling`] policy).
    pub fn new(parent: Option<TraceParent>, decide_as_root: bool) -> Self {
        // A parent gives the trace id: only a span id is drawn then.
        let ids = match parent {
            Some(p) => p.with_new_span_id(),
            None => TraceParent::new_root(false),
        };
        Self {
            parent,
            decision_parent: if decide_as_root { None } else { parent },
            trace_id: ids.trace_id(),
            fresh: ids.span_id(),
        }
    }

    /// An incoming call under `trust`.
    pub fn incoming(incoming: &Incoming, trust: TrustPolicy) -> Self {
        let parent = incoming.parent();
        Self::new(parent, trust == TrustPolicy::OwnSampling)
    }

    /// The sampler's answer when it needs nothing of the call.
    #[inline]
    pub fn quick(&self, sampler: &Decider) -> Option<bool> {
        sampler.quick(self.decision_parent.as_ref())
    }

    /// Asks the sampler, with the call's name and start attributes.
    pub fn decide(
        &self,
        sampler: &Decider,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
    ) -> Decision {
        let parent_cx = self
            .decision_parent
            .map(|p| Context::new().with_remote_span_context(p.to_span_context(TraceState::NONE)));
        sampler.decide(parent_cx.as_ref(), self.trace_id, name, kind, attributes)
    }

    /// The span of an unsampled call: our own span id in the trace, the random flag kept.
    pub fn unsampled(&self) -> Option<TraceParent> {
        let flags = match self.parent {
            Some(p) => p.flags().to_u8() & FLAG_RANDOM,
            None => FLAG_RANDOM,
        };
        TraceParent::new(self.trace_id, self.fresh, TraceFlags::new(flags))
    }
}

/// `parent_cx` with `own` as its (non-recording) span, keeping the parent's tracestate.
pub fn child_of(parent_cx: Context, own: TraceParent) -> Context {
    let state = parent_cx.span().span_context().trace_state().clone();
    parent_cx.with_remote_span_context(SpanContext::new(
        own.trace_id(),
        own.span_id(),
        own.flags(),
        false,
        state,
    ))
}
