//! The options every layer shares: how spans are made, what reads and writes the context, and
//! what decides sampling.

use opentelemetry_sdk::trace::ShouldSample;
use tracewire_propagation::Propagator;

use crate::context::PropagatorChoice;
use crate::mode::Spans;
use crate::sampling::Decider;

/// The shared part of a layer's configuration. The layers' builder methods (`propagator`,
/// `global_propagator`, `tracer_provider`, `sampler`) set it.
///
/// ```
/// use opentelemetry_sdk::trace::Sampler;
/// use tracewire_core::SpanOptions;
///
/// let mut options = SpanOptions::new();
/// options.set_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.1))));
/// ```
#[derive(Clone, Debug, Default)]
pub struct SpanOptions {
    /// How sampled calls get their span (default: bridged `tracing` spans).
    pub spans: Spans,
    /// What reads and writes the context (default: W3C trace context and baggage).
    pub propagator: PropagatorChoice,
    /// What decides sampling, before any span (default `ParentBased(AlwaysOn)`).
    pub sampler: Decider,
}

impl SpanOptions {
    /// Bridged spans, W3C trace context and baggage, `ParentBased(AlwaysOn)`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads and writes the context with `propagator`.
    pub fn set_propagator(&mut self, propagator: Propagator) {
        self.propagator = PropagatorChoice::Ours(propagator);
    }

    /// Uses the global opentelemetry propagator instead: an explicit choice.
    pub fn set_global_propagator(&mut self) {
        self.propagator = PropagatorChoice::Global;
    }

    /// Makes sampled calls' spans directly with `provider`'s tracer, under the
    /// instrumentation scope `scope` at `version`.
    pub fn set_tracer_provider<P>(
        &mut self,
        provider: &P,
        scope: &'static str,
        version: &'static str,
    ) where
        P: opentelemetry::trace::TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        self.spans = Spans::direct(provider, scope, version);
    }

    /// Decides sampling with `sampler`, before any span.
    pub fn set_sampler(&mut self, sampler: impl ShouldSample + 'static) {
        self.sampler = Decider::new(sampler);
    }
}
