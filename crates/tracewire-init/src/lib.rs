//! One-call tracing set-up from the `OTEL_*` environment variables.
//!
//! [`Setup::install`] sets up, in one call: a `tracing-subscriber` with the OpenTelemetry
//! layer and a fmt layer whose lines carry trace and span ids (`RUST_LOG` filters, default
//! `info` with the OpenTelemetry crates' own logs at `warn`); the SDK tracer provider with its resource (`OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`); the sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`,
//! with tracewire's samplers as well as the standard ones); the propagators
//! (`OTEL_PROPAGATORS`); and the exporters (`OTEL_TRACES_EXPORTER`: `otlp` over gRPC or HTTP
//! per `OTEL_EXPORTER_OTLP_PROTOCOL` to `OTEL_EXPORTER_OTLP_ENDPOINT`, `console` for the
//! terminal trace tree, `none`). Metrics too: a meter provider installed as the global one,
//! which the layers record into (`OTEL_METRICS_EXPORTER`: `otlp` to
//! `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` every
//! `OTEL_METRIC_EXPORT_INTERVAL` ms, `prometheus` for an endpoint to mount
//! ([`Guard::prometheus`]), `console`, `none`). It returns a [`Guard`] that flushes and shuts
//! down on drop.
//! A bad value in any of these variables is an [`InitError`] naming the variable, never a
//! silent default.
//!
//! ```no_run
//! # async fn run() -> Result<(), tracewire_init::InitError> {
//! let telemetry = tracewire_init::Setup::new()
//!     .service_name("checkout") // unless OTEL_SERVICE_NAME says otherwise
//!     .install()?;
//! let propagator = telemetry.propagator(); // for the layers: `.propagator(propagator)`
//! # let _ = propagator;
//! // ... run the service; spans are flushed when `telemetry` is dropped.
//! # Ok(()) }
//! ```
//!
//! The OTLP gRPC exporter needs a Tokio runtime: call `install` from inside one.
//!
//! The layers' bridged spans are `info`-level `tracing` spans: a log filter below `info`
//! (`RUST_LOG=warn`) turns them off, as it would any span; their context still propagates.
//! Layers given `.tracer_provider(guard.provider())` make their spans directly and are not
//! affected by the filter.
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.88.
//!
//! # Stability
//!
//! OpenTelemetry for Rust is 0.x; each release follows one opentelemetry version (currently
//! 0.33, with opentelemetry-otlp 0.33 and tracing-opentelemetry 0.34).

#[cfg(any(feature = "http", feature = "grpc"))]
mod layers;
mod metrics;
mod otlp;
mod tree;
mod watch;

use std::fmt;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracerProvider, ShouldSample};
use tracewire_propagation::Propagator;
use tracing_subscriber::prelude::*;

pub use self::metrics::MetricExporter;
pub use self::tree::TreeExporter;
pub use self::watch::ExportStats;
pub use tracewire_core::prometheus::PrometheusEndpoint;

/// Where spans go.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exporter {
    /// OTLP over gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`, the default) or HTTP
    /// (`http/protobuf`), to `OTEL_EXPORTER_OTLP_ENDPOINT` or the protocol's default.
    Otlp,
    /// The terminal trace tree ([`TreeExporter`]); `console` in `OTEL_TRACES_EXPORTER`.
    Tree,
}

/// A bad setting: names the variable (or the builder method) and the value.
#[derive(Debug)]
pub struct InitError {
    setting: &'static str,
    value: String,
    reason: String,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.setting, self.value, self.reason)
    }
}

impl std::error::Error for InitError {}

fn error(setting: &'static str, value: &str, reason: impl fmt::Display) -> InitError {
    InitError {
        setting,
        value: value.to_owned(),
        reason: reason.to_string(),
    }
}

/// A layer of the user's, for the installed subscriber.
type UserLayer = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;

/// The settings, read from the environment when [`install`](Self::install)ed; what the
/// builder methods set wins over the variables.
#[derive(Default)]
#[must_use]
pub struct Setup {
    service_name: Option<String>,
    exporters: Option<Vec<Exporter>>,
    sampler: Option<Box<dyn ShouldSample>>,
    propagator: Option<Propagator>,
    log_filter: Option<String>,
    tree: Option<TreeExporter>,
    metric_exporters: Option<Vec<MetricExporter>>,
    env: Option<Arc<dyn Fn(&str) -> Option<String> + Send + Sync>>,
    strict: bool,
    shutdown_timeout: Option<std::time::Duration>,
    layers: Vec<UserLayer>,
    /// What was wrong with the variables and was replaced by its default (not `strict`).
    warnings: std::cell::RefCell<Vec<InitError>>,
}

