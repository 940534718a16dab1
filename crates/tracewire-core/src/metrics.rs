//! Metrics beside the spans: a call's duration, the calls in flight and body sizes, recorded
//! for every call (sampled or not) at the same end as its span, by the layers' end of call.
//!
//! The instruments of a layer are made once, from the meter provider given to the layer or,
//! by default, from the global one when the first call is recorded (so a provider installed
//! after the layer was built is still used). Attributes are built per call from static
//! strings (method, scheme, route templates and hosts interned by the layer), so recording
//! allocates nothing for a call whose attribute set has been seen before.
//!
//! ```
//! use opentelemetry::KeyValue;
//! use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
//! use tracewire_core::metrics::{CallMetrics, InstrumentNames, MeterSource};
//!
//! let exporter = InMemoryMetricExporter::default();
//! let provider = SdkMeterProvider::builder()
//!     .with_reader(PeriodicReader::builder(exporter.clone()).build())
//!     .build();
//! let metrics = CallMetrics::new(
//!     MeterSource::provider(&provider, "my-consumer", "1.0.0"),
//!     InstrumentNames {
//!         duration: Some(("messaging.process.duration", "Duration of processing a message.")),
//!         ..InstrumentNames::default()
//!     },
//! );
//! let call = metrics.start(&[]).unwrap();
//! call.finish(&[KeyValue::new("messaging.system", "kafka")], None, None);
//! provider.force_flush().unwrap();
//! assert!(!exporter.get_finished_metrics().unwrap().is_empty());
//! ```

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use opentelemetry::metrics::{Histogram, Meter, MeterProvider, ObservableUpDownCounter};
use opentelemetry::{InstrumentationScope, KeyValue};

/// The bucket boundaries the HTTP and RPC conventions recommend for durations in seconds.
pub const DURATION_BUCKETS_S: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The same boundaries in milliseconds, for the older RPC conventions' `rpc.*.duration`.
pub const DURATION_BUCKETS_MS: [f64; 14] = [
    5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// Where a layer's meter comes from.
#[derive(Clone)]
pub enum MeterSource {
    /// The global meter provider (`opentelemetry::global::set_meter_provider`), read when the
    /// first call is recorded. While none is installed (the API's no-op provider), nothing is
    /// recorded and the global provider is looked at again every 1,024 calls.
    Global {
        /// The instrumentation scope's name (the layer's crate).
        name: &'static str,
        /// Its version.
        version: &'static str,
    },
    /// A meter from a provider given to the layer.
    Meter(Meter),
    /// No metrics.
    Off,
}

impl MeterSource {
    /// A meter of `provider` for the instrumentation scope `name`, `version`.
    pub fn provider<P: MeterProvider + ?Sized>(
        provider: &P,
        name: &'static str,
        version: &'static str,
    ) -> Self {
        Self::Meter(provider.meter_with_scope(scope(name, version)))
    }
}

impl fmt::Debug for MeterSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Global { name, .. } => write!(f, "Global({name})"),
            Self::Meter(_) => f.write_str("Meter"),
            Self::Off => f.write_str("Off"),
        }
    }
}

fn scope(name: &'static str, version: &'static str) -> InstrumentationScope {
    InstrumentationScope::builder(name)
        .with_version(version)
        .with_schema_url("https://opentelemetry.io/schemas/1.37.0")
        .build()
}

/// The instruments of one side and protocol: `(name, description)` of each, `None` for the
/// ones not recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstrumentNames {
    /// The call's duration in seconds (a histogram with [`DURATION_BUCKETS_S`]).
    pub duration: Option<(&'static str, &'static str)>,
    /// The call's duration in milliseconds ([`DURATION_BUCKETS_MS`]), for older conventions.
    pub duration_ms: Option<(&'static str, &'static str)>,
    /// The calls in flight (an up-down counter, `{request}`).
    pub active: Option<(&'static str, &'static str)>,
    /// The request body's size in bytes (a histogram, `By`).
    pub request_size: Option<(&'static str, &'static str)>,
    /// The response body's size in bytes (a histogram, `By`).
    pub response_size: Option<(&'static str, &'static str)>,
}

/// What a layer records per call: the instruments of [`InstrumentNames`], made once from a
/// [`MeterSource`]. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct CallMetrics(Option<Arc<Lazy>>);

struct Lazy {
    source: MeterSource,
    names: InstrumentNames,
    instruments: OnceLock<Instruments>,
    /// Calls since the global provider was last found to be the API's no-op.
    noop_calls: AtomicU32,
}

/// How many calls pass between two looks at a global meter provider that was the no-op.
const NOOP_RECHECK: u32 = 1024;

struct Instruments {
    duration: Option<Histogram<f64>>,
    duration_ms: Option<Histogram<f64>>,
    /// The calls in flight, counted per attribute set in our own atomics and read by the SDK
    /// when it collects (an observable up-down counter): a call costs an atomic add at each
    /// end instead of two attribute-set lookups in the SDK.
    active: Option<(Arc<ActiveSlots>, ObservableUpDownCounter<i64>)>,
    request_size: Option<Histogram<u64>>,
    response_size: Option<Histogram<u64>>,
}

