//! Sampling before the span: the core calls the sampler itself, and skips the span (and its
//! cost) when it says no.

use std::any::Any;
use std::fmt;

use opentelemetry::trace::{SpanKind, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};
use tracewire_propagation::traceparent::TraceParent;

/// What the SDK's own samplers need, so that the common cases decide without building
/// attributes or a parent context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    AlwaysOn,
    AlwaysOff,
    /// `Sampler::ParentBased`: a parent's flag decides; only roots reach the inner sampler.
    ParentBased,
    /// `Sampler::TraceIdRatioBased`: the trace id decides.
    Ratio,
    /// Anything else sees everything.
    Other,
}

/// A sampler, and how much of the request it needs to decide.
///
/// ```
/// use opentelemetry_sdk::trace::Sampler;
/// use tracewire_core::sampling::Decider;
///
/// let decider = Decider::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
/// // A parent's flag decides; a root reaches the inner sampler.
/// assert_eq!(decider.quick(None), None);
/// // A ratio sampler needs only the trace id, not the request's attributes.
/// assert!(!Decider::new(Sampler::TraceIdRatioBased(0.1)).needs_request());
/// ```
pub struct Decider {
    kind: Kind,
    sampler: Box<dyn ShouldSample>,
}

/// A decision with what the sampler asked to add.
#[derive(Debug)]
pub struct Decision {
    /// Whether the call gets a span.
    pub sampled: bool,
    /// Attributes the sampler adds to the span.
    pub attributes: Vec<KeyValue>,
    /// The tracestate the sampler asks for, when it changed it.
    pub trace_state: Option<TraceState>,
}

impl Decision {
    fn plain(sampled: bool) -> Self {
        Self {
            sampled,
            attributes: Vec::new(),
            trace_state: None,
        }
    }
}

impl Default for Decider {
    /// `ParentBased(AlwaysOn)`, the SDK's default.
    fn default() -> Self {
        Self::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
    }
}

impl Decider {
    /// Wraps `sampler`, recognising the SDK's own samplers.
    pub fn new<S: ShouldSample + 'static>(sampler: S) -> Self {
        let kind = match (&sampler as &dyn Any).downcast_ref::<Sampler>() {
            Some(Sampler::AlwaysOn) => Kind::AlwaysOn,
            Some(Sampler::AlwaysOff) => Kind::AlwaysOff,
            Some(Sampler::ParentBased(_)) => Kind::ParentBased,
            Some(Sampler::TraceIdRatioBased(_)) => Kind::Ratio,
            _ => Kind::Other,
        };
        Self {
            kind,
            sampler: Box::new(sampler),
        }
    }

    /// Decides without the request when the sampler does not need it.
    #[inline]
    pub fn quick(&self, parent: Option<&TraceParent>) -> Option<bool> {
        match (self.kind, parent) {
            (Kind::AlwaysOn, _) => Some(true),
            (Kind::AlwaysOff, _) => Some(false),
            (Kind::ParentBased, Some(p)) => Some(p.is_sampled()),
            _ => None,
        }
    }

    /// Whether [`decide`](Self::decide) will look at the name and attributes.
    #[inline]
    pub fn needs_request(&self) -> bool {
        self.kind != Kind::Ratio
    }

    /// Asks the sampler. `parent` is the context to decide under (`None` for a root
    /// decision); `name` and `attributes` are only read when [`needs_request`](Self::needs_request).
    #[inline]
    pub fn decide(
        &self,
        parent: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
    ) -> Decision {
        let result = self
            .sampler
            .should_sample(parent, trace_id, name, kind, attributes, &[]);
        Decision {
            sampled: !matches!(result.decision, SamplingDecision::Drop),
            attributes: result.attributes,
            trace_state: (result.trace_state != TraceState::NONE).then_some(result.trace_state),
        }
    }

    /// A decision without attributes or tracestate.
    #[inline]
    pub fn plain(sampled: bool) -> Decision {
        Decision::plain(sampled)
    }
}

impl Clone for Decider {
    fn clone(&self) -> Self {
        Self {
            kind: self.kind,
            sampler: self.sampler.box_clone(),
        }
    }
}

impl fmt::Debug for Decider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.sampler.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceFlags};

    fn parent(sampled: bool) -> TraceParent {
        TraceParent::new(
            TraceId::from_bytes([1; 16]),
            SpanId::from_bytes([2; 8]),
            TraceFlags::new(u8::from(sampled)),
        )
        .unwrap()
    }

    #[test]
    fn builtin_samplers_decide_without_the_request() {
        let pb = Decider::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)));
        assert_eq!(pb.quick(Some(&parent(true))), Some(true));
        assert_eq!(pb.quick(Some(&parent(false))), Some(false));
        assert_eq!(pb.quick(None), None, "roots reach the inner sampler");
        assert!(
            !pb.decide(
                None,
                TraceId::from_bytes([1; 16]),
                "x",
                &SpanKind::Server,
                &[]
            )
            .sampled
        );
        assert_eq!(Decider::new(Sampler::AlwaysOn).quick(None), Some(true));
        assert_eq!(
            Decider::new(Sampler::AlwaysOff).quick(Some(&parent(true))),
            Some(false)
        );
        let ratio = Decider::new(Sampler::TraceIdRatioBased(0.5));
        assert_eq!(ratio.quick(None), None);
        assert!(!ratio.needs_request());
    }

    #[test]
    fn the_quick_answers_match_the_sdk() {
        // The same decisions the SDK's sampler gives, for every parent state.
        let sdk = Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
        let ours = Decider::new(sdk.clone());
        for sampled in [true, false] {
            let p = parent(sampled);
            let cx = Context::new().with_remote_span_context(p.to_span_context(TraceState::NONE));
            use opentelemetry::trace::TraceContextExt;
            let theirs =
                sdk.should_sample(Some(&cx), p.trace_id(), "x", &SpanKind::Server, &[], &[]);
            assert_eq!(
                ours.quick(Some(&p)),
                Some(!matches!(theirs.decision, SamplingDecision::Drop))
            );
        }
    }
}