impl fmt::Debug for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setup")
            .field("service_name", &self.service_name)
            .field("exporters", &self.exporters)
            .field("sampler", &self.sampler)
            .field("propagator", &self.propagator)
            .field("log_filter", &self.log_filter)
            .finish_non_exhaustive()
    }
}

impl Setup {
    /// Everything from the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// The service's name, unless `OTEL_SERVICE_NAME` is set.
    ///
    /// ```
    /// let setup = tracewire_init::Setup::new().service_name("checkout");
    /// # let _ = setup;
    /// ```
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// These exporters instead of `OTEL_TRACES_EXPORTER`'s (an empty list exports nothing).
    ///
    /// ```
    /// use tracewire_init::{Exporter, Setup};
    ///
    /// let setup = Setup::new().exporters([Exporter::Tree]);
    /// # let _ = setup;
    /// ```
    pub fn exporters(mut self, exporters: impl IntoIterator<Item = Exporter>) -> Self {
        self.exporters = Some(exporters.into_iter().collect());
        self
    }

    /// The terminal trees go to this exporter (one with a sink of its own) instead of
    /// standard output.
    pub fn tree_exporter(mut self, tree: TreeExporter) -> Self {
        self.tree = Some(tree);
        self
    }

    /// This sampler instead of `OTEL_TRACES_SAMPLER`'s.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::Sampler;
    ///
    /// let setup = tracewire_init::Setup::new().sampler(Sampler::AlwaysOn);
    /// # let _ = setup;
    /// ```
    pub fn sampler(mut self, sampler: impl ShouldSample + 'static) -> Self {
        self.sampler = Some(Box::new(sampler));
        self
    }

    /// This propagator instead of `OTEL_PROPAGATORS`'.
    ///
    /// ```
    /// use tracewire_propagation::{Format, Propagator};
    ///
    /// let setup = tracewire_init::Setup::new()
    ///     .propagator(Propagator::from_formats([Format::TraceContext, Format::Baggage, Format::B3]));
    /// # let _ = setup;
    /// ```
    pub fn propagator(mut self, propagator: Propagator) -> Self {
        self.propagator = Some(propagator);
        self
    }

    /// Adds a `tracing-subscriber` layer of your own to the subscriber [`install`](Self::install)
    /// puts in place (a JSON log formatter, a metrics layer, a test's recorder). Layers are
    /// added in order, below the log filter (which applies to them too).
    ///
    /// ```
    /// // A second log output, to standard error, without targets.
    /// let setup = tracewire_init::Setup::new()
    ///     .layer(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false));
    /// # let _ = setup;
    /// ```
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
    {
        self.layers.push(Box::new(layer));
        self
    }

