//! Keeping errors and slow requests: a tail decision inside one process.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanKind, Status, TraceContextExt, TraceId,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    SamplingDecision, SamplingResult, ShouldSample, Span, SpanData, SpanProcessor,
};

type Predicate = Arc<dyn Fn(&SpanData) -> bool + Send + Sync>;

/// Keeps the traces a head sampler did not pick when they turn out to matter: an error, a slow
/// request, or whatever a predicate says (a debug user, a VIP tenant).
///
/// It has two halves that share one buffer: [`sampler`](Self::sampler) wraps the head sampler
/// so that spans it drops are still *recorded* (not sampled) within a local trace, and
/// [`processor`](Self::processor) wraps the span processor that exports. Recorded spans are
/// buffered per trace; when the trace's local root span ends, the buffered trace is exported
/// (marked sampled) if any of its spans is an error, if the root lasted at least the
/// threshold, or if the predicate holds for any span; otherwise it is dropped. Spans of a kept
/// trace that end later are exported too.
///
/// Memory is bounded: at most [`max_traces`](Self::max_traces) traces are buffered (the
/// oldest is dropped first) and at most [`max_spans_per_trace`](Self::max_spans_per_trace)
/// spans per trace (the oldest dropped first); [`stats`](Self::stats) counts what was dropped.
///
/// **The limit, honestly**: this decides inside one process. Services downstream of a kept
/// trace made their own head decision when the call passed through them (the propagated flag
/// said "not sampled"), so a kept trace holds this service's spans only, unless those services
/// keep their errors too. Recording every unsampled span also costs more than dropping it:
/// cheaper than exporting every span, dearer than head sampling alone (see the benchmark).
///
/// ```
/// use std::time::Duration;
/// use opentelemetry_sdk::trace::{BatchSpanProcessor, InMemorySpanExporter, Sampler, SdkTracerProvider};
/// use tracewire_sampling::KeepErrorsAndSlow;
///
/// let keep = KeepErrorsAndSlow::new()
///     .slower_than(Duration::from_millis(500))
///     .keep_if(|span| span.attributes.iter().any(|kv| kv.key.as_str() == "user.debug"));
/// let exporter = InMemorySpanExporter::default(); // an OTLP exporter in a service
/// let provider = SdkTracerProvider::builder()
///     .with_sampler(keep.sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.01)))))
///     .with_span_processor(keep.processor(BatchSpanProcessor::builder(exporter).build()))
///     .build();
/// # let _ = provider;
/// ```
///
/// With tracewire's layers, give the layers the same sampler as the tracer provider
/// (`.sampler(keep.sampler(head))`): the layers decide before making a span, and must make
/// the spans of a buffered trace too.
#[derive(Clone)]
pub struct KeepErrorsAndSlow {
    shared: Arc<Shared>,
}

struct Shared {
    slower_than: Option<Duration>,
    predicate: Option<Predicate>,
    max_traces: usize,
    max_spans: usize,
    buffer: Mutex<Buffer>,
    stats: Counters,
}

#[derive(Default)]
struct Counters {
    kept: AtomicU64,
    discarded: AtomicU64,
    dropped_traces: AtomicU64,
    dropped_spans: AtomicU64,
}

/// A trace being buffered.
#[derive(Default)]
struct Pending {
    spans: VecDeque<SpanData>,
    /// Local roots started and not yet ended (more than one when a trace passes through this
    /// process twice): the trace is decided when the last one ends.
    open_roots: u32,
}

/// What the buffer holds.
#[derive(Default)]
struct Buffer {
    traces: HashMap<TraceId, Pending>,
    /// Buffered traces, oldest first; ids of traces decided since are skipped when met (and
    /// swept out when the queue has grown to twice the cap).
    order: VecDeque<TraceId>,
    /// Traces decided recently (kept = true), for spans that end after their root.
    decided: HashMap<TraceId, bool>,
    decided_order: VecDeque<TraceId>,
}

/// What the tail buffer did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TailStats {
    /// Traces buffered now.
    pub buffered_traces: usize,
    /// Traces exported because they mattered.
    pub kept_traces: u64,
    /// Traces dropped at their root's end because nothing mattered.
    pub discarded_traces: u64,
    /// Traces dropped unfinished because the buffer was full (oldest first).
    pub dropped_traces: u64,
    /// Spans dropped because their trace had too many (oldest first).
    pub dropped_spans: u64,
}

impl Default for KeepErrorsAndSlow {
    fn default() -> Self {
        Self::new()
    }
}

