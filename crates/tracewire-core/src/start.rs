//! The start of a call, written once for every side and protocol: trust, ids, the sampling
//! decision, and either a cheap unsampled context or the span, bridged or direct, made with
//! the very ids the decision was made on.

use std::borrow::Cow;

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceState, Tracer};
use opentelemetry::{Context, KeyValue};
use tracewire_propagation::mark_random_trace_id;
use tracewire_propagation::traceparent::TraceParent;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::context::{Incoming, PropagatorChoice};
use crate::head::Head;
use crate::mode::Spans;
use crate::options::SpanOptions;
use crate::provider::{check_ids, with_preset};
use crate::sampling::{Decider, Decision};
use crate::span::SampledSpan;
use crate::trust::TrustPolicy;

/// What a protocol adapter tells the core about a call. The core asks for it only when the
/// sampler needs the call or the call is sampled, and at most once.
///
/// ```
/// use std::borrow::Cow;
/// use opentelemetry::KeyValue;
/// use tracewire_core::CallFacts;
///
/// /// A message-queue consumer's call: one topic.
/// struct Consume<'a>(&'a str);
///
/// impl CallFacts for Consume<'_> {
///     fn sampling_name(&self) -> Cow<'_, str> {
///         Cow::Owned(format!("consume {}", self.0))
///     }
///     fn sampling_attributes(&self) -> Vec<KeyValue> {
///         vec![KeyValue::new("messaging.destination.name", self.0.to_owned())]
///     }
///     fn tracing_span(&mut self) -> tracing::Span {
///         tracing::info_span!("consume", otel.name = %self.sampling_name(), otel.kind = "consumer")
///     }
///     fn direct_span(&mut self) -> (Cow<'static, str>, Vec<KeyValue>) {
///         (Cow::Owned(self.sampling_name().into_owned()), self.sampling_attributes())
///     }
/// }
/// ```
pub trait CallFacts {
    /// The span name, as the sampler sees it.
    fn sampling_name(&self) -> Cow<'_, str>;
    /// The attributes known at the start that the sampler sees.
    fn sampling_attributes(&self) -> Vec<KeyValue>;
    /// The bridged `tracing` span of a sampled call, made without a parent (the core sets it)
    /// and declaring every field the adapter records later.
    fn tracing_span(&mut self) -> tracing::Span;
    /// The name and start attributes of a span made directly with a tracer.
    fn direct_span(&mut self) -> (Cow<'static, str>, Vec<KeyValue>);
}

/// How an incoming call (a server's) starts.
#[derive(Debug)]
pub enum Inbound {
    /// No span: the call was filtered out, or the subscriber filtered the bridged span out.
    /// The caller's context still flows to the calls the handler makes.
    Untraced(Context),
    /// Not sampled: `cx` has our own span id (`own`) in the caller's trace, unsampled, with
    /// the caller's tracestate and baggage.
    Unsampled {
        /// The call's context, for the handler.
        cx: Context,
        /// The call's own span, for a response header.
        own: Option<TraceParent>,
    },
    /// Sampled: the call's span.
    Sampled {
        /// The span.
        span: SampledSpan,
        /// The context whose span it is, for the handler.
        cx: Context,
        /// The span's ids and flags, for a response header.
        own: Option<TraceParent>,
    },
}

/// How an outgoing call (a client's) starts.
#[derive(Debug)]
pub enum Outbound {
    /// No span (filtered out, or the bridged span filtered by the subscriber): the parent
    /// context is sent as it is.
    Untraced(Context),
    /// Not sampled: the call sends its own span id `own` under the parent context.
    Unsampled {
        /// The current context the call was made under.
        parent: Context,
        /// The call's own span.
        own: Option<TraceParent>,
    },
    /// Sampled: the call's span, whose context `cx` is sent.
    Sampled {
        /// The span.
        span: SampledSpan,
        /// The context whose span it is.
        cx: Context,
    },
}

impl Outbound {
    /// Writes the call's context into `headers` with `propagator`; baggage only when
    /// `baggage`.
    #[inline]
    pub fn inject(
        &self,
        propagator: &PropagatorChoice,
        headers: &mut http::HeaderMap,
        baggage: bool,
    ) {
        match self {
            Self::Untraced(cx)
            | Self::Unsampled {
                parent: cx,
                own: None,
            } => propagator.inject(cx, headers, baggage),
            Self::Unsampled {
                parent,
                own: Some(own),
            } => propagator.inject_child(parent, *own, headers, baggage),
            Self::Sampled { cx, .. } => propagator.inject(cx, headers, baggage),
        }
    }

    /// The span, when the call is sampled.
    #[inline]
    pub fn into_span(self) -> Option<SampledSpan> {
        match self {
            Self::Sampled { span, .. } => Some(span),
            _ => None,
        }
    }
}

/// The facts of a call, made at most once.
struct Lazy<F, M> {
    make: Option<M>,
    made: Option<F>,
}

impl<F, M: FnOnce() -> F> Lazy<F, M> {
    fn new(make: M) -> Self {
        Self {
            make: Some(make),
            made: None,
        }
    }

