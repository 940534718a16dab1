//! Reading and writing the context: the layer's propagator (or, as an explicit choice, the
//! global one), the incoming context under a trust policy, and injection, written once.

use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceState};
use tracewire_propagation::carrier::{HeaderExtractor, HeaderInjector};
use tracewire_propagation::traceparent::TraceParent;
use tracewire_propagation::{Extracted, Propagator};

/// What reads and writes the context.
///
/// ```
/// use tracewire_core::PropagatorChoice;
/// use tracewire_propagation::Propagator;
///
/// let ours = PropagatorChoice::Ours(Propagator::new());
/// assert!(matches!(PropagatorChoice::default(), PropagatorChoice::Ours(_)));
/// # let _ = ours;
/// ```
#[derive(Clone, Debug)]
pub enum PropagatorChoice {
    /// One of tracewire's propagators (the default: W3C trace context and baggage).
    Ours(Propagator),
    /// The global opentelemetry propagator, as an explicit choice.
    Global,
}

impl Default for PropagatorChoice {
    fn default() -> Self {
        Self::Ours(Propagator::new())
    }
}

impl PropagatorChoice {
    /// Extracts the incoming context from `headers`. With `forget_parent` (a new root), the
    /// parent is returned apart, for a link, and left out of the context.
    #[inline]
    pub fn extract(
        &self,
        headers: &http::HeaderMap,
        forget_parent: bool,
    ) -> (Incoming, Option<TraceParent>) {
        match self {
            Self::Ours(p) => {
                let mut extracted = p.extract(headers);
                let link = if forget_parent {
                    extracted.forget_parent()
                } else {
                    None
                };
                (Incoming::Ours(extracted), link)
            }
            Self::Global => {
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
                    (Incoming::Global { cx, parent: None }, parent)
                } else {
                    (Incoming::Global { cx, parent }, None)
                }
            }
        }
    }

    /// Writes `cx` into `headers`; baggage (and baggage-carried fields) only when `baggage`.
    #[inline]
    pub fn inject(&self, cx: &Context, headers: &mut http::HeaderMap, baggage: bool) {
        match self {
            Self::Ours(p) => p.inject_context_with(cx, headers, baggage),
            Self::Global => opentelemetry::global::get_text_map_propagator(|p| {
                p.inject_context(cx, &mut HeaderInjector(headers));
            }),
        }
    }

    /// Writes the context of `own`, a span id of ours under `cx`'s span (an unsampled call),
    /// without building a `Context` for it when the propagator is ours.
    #[inline]
    pub fn inject_child(
        &self,
        cx: &Context,
        own: TraceParent,
        headers: &mut http::HeaderMap,
        baggage: bool,
    ) {
        match self {
            Self::Ours(p) => p.inject_child_with(cx, own, headers, baggage),
            Self::Global => self.inject(&child_of(cx.clone(), own), headers, baggage),
        }
    }
}

/// The incoming context, as our propagator or the global one gave it.
#[derive(Debug)]
pub enum Incoming {
    /// Read with one of tracewire's propagators.
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
    /// The caller's span, when a valid one arrived.
    #[inline]
    pub fn parent(&self) -> Option<TraceParent> {
        match self {
            Self::Ours(e) => e.parent().copied(),
            Self::Global { parent, .. } => *parent,
        }
    }

    /// Whether the caller said "do not sample" without sending ids (B3 `b3: 0`).
    #[inline]
    pub fn is_denied(&self) -> bool {
        match self {
            Self::Ours(e) => e.is_denied(),
            Self::Global { .. } => false,
        }
    }

    /// For a receiver that decides sampling itself: the parent's flag becomes the decision.
    #[inline]
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
    #[inline]
    pub fn into_context(self) -> Context {
        match self {
            Self::Ours(e) => e.into_context(&Context::new()),
            Self::Global { cx, .. } => cx,
        }
    }

    /// A context whose span is `own`, a non-recording span of ours in the incoming trace;
    /// `state` replaces the tracestate when the sampler asked for one.
    #[inline]
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

/// `parent_cx` with `own` as its (non-recording) span, keeping the parent's tracestate.
#[inline]
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