    /// Log filter directives (`info,my_crate=debug`) instead of `RUST_LOG`'s.
    ///
    /// ```
    /// let setup = tracewire_init::Setup::new().log_filter("warn,checkout=info");
    /// # let _ = setup;
    /// ```
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = Some(directives.into());
        self
    }

    /// Reads variables through `lookup` instead of the process environment (for tests).
    ///
    /// ```
    /// let setup = tracewire_init::Setup::new()
    ///     .env(|name| (name == "OTEL_TRACES_EXPORTER").then(|| "none".to_owned()));
    /// # let _ = setup;
    /// ```
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Some(Arc::new(lookup));
        self
    }

    /// These metric exporters instead of `OTEL_METRICS_EXPORTER`'s (an empty list records
    /// metrics into a provider that exports nothing).
    ///
    /// ```
    /// use tracewire_init::{MetricExporter, Setup};
    ///
    /// let setup = Setup::new().metric_exporters([MetricExporter::Prometheus]);
    /// # let _ = setup;
    /// ```
    pub fn metric_exporters(mut self, exporters: impl IntoIterator<Item = MetricExporter>) -> Self {
        self.metric_exporters = Some(exporters.into_iter().collect());
        self
    }

    /// Makes a bad or unknown value in a variable an error of [`build`](Self::build) (for CI,
    /// say). By default, as the OpenTelemetry environment spec asks, such a value is warned
    /// about once (through `tracing` at WARN, target `tracewire::init`, once the subscriber is
    /// installed; [`Built::warnings`] lists them) and its default is used.
    ///
    /// ```
    /// use tracewire_init::Setup;
    ///
    /// let lenient = Setup::new().env(|name| (name == "OTEL_TRACES_EXPORTER").then(|| "carrier-pigeon".into()));
    /// assert_eq!(lenient.build().unwrap().warnings().len(), 1);
    /// let strict = Setup::new()
    ///     .env(|name| (name == "OTEL_TRACES_EXPORTER").then(|| "carrier-pigeon".into()))
    ///     .strict(true);
    /// assert!(strict.build().is_err());
    /// ```
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// How long shutting down (dropping the [`Guard`]) may take to send what is still queued
    /// (default 3 s); past it, what is left is dropped and one line says so.
    ///
    /// ```
    /// let setup = tracewire_init::Setup::new().shutdown_timeout(std::time::Duration::from_secs(1));
    /// # let _ = setup;
    /// ```
    pub fn shutdown_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// A bad value: an error when strict, otherwise a warning and the default.
    fn lenient(&self, problem: InitError) -> Result<(), InitError> {
        if self.strict {
            return Err(problem);
        }
        self.warnings.borrow_mut().push(problem);
        Ok(())
    }

    fn var(&self, name: &str) -> Option<String> {
        let value = match &self.env {
            Some(lookup) => lookup(name),
            None => std::env::var(name).ok(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// Reads what the builder did not set and checks everything, without installing
    /// anything: the parts [`install`](Self::install) would put in place.
    pub fn build(self) -> Result<Built, InitError> {
        let disabled = self.sdk_disabled()?;
        let propagator = match self.propagator.clone() {
            Some(p) => p,
            None => match self.var("OTEL_PROPAGATORS") {
                Some(names) => self.propagators(&names)?,
                None => Propagator::new(),
            },
        };
        let mut named = None;
        let sampler: Box<dyn ShouldSample> = match self.sampler {
            Some(ref s) => s.box_clone(),
            None => {
                let sampler = if disabled {
                    tracewire_sampling::NamedSampler::Sdk(
                        opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
                            opentelemetry_sdk::trace::Sampler::AlwaysOff,
                        )),
                    )
                } else {
                    self.sampler_from_env()?
                };
                named = Some(sampler.clone());
                match sampler {
                    tracewire_sampling::NamedSampler::Sdk(s) => Box::new(s),
                    other => Box::new(other),
                }
            }
        };
        let resource = self.resource()?;
        let exporters = match &self.exporters {
            Some(list) => list.clone(),
            None => self.exporters_from_env()?,
        };
        // OTEL_SDK_DISABLED: nothing exported, no span made for a new trace; a caller's
        // context still flows through the layers.
        let exporters = if disabled { Vec::new() } else { exporters };
        let otlp = if exporters.contains(&Exporter::Otlp) {
            Some(self.otlp_settings()?)
        } else {
            None
        };
        let filter = self
            .log_filter
            .clone()
            .or_else(|| {
                let raw = self.var("RUST_LOG")?;
                match tracing_subscriber::EnvFilter::try_new(&raw) {
                    Ok(_) => Some(raw),
                    Err(e) => {
                        // Checked again below when strict.
                        if self.strict {
                            Some(raw)
                        } else {
                            self.warnings.borrow_mut().push(error("RUST_LOG", &raw, e));
                            None
                        }
                    }
                }
            })
            // The OpenTelemetry crates' own notes ("provider set") are not the service's logs;
            // their warnings and errors (a failing export) still show.
            .unwrap_or_else(|| "info,opentelemetry=warn,opentelemetry_sdk=warn".to_owned());
        tracing_subscriber::EnvFilter::try_new(&filter)
            .map_err(|e| error("RUST_LOG", &filter, e))?;
        let batch = Batch {
            max_queue_size: self.positive("OTEL_BSP_MAX_QUEUE_SIZE")?,
            max_export_batch_size: self.positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")?,
            scheduled_delay: self
                .positive::<u64>("OTEL_BSP_SCHEDULE_DELAY")?
                .map(std::time::Duration::from_millis),
        };
        let limits = Limits {
            attributes: self.positive("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT")?,
            events: self.positive("OTEL_SPAN_EVENT_COUNT_LIMIT")?,
            links: self.positive("OTEL_SPAN_LINK_COUNT_LIMIT")?,
        };
        let mut metrics = self.metrics_settings()?;
        if disabled {
            metrics.exporters.clear();
        }
        Ok(Built {
            metrics,
            batch,
            limits,
            stats: Arc::default(),
            shutdown_timeout: self.shutdown_timeout.unwrap_or(DEFAULT_SHUTDOWN),
            named,
            disabled,
            warnings: self.warnings.take(),
            propagator,
            sampler,
            resource,
            exporters,
            otlp,
            filter,
            tree: self.tree.unwrap_or_else(TreeExporter::stdout),
        })
    }

    /// Installs everything: the global `tracing` subscriber, the global tracer provider and
    /// text-map propagator (for code that uses the globals), the global meter provider (which
    /// the layers record their metrics into unless given another); returns the guard that
    /// flushes and shuts down on drop.
    pub fn install(mut self) -> Result<Guard, InitError> {
        let layers = std::mem::take(&mut self.layers);
        let built = self.build()?;
        let provider = built.provider(None)?;
        let (meter_provider, prometheus) = built
            .metrics
            .provider(built.resource.clone(), &built.stats)?;
        let tracer = provider.tracer("tracewire");
        let filter = tracing_subscriber::EnvFilter::try_new(&built.filter)
            .map_err(|e| error("RUST_LOG", &built.filter, e))?;
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
        let subscriber = tracing_subscriber::registry()
            .with(layers)
            .with(filter)
            .with(tracing_opentelemetry::layer().with_tracer(tracer))
            .with(tracewire_core::events::SpanEventsLayer::new())
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .event_format(tracewire_core::fmt::TraceIdFormat::new(
                        tracing_subscriber::fmt::format(),
                    )),
            );
        tracing::subscriber::set_global_default(subscriber)
            .map_err(|e| error("tracing subscriber", "global default", e))?;
        for warning in &built.warnings {
            tracing::warn!(target: "tracewire::init", "{warning}; using the default");
        }
        opentelemetry::global::set_tracer_provider(provider.clone());
        opentelemetry::global::set_text_map_propagator(built.propagator.clone());
        if !built.disabled {
            opentelemetry::global::set_meter_provider(meter_provider.clone());
        }
        Ok(Guard {
            providers: vec![provider.clone()],
            provider,
            meter_providers: vec![meter_provider.clone()],
            meter_provider,
            prometheus,
            built,
        })
    }

    fn resource(&self) -> Result<Resource, InitError> {
        let mut attributes = Vec::new();
        if let Some(raw) = self.var("OTEL_RESOURCE_ATTRIBUTES") {
            match parse_resource_attributes(&raw) {
                Ok(parsed) => attributes = parsed,
                // The spec: a bad value is discarded whole.
                Err(problem) => self.lenient(problem)?,
            }
        }
        let name = self
            .var("OTEL_SERVICE_NAME")
            .or_else(|| self.service_name.clone())
            .or_else(|| {
                attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == "service.name")
                    .map(|kv| kv.value.as_str().into_owned())
            })
            .unwrap_or_else(unknown_service);
        attributes.retain(|kv| kv.key.as_str() != "service.name");
        // The host (`host.name`, `host.id`, `host.arch`) and the OS (`os.type`) as the
        // resource detectors see them, and the process by its id and executable: not its
        // command line (`process.command_args`), which can carry secrets.
        let detected = Resource::builder_empty()
            .with_detectors(&[
                Box::new(opentelemetry_resource_detectors::HostResourceDetector::default()),
                Box::new(opentelemetry_resource_detectors::OsResourceDetector),
            ])
            .build();
        let process = [
            KeyValue::new("process.pid", i64::from(std::process::id())),
            KeyValue::new("process.runtime.name", "rust"),
        ]
        .into_iter()
        .chain(
            std::env::current_exe()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .map(|exe| KeyValue::new("process.executable.name", exe)),
        );
        Ok(Resource::builder_empty()
            .with_attributes(
                detected
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .with_attributes(process)
            .with_service_name(name)
            .with_attributes(attributes)
            .with_attributes([
                KeyValue::new("telemetry.sdk.name", "opentelemetry"),
                KeyValue::new("telemetry.sdk.language", "rust"),
                KeyValue::new("telemetry.sdk.version", OTEL_SDK_VERSION),
                KeyValue::new("telemetry.distro.name", "tracewire"),
                KeyValue::new("telemetry.distro.version", env!("CARGO_PKG_VERSION")),
            ])
            .build())
    }

    /// A positive integer variable: `None` when unset; a bad value is warned about (or an
    /// error when strict) and `None`.
    fn positive<T: std::str::FromStr + PartialOrd + Default>(
        &self,
        variable: &'static str,
    ) -> Result<Option<T>, InitError> {
        let Some(raw) = self.var(variable) else {
            return Ok(None);
        };
        match raw.trim().parse::<T>() {
            Ok(n) if n > T::default() => Ok(Some(n)),
            _ => {
                self.lenient(error(variable, &raw, "not a positive integer"))?;
                Ok(None)
            }
        }
    }

    /// `OTEL_SDK_DISABLED`: `true` (any case) turns the SDK off; anything but `false` or
    /// empty is a bad value (and means `false`).
    fn sdk_disabled(&self) -> Result<bool, InitError> {
        let Some(raw) = self.var("OTEL_SDK_DISABLED") else {
            return Ok(false);
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => {
                self.lenient(error("OTEL_SDK_DISABLED", &raw, "not true or false"))?;
                Ok(false)
            }
        }
    }

    /// `OTEL_PROPAGATORS`: names in any case, spaces and empty entries ignored; an unknown
    /// name is a bad value and is left out (all unknown: the default).
    fn propagators(&self, raw: &str) -> Result<Propagator, InitError> {
        let names: Vec<String> = raw
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        let mut known = Vec::new();
        for name in &names {
            match Propagator::from_names(name) {
                Ok(_) => known.push(name.as_str()),
                Err(e) => self.lenient(error("OTEL_PROPAGATORS", raw, e))?,
            }
        }
        if known.is_empty() && !names.is_empty() {
            return Ok(Propagator::new());
        }
        Propagator::from_names(&known.join(",")).map_err(|e| error("OTEL_PROPAGATORS", raw, e))
    }

    /// `OTEL_TRACES_SAMPLER` and `_ARG`: a bad argument falls back to the sampler's default
    /// argument, an unknown sampler to `parentbased_always_on`.
    fn sampler_from_env(&self) -> Result<tracewire_sampling::NamedSampler, InitError> {
        let name = self
            .var("OTEL_TRACES_SAMPLER")
            .map(|n| n.trim().to_ascii_lowercase())
            .unwrap_or_else(|| "parentbased_always_on".to_owned());
        let arg = self.var("OTEL_TRACES_SAMPLER_ARG");
        match tracewire_sampling::sampler_from_names(&name, arg.as_deref()) {
            Ok(sampler) => Ok(sampler),
            Err(e) => {
                // Without the argument: the sampler's own default.
                if let (Some(raw), Ok(sampler)) =
                    (&arg, tracewire_sampling::sampler_from_names(&name, None))
                {
                    self.lenient(error("OTEL_TRACES_SAMPLER_ARG", raw, e))?;
                    return Ok(sampler);
                }
                self.lenient(error("OTEL_TRACES_SAMPLER", &name, e))?;
                tracewire_sampling::sampler_from_names("parentbased_always_on", None)
                    .map_err(|e| error("OTEL_TRACES_SAMPLER", "parentbased_always_on", e))
            }
        }
    }

    fn exporters_from_env(&self) -> Result<Vec<Exporter>, InitError> {
        let Some(raw) = self.var("OTEL_TRACES_EXPORTER") else {
            return Ok(vec![Exporter::Otlp]);
        };
        let mut out = Vec::new();
        let names = raw.split(',').map(|n| n.trim().to_ascii_lowercase());
        for name in names.filter(|n| !n.is_empty()) {
            match name.as_str() {
                "otlp" => out.push(Exporter::Otlp),
                "console" | "tree" => out.push(Exporter::Tree),
                "none" => {}
                "zipkin" | "jaeger" => self.lenient(error(
                    "OTEL_TRACES_EXPORTER",
                    &raw,
                    format!(
                        "{name:?} is not supported (send OTLP; Jaeger and Zipkin collectors accept it)"
                    ),
                ))?,
                other => self.lenient(error(
                    "OTEL_TRACES_EXPORTER",
                    &raw,
                    format!("unknown exporter {other:?} (otlp, console, none)"),
                ))?,
            }
        }
        Ok(out)
    }

    /// The OTLP protocol: the signal's variable `specific`, else `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub(crate) fn protocol(&self, specific: &'static str) -> Result<Protocol, InitError> {
        let (variable, value) = match self.var(specific) {
            Some(v) => (specific, v),
            None => match self.var("OTEL_EXPORTER_OTLP_PROTOCOL") {
                Some(v) => ("OTEL_EXPORTER_OTLP_PROTOCOL", v),
                None => return Ok(Protocol::Grpc),
            },
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Ok(Protocol::HttpJson),
            other => {
                self.lenient(error(
                    variable,
                    &value,
                    format!("{other:?} is not supported (grpc, http/protobuf, http/json)"),
                ))?;
                Ok(Protocol::Grpc)
            }
        }
    }

    fn otlp_settings(&self) -> Result<Otlp, InitError> {
        let protocol = self.protocol("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")?;
        let endpoint = match self.var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(e) => Some(("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", e, true)),
            None => self
                .var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|e| ("OTEL_EXPORTER_OTLP_ENDPOINT", e, false)),
        };
        let endpoint = match endpoint {
            None => None,
            Some((variable, raw, _)) if check_url(variable, &raw).is_err() => {
                self.lenient(check_url(variable, &raw).unwrap_err())?;
                None
            }
            Some((_, raw, exact)) => {
                let endpoint = match (protocol, exact) {
                    // The HTTP exporter posts to {endpoint}/v1/traces unless the
                    // signal-specific variable gives the whole URL.
                    (Protocol::HttpProtobuf | Protocol::HttpJson, false) => {
                        format!("{}/v1/traces", raw.trim_end_matches('/'))
                    }
                    _ => raw,
                };
                Some(endpoint)
            }
        };
        let options = self.otlp_options("TRACES")?;
        Ok(Otlp {
            protocol,
            endpoint,
            options,
        })
    }
}