    fn get(&mut self) -> &mut F {
        if self.made.is_none() {
            let make = self.make.take().expect("made once");
            self.made = Some(make());
        }
        self.made.as_mut().expect("just made")
    }
}

impl SpanOptions {
    /// Starts an incoming call: extracts the caller's context from `headers` under `trust`,
    /// decides sampling before any span, and returns the unsampled context or the span. A
    /// call that is not `traced` (a filter said no) keeps the caller's context.
    #[inline]
    pub fn start_incoming<F: CallFacts>(
        &self,
        kind: SpanKind,
        trust: TrustPolicy,
        headers: &http::HeaderMap,
        traced: bool,
        facts: impl FnOnce() -> F,
    ) -> Inbound {
        let (mut incoming, link) = self
            .propagator
            .extract(headers, traced && trust == TrustPolicy::NewRoot);
        if !traced {
            return Inbound::Untraced(incoming.into_context());
        }
        let head = Head::incoming(&incoming, trust);
        let quick = head.quick(&self.sampler);
        if quick == Some(false) && trust != TrustPolicy::OwnSampling {
            // The common unsampled case: nothing of the call is needed.
            return unsampled_inbound(incoming, &head, None);
        }
        let mut facts = Lazy::new(facts);
        let decision = match quick {
            Some(sampled) => Decider::plain(sampled),
            None if self.sampler.needs_request() => {
                let facts = facts.get();
                head.decide(
                    &self.sampler,
                    &facts.sampling_name(),
                    &kind,
                    &facts.sampling_attributes(),
                )
            }
            None => head.decide(&self.sampler, "", &kind, &[]),
        };
        if trust == TrustPolicy::OwnSampling {
            // Our decision replaces the caller's flag, so a parent-based sampler on the tracer
            // provider agrees with it.
            incoming.set_parent_sampled(decision.sampled);
        }
        if !decision.sampled {
            return unsampled_inbound(incoming, &head, decision.trace_state);
        }
        let parent_cx = incoming.into_context();
        match self.make_span(kind, &head, parent_cx, decision, link, facts.get()) {
            Ok((span, cx, own)) => Inbound::Sampled { span, cx, own },
            Err(parent_cx) => Inbound::Untraced(parent_cx),
        }
    }

    /// Starts an outgoing call under `parent` (the current context): decides sampling before
    /// any span and returns the call's span or the span id it sends unsampled. A call that is
    /// not `traced` sends the parent context as it is.
    #[inline]
    pub fn start_outgoing<F: CallFacts>(
        &self,
        kind: SpanKind,
        parent: Context,
        traced: bool,
        facts: impl FnOnce() -> F,
    ) -> Outbound {
        if !traced {
            return Outbound::Untraced(parent);
        }
        let head = Head::current(&parent);
        let mut facts = Lazy::new(facts);
        let decision = match head.quick(&self.sampler) {
            Some(sampled) => Decider::plain(sampled),
            None => {
                let facts = facts.get();
                self.sampler.decide(
                    head.parent.is_some().then_some(&parent),
                    head.trace_id,
                    &facts.sampling_name(),
                    &kind,
                    &facts.sampling_attributes(),
                )
            }
        };
        if !decision.sampled {
            return Outbound::Unsampled {
                parent,
                own: head.unsampled(),
            };
        }
        match self.make_span(kind, &head, parent, decision, None, facts.get()) {
            Ok((span, cx, _)) => Outbound::Sampled { span, cx },
            Err(parent) => Outbound::Untraced(parent),
        }
    }

    /// Makes the span of a sampled call under `parent_cx`, with the head's trace id and span
    /// id; `Err(parent_cx)` when the subscriber filtered a bridged span out.
    fn make_span<F: CallFacts>(
        &self,
        kind: SpanKind,
        head: &Head,
        parent_cx: Context,
        decision: Decision,
        link: Option<TraceParent>,
        facts: &mut F,
    ) -> Result<(SampledSpan, Context, Option<TraceParent>), Context> {
        let root = head.is_root();
        // The SDK keeps only the sampled flag on the spans it makes; the mark lets the
        // propagators send the random-trace-id flag for a trace we started.
        let parent_cx = if root {
            mark_random_trace_id(&parent_cx, head.trace_id)
        } else {
            parent_cx
        };
        let Decision {
            attributes,
            trace_state,
            ..
        } = decision;
        let span = match &self.spans {
            Spans::Tracing => {
                let span = facts.tracing_span();
                let cx = with_preset(head.trace_id, head.span_id(), trace_state, || {
                    let _ = span.set_parent(parent_cx.clone());
                    span.context()
                });
                if !cx.span().span_context().is_valid() {
                    // No span (its level, a per-layer filter): the context still flows on.
                    return Err(parent_cx);
                }
                if let Some(link) = link {
                    span.add_link(link.to_span_context(TraceState::NONE));
                }
                for kv in attributes {
                    span.set_attribute(kv.key, kv.value);
                }
                (SampledSpan::Tracing(span), cx)
            }
            Spans::Direct(tracer) => {
                let (name, mut start_attributes) = facts.direct_span();
                start_attributes.extend(attributes);
                let mut builder = tracer
                    .span_builder(name)
                    .with_kind(kind)
                    .with_attributes(start_attributes);
                if let Some(link) = link {
                    builder = builder.with_links(vec![Link::with_context(
                        link.to_span_context(TraceState::NONE),
                    )]);
                }
                let span = with_preset(head.trace_id, head.span_id(), trace_state, || {
                    tracer.build_with_context(builder, &parent_cx)
                });
                let cx = parent_cx.with_span(span);
                (SampledSpan::Direct(cx.clone()), cx)
            }
        };
        let (span, cx) = span;
        let own = {
            let otel_span = cx.span();
            let sc = otel_span.span_context();
            check_ids(sc.span_id(), head.span_id());
            TraceParent::from_span_context(sc).map(|own| {
                if root && own.trace_id() == head.trace_id {
                    own.with_random(true)
                } else {
                    own
                }
            })
        };
        Ok((span, cx, own))
    }
}

/// The unsampled path: no span, one context with our own span id.
#[inline]
fn unsampled_inbound(incoming: Incoming, head: &Head, trace_state: Option<TraceState>) -> Inbound {
    let own = head.unsampled();
    let cx = match own {
        Some(own) => incoming.into_child_context(own, trace_state),
        None => incoming.into_context(),
    };
    Inbound::Unsampled { cx, own }
}