/// The most attribute sets of calls in flight kept apart; the others share one slot with
/// `otel.metric.overflow=true`, as the SDK does past its cardinality limit.
const ACTIVE_SLOTS: usize = 512;

/// Counters of calls in flight, one per attribute set.
#[derive(Default)]
struct ActiveSlots {
    slots: RwLock<Vec<Arc<Slot>>>,
}

struct Slot {
    attributes: Vec<KeyValue>,
    count: AtomicI64,
}

impl ActiveSlots {
    /// The slot of `attributes`, made when first seen.
    #[inline]
    fn slot(&self, attributes: &[KeyValue]) -> Option<Arc<Slot>> {
        {
            let slots = self.slots.read().ok()?;
            if let Some(slot) = slots.iter().find(|s| s.attributes == attributes) {
                return Some(slot.clone());
            }
        }
        let mut slots = self.slots.write().ok()?;
        if let Some(slot) = slots.iter().find(|s| s.attributes == attributes) {
            return Some(slot.clone());
        }
        let attributes = if slots.len() < ACTIVE_SLOTS {
            attributes.to_vec()
        } else {
            let overflow = [KeyValue::new("otel.metric.overflow", true)];
            if let Some(slot) = slots.iter().find(|s| s.attributes == overflow) {
                return Some(slot.clone());
            }
            overflow.to_vec()
        };
        let slot = Arc::new(Slot {
            attributes,
            count: AtomicI64::new(0),
        });
        slots.push(slot.clone());
        Some(slot)
    }
}

impl fmt::Debug for CallMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("CallMetrics(off)"),
            Some(lazy) => f
                .debug_struct("CallMetrics")
                .field("source", &lazy.source)
                .field("names", &lazy.names)
                .finish(),
        }
    }
}

impl Default for CallMetrics {
    fn default() -> Self {
        Self::off()
    }
}

impl CallMetrics {
    /// Records nothing.
    pub const fn off() -> Self {
        Self(None)
    }

    /// The instruments `names` from `source`.
    pub fn new(source: MeterSource, names: InstrumentNames) -> Self {
        match source {
            MeterSource::Off => Self::off(),
            source => Self(Some(Arc::new(Lazy {
                source,
                names,
                instruments: OnceLock::new(),
                noop_calls: AtomicU32::new(0),
            }))),
        }
    }

    /// Whether anything is recorded.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Whether a call started now would be recorded: metrics are on and their meter records
    /// (a global meter provider that is the API's no-op does not). Check it before building
    /// a call's attributes.
    #[inline]
    pub fn recording(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|lazy| lazy.instruments().is_some())
    }

    /// The names this records.
    pub fn names(&self) -> Option<InstrumentNames> {
        self.0.as_ref().map(|lazy| lazy.names)
    }

    /// Starts timing a call, and counts it in flight with the attributes `active` (until
    /// [`CallTimer::finish`]). `None` when metrics are off.
    #[inline]
    pub fn start(&self, active: &[KeyValue]) -> Option<CallTimer> {
        let lazy = self.0.as_ref()?;
        let instruments = lazy.instruments()?;
        let active = instruments
            .active
            .as_ref()
            .and_then(|(slots, _)| slots.slot(active));
        if let Some(slot) = &active {
            slot.count.fetch_add(1, Ordering::Relaxed);
        }
        Some(CallTimer {
            metrics: lazy.clone(),
            active,
            start: Instant::now(),
        })
    }
}

impl Lazy {
    /// The instruments, made at the first call. From the global provider: `None` while it is
    /// the API's no-op (no provider installed), looked at again every [`NOOP_RECHECK`] calls,
    /// so that a layer without a meter provider costs one atomic add per call.
    #[inline]
    fn instruments(&self) -> Option<&Instruments> {
        if let Some(instruments) = self.instruments.get() {
            return Some(instruments);
        }
        self.make_instruments()
    }

    #[cold]
    fn make_instruments(&self) -> Option<&Instruments> {
        let meter = match &self.source {
            MeterSource::Meter(meter) => meter.clone(),
            MeterSource::Global { name, version } => {
                if !self
                    .noop_calls
                    .fetch_add(1, Ordering::Relaxed)
                    .is_multiple_of(NOOP_RECHECK)
                {
                    return None;
                }
                let provider = opentelemetry::global::meter_provider();
                // The API's no-op provider is a unit struct; an SDK provider (or any that
                // records) holds its state. Nothing else tells them apart through `dyn`.
                if std::mem::size_of_val(&*provider) == 0 {
                    return None;
                }
                provider.meter_with_scope(scope(name, version))
            }
            MeterSource::Off => return None,
        };
        Some(self.instruments.get_or_init(|| make(&meter, &self.names)))
    }
}