/// `OTEL_BSP_*`: the batch span processor's settings (unset: the SDK's defaults).
#[derive(Clone, Copy, Debug, Default)]
struct Batch {
    max_queue_size: Option<usize>,
    max_export_batch_size: Option<usize>,
    scheduled_delay: Option<std::time::Duration>,
}

/// `OTEL_SPAN_*_COUNT_LIMIT` (unset: the SDK's defaults, 128 each).
#[derive(Clone, Copy, Debug, Default)]
struct Limits {
    attributes: Option<u32>,
    events: Option<u32>,
    links: Option<u32>,
}

/// How long shutting down may take by default.
const DEFAULT_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(3);

/// The opentelemetry SDK version this crate is built with (`telemetry.sdk.version`).
const OTEL_SDK_VERSION: &str = "0.33";

/// `unknown_service:<executable>`, as the resource conventions name a service that gave none.
fn unknown_service() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
    match exe {
        Some(exe) if !exe.is_empty() => format!("unknown_service:{exe}"),
        _ => "unknown_service".to_owned(),
    }
}

/// `key=value,...`, values percent-decoded.
fn parse_resource_attributes(raw: &str) -> Result<Vec<KeyValue>, InitError> {
    let mut attributes = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            error(
                "OTEL_RESOURCE_ATTRIBUTES",
                raw,
                format!("{pair:?} is not key=value"),
            )
        })?;
        let (key, value) = (
            key.trim(),
            tracewire_propagation::baggage::percent_decode(value.trim()).into_owned(),
        );
        if key.is_empty() {
            return Err(error("OTEL_RESOURCE_ATTRIBUTES", raw, "an empty key"));
        }
        attributes.push(KeyValue::new(key.to_owned(), value));
    }
    Ok(attributes)
}