impl KeepErrorsAndSlow {
    /// Keeps traces with an error; at most 1024 traces of at most 256 spans buffered.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                slower_than: None,
                predicate: None,
                max_traces: 1024,
                max_spans: 256,
                buffer: Mutex::default(),
                stats: Counters::default(),
            }),
        }
    }

    fn shared_mut(&mut self) -> &mut Shared {
        if Arc::get_mut(&mut self.shared).is_none() {
            self.shared = Arc::new(Shared {
                slower_than: self.shared.slower_than,
                predicate: self.shared.predicate.clone(),
                max_traces: self.shared.max_traces,
                max_spans: self.shared.max_spans,
                buffer: Mutex::default(),
                stats: Counters::default(),
            });
        }
        Arc::get_mut(&mut self.shared).unwrap_or_else(|| unreachable!("just made unique"))
    }

    /// Also keeps traces whose local root lasted at least `threshold`.
    #[must_use]
    pub fn slower_than(mut self, threshold: Duration) -> Self {
        self.shared_mut().slower_than = Some(threshold);
        self
    }

    /// Also keeps traces with a span for which `predicate` holds.
    #[must_use]
    pub fn keep_if(
        mut self,
        predicate: impl Fn(&SpanData) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.shared_mut().predicate = Some(Arc::new(predicate));
        self
    }

    /// At most this many traces buffered at once (default 1024).
    #[must_use]
    pub fn max_traces(mut self, n: usize) -> Self {
        self.shared_mut().max_traces = n.max(1);
        self
    }

    /// At most this many spans buffered per trace (default 256).
    #[must_use]
    pub fn max_spans_per_trace(mut self, n: usize) -> Self {
        self.shared_mut().max_spans = n.max(1);
        self
    }

    /// Wraps the head sampler: what it drops in a local trace is recorded (not sampled) for
    /// the buffer instead.
    pub fn sampler<S: ShouldSample + Clone + 'static>(&self, head: S) -> TailSampler<S> {
        TailSampler {
            head,
            shared: self.shared.clone(),
        }
    }

    /// Wraps the processor that exports: sampled spans go straight through, recorded ones are
    /// buffered until their trace is decided.
    pub fn processor<P: SpanProcessor>(&self, inner: P) -> TailProcessor<P> {
        TailProcessor {
            inner,
            shared: self.shared.clone(),
        }
    }

    /// What the buffer did so far.
    pub fn stats(&self) -> TailStats {
        let s = &self.shared.stats;
        TailStats {
            buffered_traces: self.shared.buffer.lock().map_or(0, |b| b.traces.len()),
            kept_traces: s.kept.load(Ordering::Relaxed),
            discarded_traces: s.discarded.load(Ordering::Relaxed),
            dropped_traces: s.dropped_traces.load(Ordering::Relaxed),
            dropped_spans: s.dropped_spans.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for KeepErrorsAndSlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeepErrorsAndSlow")
            .field("slower_than", &self.shared.slower_than)
            .field("predicate", &self.shared.predicate.is_some())
            .field("max_traces", &self.shared.max_traces)
            .field("max_spans_per_trace", &self.shared.max_spans)
            .finish()
    }
}

/// The head sampler, with drops in local traces turned into "record only": see
/// [`KeepErrorsAndSlow`].
#[derive(Clone)]
pub struct TailSampler<S> {
    head: S,
    shared: Arc<Shared>,
}

impl<S: ShouldSample + Clone + 'static> ShouldSample for TailSampler<S> {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let mut result =
            self.head
                .should_sample(parent_context, trace_id, name, span_kind, attributes, links);
        if matches!(result.decision, SamplingDecision::Drop) {
            let local_parent = parent_context
                .map(|cx| cx.span().span_context().clone())
                .filter(|sc| sc.is_valid() && !sc.is_remote());
            let record = match local_parent {
                // A local root: recorded, decided when it ends.
                None => true,
                // Inside a local trace that is being buffered.
                Some(parent) => self
                    .shared
                    .buffer
                    .lock()
                    .is_ok_and(|b| b.traces.contains_key(&parent.trace_id())),
            };
            if record {
                result.decision = SamplingDecision::RecordOnly;
            }
        }
        result
    }
}

impl<S: fmt::Debug> fmt::Debug for TailSampler<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TailSampler")
            .field("head", &self.head)
            .finish()
    }
}

