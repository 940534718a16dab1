//! Handing the OpenTelemetry SDK the ids and the decision the core made.
//!
//! The core decides sampling before any span exists, on a trace id it draws, and the span it
//! then makes must get that very trace id and span id: otherwise the SDK draws its own and
//! runs the provider's sampler again, so a ratio sampler on both keeps a quarter of new traces
//! instead of half, and services no longer agree on a trace. opentelemetry_sdk 0.33 takes ids
//! only from the provider's [`IdGenerator`] and a decision only from its sampler, so a tracer
//! provider used with the layers is built with both pieces below (the set-up crate does it):
//!
//! ```
//! use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
//! use tracewire_core::provider::{CallIdGenerator, LayerSampler};
//!
//! let provider = SdkTracerProvider::builder()
//!     .with_id_generator(CallIdGenerator::new())
//!     // Spans the layers make keep the layer's decision; other spans (a handler's own
//!     // `tracing` spans, say) are decided by the sampler inside.
//!     .with_sampler(LayerSampler::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))))
//!     .build();
//! # let _ = provider;
//! ```
//!
//! Without [`CallIdGenerator`] the layers still work, with the SDK's ids; they say so once, at
//! WARN on the target `tracewire::provider`.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::{Link, SpanId, SpanKind, TraceContextExt, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, SamplingDecision, SamplingResult, ShouldSample,
};

thread_local! {
    /// The ids of the span the core is making on this thread, until the SDK takes them.
    static IDS: Cell<(Option<TraceId>, Option<SpanId>)> = const { Cell::new((None, None)) };
    /// The decision for it: sampled, with the tracestate the layer's sampler asked for.
    static DECIDED: RefCell<Option<Option<TraceState>>> = const { RefCell::new(None) };
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// Clears the preset when the span has been made (or the maker panicked).
struct Preset;

impl Drop for Preset {
    fn drop(&mut self) {
        IDS.set((None, None));
        DECIDED.with_borrow_mut(Option::take);
    }
}

/// Runs `make` (which builds one SDK span) with `trace_id`, `span_id` and a "sampled"
/// decision handed to the provider's [`CallIdGenerator`] and [`LayerSampler`].
#[inline]
pub(crate) fn with_preset<T>(
    trace_id: TraceId,
    span_id: SpanId,
    trace_state: Option<TraceState>,
    make: impl FnOnce() -> T,
) -> T {
    IDS.set((Some(trace_id), Some(span_id)));
    DECIDED.with_borrow_mut(|d| *d = Some(trace_state));
    let _preset = Preset;
    make()
}

/// Says once that a span made with preset ids got other ids: its provider has no
/// [`CallIdGenerator`].
#[inline]
pub(crate) fn check_ids(made: SpanId, preset: SpanId) {
    if made != preset
        && made != SpanId::INVALID
        && !WARNED.load(Ordering::Relaxed)
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(
            target: "tracewire::provider",
            "the tracer provider draws its own ids: build it with \
             tracewire_core::provider::CallIdGenerator so that spans get the ids their \
             sampling decision was made on"
        );
    }
}

/// An [`IdGenerator`] that gives the span a layer is making the ids the layer decided on, and
/// draws every other id with `G` (the SDK's random generator by default).
#[derive(Debug, Default)]
pub struct CallIdGenerator<G = RandomIdGenerator> {
    inner: G,
}

impl CallIdGenerator {
    /// Draws the ids of other spans with the SDK's random generator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<G: IdGenerator> CallIdGenerator<G> {
    /// Draws the ids of other spans with `inner`.
    pub fn wrapping(inner: G) -> Self {
        Self { inner }
    }
}

impl<G: IdGenerator> IdGenerator for CallIdGenerator<G> {
    fn new_trace_id(&self) -> TraceId {
        let (trace, span) = IDS.get();
        match trace {
            Some(id) => {
                IDS.set((None, span));
                id
            }
            None => self.inner.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> SpanId {
        let (trace, span) = IDS.get();
        match span {
            Some(id) => {
                IDS.set((trace, None));
                id
            }
            None => self.inner.new_span_id(),
        }
    }
}

/// A sampler for the tracer provider: a span a layer is making keeps the layer's decision
/// (made once, before the span), and every other span is decided by `inner`.
///
/// ```
/// use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
/// use tracewire_core::provider::{CallIdGenerator, LayerSampler};
///
/// let provider = SdkTracerProvider::builder()
///     .with_id_generator(CallIdGenerator::new())
///     .with_sampler(LayerSampler::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))))
///     .build();
/// # let _ = provider;
/// ```
#[derive(Debug)]
pub struct LayerSampler {
    inner: Box<dyn ShouldSample>,
}

impl LayerSampler {
    /// Decides the spans the layers do not make with `inner`.
    pub fn new(inner: impl ShouldSample + 'static) -> Self {
        Self {
            inner: Box::new(inner),
        }
    }

    /// Like [`new`](Self::new), for a sampler already boxed.
    pub fn from_boxed(inner: Box<dyn ShouldSample>) -> Self {
        Self { inner }
    }
}

impl Clone for LayerSampler {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.box_clone(),
        }
    }
}

impl ShouldSample for LayerSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        match DECIDED.with_borrow_mut(Option::take) {
            Some(trace_state) => SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                // The layer adds its sampler's attributes itself.
                attributes: Vec::new(),
                trace_state: trace_state.unwrap_or_else(|| match parent_context {
                    Some(cx) if cx.has_active_span() => {
                        cx.span().span_context().trace_state().clone()
                    }
                    _ => TraceState::NONE,
                }),
            },
            None => self.inner.should_sample(
                parent_context,
                trace_id,
                name,
                span_kind,
                attributes,
                links,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

    #[test]
    fn the_sdk_gets_the_preset_ids_and_decision() {
        let provider = SdkTracerProvider::builder()
            .with_id_generator(CallIdGenerator::new())
            .with_sampler(LayerSampler::new(Sampler::AlwaysOff))
            .build();
        let tracer = provider.tracer("t");
        let trace_id = TraceId::from_bytes([3; 16]);
        let span_id = SpanId::from_bytes([4; 8]);
        let span = with_preset(trace_id, span_id, None, || tracer.start("preset"));
        let sc = span.span_context();
        assert_eq!(sc.trace_id(), trace_id);
        assert_eq!(sc.span_id(), span_id);
        assert!(sc.is_sampled(), "the layer's decision holds over AlwaysOff");
        // The next span is the provider's own again.
        let other = tracer.start("other");
        assert_ne!(other.span_context().span_id(), span_id);
        assert!(!other.span_context().is_sampled());
    }
}