fn make(meter: &Meter, names: &InstrumentNames) -> Instruments {
    Instruments {
        duration: names.duration.map(|(name, description)| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(DURATION_BUCKETS_S.to_vec())
                .build()
        }),
        duration_ms: names.duration_ms.map(|(name, description)| {
            meter
                .f64_histogram(name)
                .with_unit("ms")
                .with_description(description)
                .with_boundaries(DURATION_BUCKETS_MS.to_vec())
                .build()
        }),
        active: names.active.map(|(name, description)| {
            let slots = Arc::new(ActiveSlots::default());
            let observed = slots.clone();
            let counter = meter
                .i64_observable_up_down_counter(name)
                .with_unit("{request}")
                .with_description(description)
                .with_callback(move |observer| {
                    if let Ok(slots) = observed.slots.read() {
                        for slot in slots.iter() {
                            observer.observe(slot.count.load(Ordering::Relaxed), &slot.attributes);
                        }
                    }
                })
                .build();
            (slots, counter)
        }),
        request_size: names.request_size.map(|(name, description)| {
            meter
                .u64_histogram(name)
                .with_unit("By")
                .with_description(description)
                .build()
        }),
        response_size: names.response_size.map(|(name, description)| {
            meter
                .u64_histogram(name)
                .with_unit("By")
                .with_description(description)
                .build()
        }),
    }
}

/// One call being timed (see [`CallMetrics::start`]); [`finish`](Self::finish) records it.
/// Dropped without `finish`, it records no duration but ends the call's flight.
pub struct CallTimer {
    metrics: Arc<Lazy>,
    active: Option<Arc<Slot>>,
    start: Instant,
}

impl fmt::Debug for CallTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallTimer")
            .field("start", &self.start)
            .finish()
    }
}

impl Drop for CallTimer {
    fn drop(&mut self) {
        if let Some(slot) = self.active.take() {
            slot.count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl CallTimer {
    /// When the call started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Records the call: its duration with `attributes`, the end of its flight, and the body
    /// sizes when known.
    #[inline]
    pub fn finish(
        mut self,
        attributes: &[KeyValue],
        request_size: Option<u64>,
        response_size: Option<u64>,
    ) {
        let elapsed = self.start.elapsed();
        let Some(instruments) = self.metrics.instruments() else {
            return;
        };
        if let Some(histogram) = &instruments.duration {
            histogram.record(elapsed.as_secs_f64(), attributes);
        }
        if let Some(histogram) = &instruments.duration_ms {
            histogram.record(elapsed.as_secs_f64() * 1000.0, attributes);
        }
        if let Some(slot) = self.active.take() {
            slot.count.fetch_sub(1, Ordering::Relaxed);
        }
        if let (Some(histogram), Some(size)) = (&instruments.request_size, request_size) {
            histogram.record(size, attributes);
        }
        if let (Some(histogram), Some(size)) = (&instruments.response_size, response_size) {
            histogram.record(size, attributes);
        }
    }
}

/// A hook that changes the attributes of a call's metrics before they are recorded: add a
/// low-cardinality attribute of your own, or drop one (`retain`). Runs for every recorded
/// call; without it the attributes are recorded as the layer builds them, with no
/// allocation.
///
/// ```
/// use opentelemetry::KeyValue;
/// use tracewire_core::metrics::MetricAttributes;
///
/// let hook = MetricAttributes::new(|attributes: &mut Vec<KeyValue>| {
///     attributes.retain(|kv| kv.key.as_str() != "network.protocol.version");
///     attributes.push(KeyValue::new("deployment.environment.name", "prod"));
/// });
/// let mut attributes = vec![KeyValue::new("network.protocol.version", "1.1")];
/// hook.apply(&mut attributes);
/// assert_eq!(attributes, [KeyValue::new("deployment.environment.name", "prod")]);
/// ```
#[derive(Clone)]
pub struct MetricAttributes(Arc<dyn Fn(&mut Vec<KeyValue>) + Send + Sync>);

impl MetricAttributes {
    /// The hook `f`.
    pub fn new(f: impl Fn(&mut Vec<KeyValue>) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Applies the hook to `attributes`.
    pub fn apply(&self, attributes: &mut Vec<KeyValue>) {
        (self.0)(attributes);
    }
}

impl fmt::Debug for MetricAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricAttributes")
    }
}

/// Records `timer`'s call with `attributes`, through `hook` when there is one.
#[inline]
pub fn finish_with(
    timer: CallTimer,
    hook: Option<&MetricAttributes>,
    attributes: &[KeyValue],
    sizes: (Option<u64>, Option<u64>),
) {
    match hook {
        None => timer.finish(attributes, sizes.0, sizes.1),
        Some(hook) => {
            let mut owned = attributes.to_vec();
            hook.apply(&mut owned);
            timer.finish(&owned, sizes.0, sizes.1);
        }
    }
}