/// The exporting processor, with a buffer for recorded spans in front: see
/// [`KeepErrorsAndSlow`].
pub struct TailProcessor<P> {
    inner: P,
    shared: Arc<Shared>,
}

impl<P: fmt::Debug> fmt::Debug for TailProcessor<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TailProcessor")
            .field("inner", &self.inner)
            .finish()
    }
}

/// At most this many decided trace ids are remembered for late spans.
const DECIDED: usize = 4096;

impl Shared {
    /// Whether a finished trace is kept.
    fn matters(&self, root: &SpanData, spans: &VecDeque<SpanData>) -> bool {
        let slow = self.slower_than.is_some_and(|threshold| {
            root.end_time
                .duration_since(root.start_time)
                .is_ok_and(|d| d >= threshold)
        });
        slow || spans.iter().any(|s| {
            matches!(s.status, Status::Error { .. })
                || self.predicate.as_ref().is_some_and(|p| p(s))
        })
    }

    fn remember(buffer: &mut Buffer, trace_id: TraceId, kept: bool) {
        if buffer.decided.insert(trace_id, kept).is_none() {
            buffer.decided_order.push_back(trace_id);
            if buffer.decided_order.len() > DECIDED
                && let Some(old) = buffer.decided_order.pop_front()
            {
                buffer.decided.remove(&old);
            }
        }
    }
}

/// The span as exported: marked sampled.
fn sampled(mut span: SpanData) -> SpanData {
    let sc = &span.span_context;
    span.span_context = SpanContext::new(
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().with_sampled(true),
        sc.is_remote(),
        sc.trace_state().clone(),
    );
    span
}

impl<P: SpanProcessor> SpanProcessor for TailProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        let sc = span.span_context();
        if span.is_recording() && !sc.is_sampled() {
            let trace_id = sc.trace_id();
            let parent = cx.span();
            let parent = parent.span_context();
            let local_root = !parent.is_valid() || parent.is_remote();
            if local_root
                && let Ok(mut buffer) = self.shared.buffer.lock()
                && !buffer.decided.contains_key(&trace_id)
            {
                if !buffer.traces.contains_key(&trace_id) {
                    if buffer.traces.len() >= self.shared.max_traces {
                        // The oldest still buffered (`order` may hold ids already decided).
                        while let Some(oldest) = buffer.order.pop_front() {
                            if buffer.traces.remove(&oldest).is_some() {
                                self.shared
                                    .stats
                                    .dropped_traces
                                    .fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                    buffer.order.push_back(trace_id);
                    if buffer.order.len() > 2 * self.shared.max_traces {
                        // Forget the decided ones now and then, not on every decision.
                        let Buffer { order, traces, .. } = &mut *buffer;
                        order.retain(|t| traces.contains_key(t));
                    }
                }
                buffer.traces.entry(trace_id).or_default().open_roots += 1;
            }
        }
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.inner.on_end(span);
            return;
        }
        let trace_id = span.span_context.trace_id();
        let local_root = span.parent_span_id == opentelemetry::trace::SpanId::INVALID
            || span.parent_span_is_remote;
        let to_export = {
            let Ok(mut buffer) = self.shared.buffer.lock() else {
                return;
            };
            if let Some(&kept) = buffer.decided.get(&trace_id) {
                // A span that ended after its root: follows the trace's fate.
                kept.then(|| vec![span])
            } else if let Some(pending) = buffer.traces.get_mut(&trace_id) {
                if pending.spans.len() >= self.shared.max_spans {
                    pending.spans.pop_front();
                    self.shared
                        .stats
                        .dropped_spans
                        .fetch_add(1, Ordering::Relaxed);
                }
                pending.spans.push_back(span);
                if local_root {
                    pending.open_roots = pending.open_roots.saturating_sub(1);
                }
                if local_root && pending.open_roots == 0 {
                    let spans = buffer
                        .traces
                        .remove(&trace_id)
                        .map(|p| p.spans)
                        .unwrap_or_default();
                    let kept = spans
                        .back()
                        .is_some_and(|root| self.shared.matters(root, &spans));
                    Shared::remember(&mut buffer, trace_id, kept);
                    let counter = if kept {
                        &self.shared.stats.kept
                    } else {
                        &self.shared.stats.discarded
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    kept.then(|| spans.into_iter().collect())
                } else {
                    None
                }
            } else {
                // Its trace was dropped from a full buffer, or never buffered.
                None
            }
        };
        for span in to_export.into_iter().flatten() {
            self.inner.on_end(sampled(span));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
