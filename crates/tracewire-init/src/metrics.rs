//! The metrics half of the set-up: the meter provider, its readers (`OTEL_METRICS_EXPORTER`:
//! `otlp`, `prometheus`, `console`, `none`), the export interval
//! (`OTEL_METRIC_EXPORT_INTERVAL`) and the OTLP metrics endpoint
//! (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use tracewire_core::prometheus::PrometheusEndpoint;

use crate::{InitError, Protocol, error};

/// Where metrics go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricExporter {
    /// OTLP over gRPC or HTTP (`OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`, else
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`), every `OTEL_METRIC_EXPORT_INTERVAL` milliseconds.
    Otlp,
    /// A Prometheus text endpoint to mount ([`Guard::prometheus`](crate::Guard::prometheus)).
    Prometheus,
    /// Lines on standard output at every export: each instrument's series with its count and
    /// sum, or its value.
    Console,
}

/// The checked metric settings.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    pub(crate) exporters: Vec<MetricExporter>,
    pub(crate) interval: Duration,
    pub(crate) otlp: Option<(Protocol, Option<String>, crate::otlp::Options)>,
}

impl crate::Setup {
    pub(crate) fn metrics_settings(&self) -> Result<Metrics, InitError> {
        let exporters = match &self.metric_exporters {
            Some(list) => list.clone(),
            None => match self.var("OTEL_METRICS_EXPORTER") {
                None => vec![MetricExporter::Otlp],
                Some(raw) => {
                    let mut out = Vec::new();
                    let names = raw.split(',').map(|n| n.trim().to_ascii_lowercase());
                    for name in names.filter(|n| !n.is_empty()) {
                        match name.as_str() {
                            "otlp" => out.push(MetricExporter::Otlp),
                            "prometheus" => out.push(MetricExporter::Prometheus),
                            "console" => out.push(MetricExporter::Console),
                            "none" => {}
                            other => self.lenient(error(
                                "OTEL_METRICS_EXPORTER",
                                &raw,
                                format!(
                                    "unknown exporter {other:?} (otlp, prometheus, console, none)"
                                ),
                            ))?,
                        }
                    }
                    out
                }
            },
        };
        let interval = match self.var("OTEL_METRIC_EXPORT_INTERVAL") {
            None => Duration::from_secs(60),
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    self.lenient(error(
                        "OTEL_METRIC_EXPORT_INTERVAL",
                        &raw,
                        "not a positive number of milliseconds",
                    ))?;
                    Duration::from_secs(60)
                }
            },
        };
        let otlp = if exporters.contains(&MetricExporter::Otlp) {
            Some(self.otlp_metrics()?)
        } else {
            None
        };
        Ok(Metrics {
            exporters,
            interval,
            otlp,
        })
    }

    fn otlp_metrics(&self) -> Result<(Protocol, Option<String>, crate::otlp::Options), InitError> {
        let protocol = self.protocol("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")?;
        let endpoint = match self.var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
            Some(e) => Some(("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", e, true)),
            None => self
                .var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|e| ("OTEL_EXPORTER_OTLP_ENDPOINT", e, false)),
        };
        let endpoint = match endpoint {
            None => None,
            Some((variable, raw, _)) if crate::check_url(variable, &raw).is_err() => {
                self.lenient(crate::check_url(variable, &raw).unwrap_err())?;
                None
            }
            Some((_, raw, exact)) => {
                Some(match (protocol, exact) {
                    // The HTTP exporter posts to {endpoint}/v1/metrics unless the
                    // signal-specific variable gives the whole URL.
                    (Protocol::HttpProtobuf | Protocol::HttpJson, false) => {
                        format!("{}/v1/metrics", raw.trim_end_matches('/'))
                    }
                    _ => raw,
                })
            }
        };
        Ok((protocol, endpoint, self.otlp_options("METRICS")?))
    }
}

impl Metrics {
    /// A meter provider with these readers for `resource`, and the Prometheus endpoint when
    /// one was asked for.
    pub(crate) fn provider(
        &self,
        resource: Resource,
        stats: &std::sync::Arc<crate::ExportStats>,
    ) -> Result<(SdkMeterProvider, Option<PrometheusEndpoint>), InitError> {
        self.provider_with(SdkMeterProvider::builder().with_resource(resource), stats)
    }

    /// The same, from a builder that may hold readers of its own.
    pub(crate) fn provider_with(
        &self,
        mut builder: opentelemetry_sdk::metrics::MeterProviderBuilder,
        stats: &std::sync::Arc<crate::ExportStats>,
    ) -> Result<(SdkMeterProvider, Option<PrometheusEndpoint>), InitError> {
        let mut endpoint = None;
        for exporter in &self.exporters {
            builder = match exporter {
                MetricExporter::Otlp => {
                    let (protocol, url, options) = self.otlp.clone().unwrap_or((
                        Protocol::Grpc,
                        None,
                        crate::otlp::Options::default(),
                    ));
                    let exporter = crate::otlp::metric_exporter(protocol, url.as_deref(), &options)
                        .map_err(|e| {
                            error(
                                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                                url.as_deref().unwrap_or("(default)"),
                                e,
                            )
                        })?;
                    let endpoint = url.clone().unwrap_or_else(|| match protocol {
                        Protocol::Grpc => "http://localhost:4317".to_owned(),
                        _ => "http://localhost:4318/v1/metrics".to_owned(),
                    });
                    builder.with_reader(
                        PeriodicReader::builder(crate::watch::WatchedMetrics::new(
                            exporter,
                            endpoint,
                            stats.clone(),
                        ))
                        .with_interval(self.interval)
                        .build(),
                    )
                }
                MetricExporter::Prometheus => {
                    let (reader, e) = PrometheusEndpoint::new()
                        .map_err(|e| error("OTEL_METRICS_EXPORTER", "prometheus", e))?;
                    endpoint = Some(e);
                    builder.with_reader(reader)
                }
                MetricExporter::Console => builder.with_reader(
                    PeriodicReader::builder(ConsoleExporter)
                        .with_interval(self.interval)
                        .build(),
                ),
            };
        }
        Ok((builder.build(), endpoint))
    }
}

/// Prints each export: one line per series.
#[derive(Debug)]
struct ConsoleExporter;

impl PushMetricExporter for ConsoleExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let text = render(metrics);
        if !text.is_empty() {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// `name{k=v,..} count=N sum=S` for histograms, `name{..} value` for sums.
pub(crate) fn render(metrics: &ResourceMetrics) -> String {
    let mut out = String::new();
    let labels = |attrs: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
        let parts: Vec<String> = attrs.map(|kv| format!("{}={}", kv.key, kv.value)).collect();
        parts.join(",")
    };
    for scope in metrics.scope_metrics() {
        for metric in scope.metrics() {
            let name = metric.name();
            let unit = metric.unit();
            match metric.data() {
                AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                    for p in h.data_points() {
                        let _ = writeln!(
                            out,
                            "{name}{{{}}} count={} sum={:.6}{unit}",
                            labels(&mut p.attributes()),
                            p.count(),
                            p.sum()
                        );
                    }
                }
                AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                    for p in h.data_points() {
                        let _ = writeln!(
                            out,
                            "{name}{{{}}} count={} sum={}{unit}",
                            labels(&mut p.attributes()),
                            p.count(),
                            p.sum()
                        );
                    }
                }
                AggregatedMetrics::I64(MetricData::Sum(s)) => {
                    for p in s.data_points() {
                        let _ = writeln!(
                            out,
                            "{name}{{{}}} {}",
                            labels(&mut p.attributes()),
                            p.value()
                        );
                    }
                }
                _ => {}
            }
        }
    }
    out
}
