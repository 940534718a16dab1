//! The per-route table the demo prints after its trees: count, p50, p99 and errors per service
//! and route (or RPC method), read from the layers' duration metrics.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, Temporality};

/// One row: a service's route or method.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// Requests or calls.
    pub count: u64,
    /// Of which failed (`error.type` set).
    pub errors: u64,
    /// The bucket boundaries (seconds) and the count in each bucket (one more than bounds).
    bounds: Vec<f64>,
    counts: Vec<u64>,
    max: f64,
}

impl Row {
    /// The `q` quantile (0..1) estimated from the histogram's buckets, in seconds.
    pub fn quantile(&self, q: f64) -> f64 {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = q * total as f64;
        let mut seen = 0.0;
        for (i, &n) in self.counts.iter().enumerate() {
            let next = seen + n as f64;
            if n > 0 && next >= rank {
                let lower = if i == 0 { 0.0 } else { self.bounds[i - 1] };
                let upper = self
                    .bounds
                    .get(i)
                    .copied()
                    .unwrap_or(self.max)
                    .min(self.max.max(lower));
                return lower + (upper - lower) * ((rank - seen) / n as f64);
            }
            seen = next;
        }
        self.max
    }

    fn add(&mut self, count: u64, errors: u64, bounds: Vec<f64>, counts: Vec<u64>, max: f64) {
        self.count += count;
        self.errors += errors;
        if self.counts.len() < counts.len() {
            self.counts.resize(counts.len(), 0);
        }
        for (c, n) in self.counts.iter_mut().zip(counts) {
            *c += n;
        }
        self.bounds = bounds;
        self.max = self.max.max(max);
    }
}

/// The rows of every service, as of the last export.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    rows: Arc<Mutex<BTreeMap<(String, String), BTreeMap<String, Row>>>>,
}

impl RouteTable {
    /// A reader for `service`'s meter provider that keeps this table up to date (at every
    /// export, and when the provider is flushed).
    pub fn reader(&self, service: &str) -> PeriodicReader<TableExporter> {
        PeriodicReader::builder(TableExporter {
            service: service.to_owned(),
            table: self.clone(),
        })
        .with_interval(Duration::from_secs(3600))
        .build()
    }

    /// `(service, route or method) -> row`.
    pub fn rows(&self) -> BTreeMap<(String, String), Row> {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        rows.iter()
            .map(|(key, by_series)| {
                let mut total = Row::default();
                for row in by_series.values() {
                    total.add(
                        row.count,
                        row.errors,
                        row.bounds.clone(),
                        row.counts.clone(),
                        row.max,
                    );
                }
                (key.clone(), total)
            })
            .collect()
    }

    /// The table as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<10} {:<34} {:>5} {:>9} {:>9} {:>6}",
            "service", "route / method", "count", "p50 ms", "p99 ms", "errors"
        );
        for ((service, route), row) in self.rows() {
            let _ = writeln!(
                out,
                "{:<10} {:<34} {:>5} {:>9.1} {:>9.1} {:>6}",
                service,
                route,
                row.count,
                row.quantile(0.5) * 1000.0,
                row.quantile(0.99) * 1000.0,
                row.errors
            );
        }
        out
    }
}

/// Feeds a [`RouteTable`] from a meter provider's exports.
#[derive(Debug)]
pub struct TableExporter {
    service: String,
    table: RouteTable,
}

const DURATIONS: [&str; 3] = [
    "http.server.request.duration",
    "rpc.server.call.duration",
    "http.client.request.duration",
];

impl PushMetricExporter for TableExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let mut rows = self.table.rows.lock().unwrap_or_else(|e| e.into_inner());
        for scope in metrics.scope_metrics() {
            for metric in scope.metrics() {
                let name = metric.name();
                if !DURATIONS[..2].contains(&name) {
                    continue;
                }
                let AggregatedMetrics::F64(MetricData::Histogram(h)) = metric.data() else {
                    continue;
                };
                for p in h.data_points() {
                    let attr = |key: &str| {
                        p.attributes()
                            .find(|kv| kv.key.as_str() == key)
                            .map(|kv| kv.value.to_string())
                    };
                    let route = match (attr("http.route"), attr("rpc.method")) {
                        (Some(route), _) => {
                            format!(
                                "{} {route}",
                                attr("http.request.method").unwrap_or_default()
                            )
                        }
                        (None, Some(method)) => method,
                        (None, None) => continue,
                    };
                    // One series per attribute set: cumulative, so each export replaces it.
                    let series = p
                        .attributes()
                        .map(|kv| format!("{}={}", kv.key, kv.value))
                        .collect::<Vec<_>>()
                        .join(",");
                    let errors = if attr("error.type").is_some() {
                        p.count()
                    } else {
                        0
                    };
                    let mut row = Row::default();
                    row.add(
                        p.count(),
                        errors,
                        p.bounds().collect(),
                        p.bucket_counts().collect(),
                        p.max().unwrap_or(0.0),
                    );
                    rows.entry((self.service.clone(), route))
                        .or_default()
                        .insert(series, row);
                }
            }
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

#[cfg(test)]
mod tests {
    use super::Row;

    #[test]
    fn quantiles_from_buckets() {
        let mut row = Row::default();
        // 10 values in (0.005, 0.01], 90 in (0.01, 0.025].
        row.add(100, 0, vec![0.005, 0.01, 0.025], vec![0, 10, 90, 0], 0.02);
        assert!((row.quantile(0.05) - 0.0075).abs() < 1e-9);
        let p50 = row.quantile(0.5);
        assert!(p50 > 0.01 && p50 <= 0.02, "{p50}");
        assert!(row.quantile(0.99) <= 0.02);
    }
}
