//! Export failures made visible: a span exporter wrapper that counts what was exported and
//! what failed, and says so through `tracing` (target `tracewire::export`, WARN): the first
//! failure, then at most one line a minute, naming the endpoint and the exporter's error.

use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// How often a failing export is reported, at most.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// The spans the set-up's exporters sent and failed to send, since it was built.
#[derive(Debug, Default)]
pub struct ExportStats {
    exported: AtomicU64,
    failed: AtomicU64,
    metric_exports_failed: AtomicU64,
    last_report: Mutex<Option<Instant>>,
    last_metric_report: Mutex<Option<Instant>>,
}

impl ExportStats {
    /// Spans an exporter accepted.
    pub fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }

    /// Spans an export failed for (and that are lost).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Metric exports that failed (each loses one collection of every instrument).
    pub fn metric_exports_failed(&self) -> u64 {
        self.metric_exports_failed.load(Ordering::Relaxed)
    }

    fn report_metrics(&self, endpoint: &str, error: &dyn fmt::Display) {
        if !due(&self.last_metric_report) {
            return;
        }
        tracing::warn!(
            target: "tracewire::export",
            endpoint,
            failed_total = self.metric_exports_failed(),
            "metrics could not be exported: {error}"
        );
    }

    fn report(&self, endpoint: &str, spans: usize, error: &dyn fmt::Display) {
        if !due(&self.last_report) {
            return;
        }
        tracing::warn!(
            target: "tracewire::export",
            endpoint,
            spans,
            failed_total = self.failed(),
            "spans could not be exported: {error}"
        );
    }
}

/// Whether a report is due: the first, then one per [`REPORT_EVERY`].
fn due(last: &Mutex<Option<Instant>>) -> bool {
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if last.is_some_and(|at| now.duration_since(at) < REPORT_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

/// Wraps a metric exporter to count and report failed exports.
#[derive(Debug)]
pub(crate) struct WatchedMetrics<E> {
    inner: E,
    endpoint: String,
    stats: Arc<ExportStats>,
}

impl<E> WatchedMetrics<E> {
    pub(crate) fn new(inner: E, endpoint: String, stats: Arc<ExportStats>) -> Self {
        Self {
            inner,
            endpoint,
            stats,
        }
    }
}

impl<E: PushMetricExporter> PushMetricExporter for WatchedMetrics<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        if let Err(error) = &result {
            self.stats
                .metric_exports_failed
                .fetch_add(1, Ordering::Relaxed);
            self.stats.report_metrics(&self.endpoint, error);
        }
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// Wraps a span exporter to count and report.
#[derive(Debug)]
pub(crate) struct Watched<E> {
    inner: E,
    endpoint: String,
    stats: Arc<ExportStats>,
}

impl<E> Watched<E> {
    pub(crate) fn new(inner: E, endpoint: String, stats: Arc<ExportStats>) -> Self {
        Self {
            inner,
            endpoint,
            stats,
        }
    }
}

impl<E: SpanExporter> SpanExporter for Watched<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => {
                self.stats
                    .exported
                    .fetch_add(spans as u64, Ordering::Relaxed);
            }
            Err(error) => {
                self.stats.failed.fetch_add(spans as u64, Ordering::Relaxed);
                self.stats.report(&self.endpoint, spans, error);
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
