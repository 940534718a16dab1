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
//! call.finish(&[KeyValue::new("messaging.system", "kafka")], &[], None, None);
//! provider.force_flush().unwrap();
//! assert!(!exporter.get_finished_metrics().unwrap().is_empty());
//! ```

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use opentelemetry::metrics::{Histogram, Meter, MeterProvider, UpDownCounter};
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
    /// first call is recorded.
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
}

struct Instruments {
    duration: Option<Histogram<f64>>,
    duration_ms: Option<Histogram<f64>>,
    active: Option<UpDownCounter<i64>>,
    request_size: Option<Histogram<u64>>,
    response_size: Option<Histogram<u64>>,
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
            }))),
        }
    }

    /// Whether anything is recorded.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The names this records.
    pub fn names(&self) -> Option<InstrumentNames> {
        self.0.as_ref().map(|lazy| lazy.names)
    }

    /// Starts timing a call, and counts it in flight with `active` (the attributes the
    /// up-down counter takes: the end must pass the same). `None` when metrics are off.
    #[inline]
    pub fn start(&self, active: &[KeyValue]) -> Option<CallTimer> {
        let lazy = self.0.as_ref()?;
        let instruments = lazy.instruments();
        if let Some(counter) = &instruments.active {
            counter.add(1, active);
        }
        Some(CallTimer {
            metrics: lazy.clone(),
            start: Instant::now(),
        })
    }
}

impl Lazy {
    #[inline]
    fn instruments(&self) -> &Instruments {
        self.instruments.get_or_init(|| {
            let meter = match &self.source {
                MeterSource::Meter(meter) => meter.clone(),
                MeterSource::Global { name, version } => {
                    opentelemetry::global::meter_with_scope(scope(name, version))
                }
                MeterSource::Off => opentelemetry::global::meter("tracewire-off"),
            };
            make(&meter, &self.names)
        })
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
            meter
                .i64_up_down_counter(name)
                .with_unit("{request}")
                .with_description(description)
                .build()
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
/// Dropped without `finish`, it records nothing (and leaves the call counted in flight: call
/// `finish` on every path that ends a call).
pub struct CallTimer {
    metrics: Arc<Lazy>,
    start: Instant,
}

impl fmt::Debug for CallTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallTimer")
            .field("start", &self.start)
            .finish()
    }
}

impl CallTimer {
    /// When the call started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Records the call: its duration with `attributes`, the end of its flight with `active`
    /// (the attributes it started with), and the body sizes when known.
    #[inline]
    pub fn finish(
        self,
        attributes: &[KeyValue],
        active: &[KeyValue],
        request_size: Option<u64>,
        response_size: Option<u64>,
    ) {
        let elapsed = self.start.elapsed();
        let instruments = self.metrics.instruments();
        if let Some(histogram) = &instruments.duration {
            histogram.record(elapsed.as_secs_f64(), attributes);
        }
        if let Some(histogram) = &instruments.duration_ms {
            histogram.record(elapsed.as_secs_f64() * 1000.0, attributes);
        }
        if let Some(counter) = &instruments.active {
            counter.add(-1, active);
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
    active: &[KeyValue],
    sizes: (Option<u64>, Option<u64>),
) {
    match hook {
        None => timer.finish(attributes, active, sizes.0, sizes.1),
        Some(hook) => {
            let mut owned = attributes.to_vec();
            hook.apply(&mut owned);
            timer.finish(&owned, active, sizes.0, sizes.1);
        }
    }
}