/// An OTLP endpoint must be an `http://` or `https://` URL with a host.
pub(crate) fn check_url(variable: &'static str, raw: &str) -> Result<(), InitError> {
    let ok = raw
        .parse::<http::Uri>()
        .is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some());
    if ok {
        Ok(())
    } else {
        Err(error(variable, raw, "not an http:// or https:// URL"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

#[derive(Clone, Debug)]
struct Otlp {
    protocol: Protocol,
    endpoint: Option<String>,
    options: otlp::Options,
}

/// The checked settings, ready to make tracer providers.
pub struct Built {
    metrics: metrics::Metrics,
    batch: Batch,
    limits: Limits,
    stats: Arc<ExportStats>,
    shutdown_timeout: std::time::Duration,
    /// `OTEL_SDK_DISABLED=true`.
    disabled: bool,
    warnings: Vec<InitError>,
    /// The sampler from `OTEL_TRACES_SAMPLER` as its own type (the layers' quick path knows
    /// the SDK's samplers), when the builder did not give one.
    #[cfg_attr(not(any(feature = "http", feature = "grpc")), allow(dead_code))]
    named: Option<tracewire_sampling::NamedSampler>,
    propagator: Propagator,
    sampler: Box<dyn ShouldSample>,
    resource: Resource,
    exporters: Vec<Exporter>,
    otlp: Option<Otlp>,
    filter: String,
    tree: TreeExporter,
}

impl fmt::Debug for Built {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Built")
            .field("propagator", &self.propagator)
            .field("sampler", &self.sampler)
            .field("resource", &self.resource)
            .field("exporters", &self.exporters)
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl Built {
    /// A tracer provider with these settings; `service` replaces `service.name`.
    pub fn provider(&self, service: Option<&str>) -> Result<SdkTracerProvider, InitError> {
        let resource = self.resource_for(service);
        // The layers decide sampling before their spans exist and the spans get the ids the
        // decision was made on: the provider takes both from them, and decides only the
        // other spans (a handler's own) with the sampler.
        let mut builder = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_id_generator(tracewire_core::provider::CallIdGenerator::new())
            .with_sampler(tracewire_core::provider::LayerSampler::from_boxed(
                self.sampler.box_clone(),
            ));
        if let Some(n) = self.limits.attributes {
            builder = builder.with_max_attributes_per_span(n);
        }
        if let Some(n) = self.limits.events {
            builder = builder.with_max_events_per_span(n);
        }
        if let Some(n) = self.limits.links {
            builder = builder.with_max_links_per_span(n);
        }
        for exporter in &self.exporters {
            builder = match exporter {
                // The tree needs spans as they end.
                Exporter::Tree => builder.with_simple_exporter(self.tree.clone()),
                Exporter::Otlp => {
                    let otlp = self.otlp.clone().unwrap_or(Otlp {
                        protocol: Protocol::Grpc,
                        endpoint: None,
                        options: otlp::Options::default(),
                    });
                    let exporter =
                        otlp::span_exporter(otlp.protocol, otlp.endpoint.as_deref(), &otlp.options)
                            .map_err(|e| {
                                error(
                                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                                    otlp.endpoint.as_deref().unwrap_or("(default)"),
                                    e,
                                )
                            })?;
                    let endpoint = otlp
                        .endpoint
                        .clone()
                        .unwrap_or_else(|| match otlp.protocol {
                            Protocol::Grpc => "http://localhost:4317".to_owned(),
                            Protocol::HttpProtobuf | Protocol::HttpJson => {
                                "http://localhost:4318/v1/traces".to_owned()
                            }
                        });
                    let mut config = opentelemetry_sdk::trace::BatchConfigBuilder::default();
                    if let Some(n) = self.batch.max_queue_size {
                        config = config.with_max_queue_size(n);
                    }
                    if let Some(n) = self.batch.max_export_batch_size {
                        config = config.with_max_export_batch_size(n);
                    }
                    if let Some(d) = self.batch.scheduled_delay {
                        config = config.with_scheduled_delay(d);
                    }
                    builder.with_span_processor(
                        opentelemetry_sdk::trace::BatchSpanProcessor::builder(watch::Watched::new(
                            exporter,
                            endpoint,
                            self.stats.clone(),
                        ))
                        .with_batch_config(config.build())
                        .build(),
                    )
                }
            };
        }
        Ok(builder.build())
    }

    /// The propagator (`OTEL_PROPAGATORS`).
    pub fn propagator(&self) -> Propagator {
        self.propagator.clone()
    }

    /// The bad values that were replaced by their defaults, one per variable and value.
    pub fn warnings(&self) -> &[InitError] {
        &self.warnings
    }

    /// What the OTLP span exporters sent and failed to send (every provider of these
    /// settings).
    pub fn export_stats(&self) -> &ExportStats {
        &self.stats
    }

    /// Shuts `providers` down within the shutdown timeout: what is queued is sent if it can
    /// be; past the timeout it is dropped, and one WARN line (target `tracewire::export`)
    /// says so. Returns whether everything shut down in time.
    pub fn shutdown(&self, providers: &[SdkTracerProvider]) -> bool {
        let deadline = std::time::Instant::now() + self.shutdown_timeout;
        let mut in_time = true;
        for provider in providers {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if let Err(e) =
                provider.shutdown_with_timeout(left.max(std::time::Duration::from_millis(1)))
            {
                if matches!(e, opentelemetry_sdk::error::OTelSdkError::AlreadyShutdown) {
                    continue;
                }
                in_time = false;
                tracing::warn!(
                    target: "tracewire::export",
                    timeout_ms = self.shutdown_timeout.as_millis() as u64,
                    exported = self.stats.exported(),
                    failed = self.stats.failed(),
                    "shutdown gave up: spans still queued are dropped ({e})"
                );
            }
        }
        in_time
    }

    /// Whether `OTEL_SDK_DISABLED` turned the SDK off.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// The sampler (`OTEL_TRACES_SAMPLER`).
    pub fn sampler(&self) -> Box<dyn ShouldSample> {
        self.sampler.box_clone()
    }

    /// A meter provider with these settings (`OTEL_METRICS_EXPORTER`, its interval and
    /// endpoint); `service` replaces `service.name`. With the `prometheus` exporter, the
    /// endpoint that serves its metrics.
    pub fn meter_provider(
        &self,
        service: Option<&str>,
    ) -> Result<(SdkMeterProvider, Option<PrometheusEndpoint>), InitError> {
        self.metrics
            .provider(self.resource_for(service), &self.stats)
    }

    fn resource_for(&self, service: Option<&str>) -> Resource {
        match service {
            Some(name) => Resource::builder_empty()
                .with_attributes(
                    self.resource
                        .iter()
                        .filter(|(k, _)| k.as_str() != "service.name")
                        .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
                )
                .with_service_name(name.to_owned())
                .build(),
            None => self.resource.clone(),
        }
    }
}

/// What [`Setup::install`] put in place; flushes and shuts the tracer providers down when
/// dropped (at the end of `main`, keep it alive until then).
#[must_use = "dropping the guard shuts tracing down"]
pub struct Guard {
    provider: SdkTracerProvider,
    providers: Vec<SdkTracerProvider>,
    meter_provider: SdkMeterProvider,
    meter_providers: Vec<SdkMeterProvider>,
    prometheus: Option<PrometheusEndpoint>,
    built: Built,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("built", &self.built)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// The tracer provider (for the layers' direct mode: `.tracer_provider(guard.provider())`).
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// The propagator from `OTEL_PROPAGATORS` (for the layers: `.propagator(..)`).
    pub fn propagator(&self) -> Propagator {
        self.built.propagator()
    }

    /// The meter provider (also installed as the global one, which the layers use by
    /// default).
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    /// The Prometheus endpoint, with `OTEL_METRICS_EXPORTER=prometheus`: mount it where
    /// Prometheus scrapes (`Router::route_service("/metrics", endpoint)`).
    pub fn prometheus(&self) -> Option<PrometheusEndpoint> {
        self.prometheus.clone()
    }

    /// Another meter provider with the same settings but `service.name = service`; flushed
    /// and shut down with the guard.
    pub fn service_meter_provider(&mut self, service: &str) -> Result<SdkMeterProvider, InitError> {
        let (provider, _) = self.built.meter_provider(Some(service))?;
        self.meter_providers.push(provider.clone());
        Ok(provider)
    }

    /// The same, with one more reader of your own (an in-memory summary, say).
    pub fn service_meter_provider_with<R>(
        &mut self,
        service: &str,
        reader: R,
    ) -> Result<SdkMeterProvider, InitError>
    where
        R: opentelemetry_sdk::metrics::reader::MetricReader,
    {
        let builder = SdkMeterProvider::builder()
            .with_resource(self.built.resource_for(Some(service)))
            .with_reader(reader);
        let (provider, _) = self
            .built
            .metrics
            .provider_with(builder, &self.built.stats)?;
        self.meter_providers.push(provider.clone());
        Ok(provider)
    }

    /// The sampler from `OTEL_TRACES_SAMPLER` (for the layers: `.sampler(..)`).
    pub fn sampler(&self) -> Box<dyn ShouldSample> {
        self.built.sampler()
    }

    /// Another tracer provider with the same settings but `service.name = service`: for
    /// several services in one process (a demo, a test), each with spans under its own name.
    /// It is flushed and shut down with the guard.
    pub fn service_provider(&mut self, service: &str) -> Result<SdkTracerProvider, InitError> {
        let provider = self.built.provider(Some(service))?;
        self.providers.push(provider.clone());
        Ok(provider)
    }
}

impl Guard {
    /// What the OTLP span exporters sent and failed to send.
    pub fn export_stats(&self) -> &ExportStats {
        self.built.export_stats()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Shutting down sends what is queued; bounded by the shutdown timeout.
        self.built.shutdown(&self.providers);
        for provider in &self.meter_providers {
            let _ = provider.shutdown_with_timeout(self.built.shutdown_timeout);
        }
    }
}
