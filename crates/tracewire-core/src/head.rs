//! The head of a call: its ids, and the parent its sampling decision is made under.

use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use tracewire_propagation::traceparent::{FLAG_RANDOM, TraceParent};

use crate::context::Incoming;
use crate::sampling::{Decider, Decision};
use crate::trust::TrustPolicy;

/// The ids a call starts with and the parent its sampling decision is made under. The trace
/// id (the parent's, or a fresh random one) and the span id drawn here are the ones the call's
/// span gets, sampled or not.
///
/// ```
/// use tracewire_core::Head;
/// use tracewire_core::sampling::Decider;
///
/// let head = Head::new(None, false);
/// assert!(head.is_root());
/// // A root reaches the parent-based sampler's root sampler; unsampled, it would send the
/// // random flag.
/// assert_eq!(head.quick(&Decider::default()), None);
/// assert!(head.unsampled().unwrap().is_random());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Head {
    /// The caller's (or the current) span, when valid.
    pub parent: Option<TraceParent>,
    /// The parent the sampler sees: none for a root decision.
    pub decision_parent: Option<TraceParent>,
    /// The call's trace id: the parent's, or a fresh one.
    pub trace_id: TraceId,
    /// The call's own span id, drawn once.
    span_id: SpanId,
    /// The caller denied sampling without sending ids, and is trusted.
    denied: bool,
}

impl Head {
    /// A call under `parent`; with `decide_as_root` the sampler ignores the parent (the
    /// [`TrustPolicy::OwnSampling`] policy).
    #[inline]
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
            span_id: ids.span_id(),
            denied: false,
        }
    }

    /// An incoming call under `trust`. A trusted caller's B3 "deny" without ids (`b3: 0`)
    /// makes the call unsampled.
    #[inline]
    pub fn incoming(incoming: &Incoming, trust: TrustPolicy) -> Self {
        let parent = incoming.parent();
        let mut head = Self::new(parent, trust == TrustPolicy::OwnSampling);
        head.denied = trust == TrustPolicy::Trust && parent.is_none() && incoming.is_denied();
        head
    }

    /// A call under the span of `cx` (a client call under the current context).
    #[inline]
    pub fn current(cx: &Context) -> Self {
        Self::new(
            TraceParent::from_span_context(cx.span().span_context()),
            false,
        )
    }

    /// Whether the call starts a trace.
    #[inline]
    pub fn is_root(&self) -> bool {
        self.parent.is_none()
    }

    /// The call's own span id.
    #[inline]
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The sampler's answer when it needs nothing of the call.
    #[inline]
    pub fn quick(&self, sampler: &Decider) -> Option<bool> {
        if self.denied {
            return Some(false);
        }
        sampler.quick(self.decision_parent.as_ref())
    }

    /// Asks the sampler, with the call's name and start attributes.
    #[inline]
    pub fn decide(
        &self,
        sampler: &Decider,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
    ) -> Decision {
        if self.denied {
            return Decider::plain(false);
        }
        let parent_cx = self
            .decision_parent
            .map(|p| Context::new().with_remote_span_context(p.to_span_context(TraceState::NONE)));
        sampler.decide(parent_cx.as_ref(), self.trace_id, name, kind, attributes)
    }

    /// The span of an unsampled call: our own span id in the trace, the random flag kept (or
    /// set, for a trace we start).
    #[inline]
    pub fn unsampled(&self) -> Option<TraceParent> {
        let flags = match self.parent {
            Some(p) => p.flags().to_u8() & FLAG_RANDOM,
            None => FLAG_RANDOM,
        };
        TraceParent::new(self.trace_id, self.span_id, TraceFlags::new(flags))
    }
}
