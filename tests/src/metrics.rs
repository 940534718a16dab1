//! An SDK meter provider with an in-memory exporter, and the data points it holds, by
//! instrument name.

use std::collections::BTreeMap;

use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

/// A meter provider whose metrics are read back in the test.
#[derive(Debug, Clone)]
pub struct MetricSink {
    /// Give it to the layers with `.meter_provider(&sink.provider)`.
    pub provider: SdkMeterProvider,
    exporter: InMemoryMetricExporter,
}

/// One data point: its attributes (values as strings), and for a histogram its count, sum and
/// bucket bounds, for a sum its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The instrument's unit.
    pub unit: String,
    /// The attributes, values as strings.
    pub attributes: BTreeMap<String, String>,
    /// Histogram: how many; sum: the value.
    pub count: f64,
    /// Histogram: the sum of the values.
    pub sum: f64,
    /// Histogram: the bucket boundaries.
    pub bounds: Vec<f64>,
}

impl Point {
    /// The attribute `key`.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

impl Default for MetricSink {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricSink {
    /// A fresh provider and exporter.
    pub fn new() -> Self {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        Self { provider, exporter }
    }

    /// The data points of the instrument `name`, as of now.
    pub fn points(&self, name: &str) -> Vec<Point> {
        self.provider.force_flush().unwrap();
        let exported = self.exporter.get_finished_metrics().unwrap();
        let Some(last) = exported.last() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for scope in last.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == name) {
                let unit = metric.unit().to_owned();
                let attrs = |it: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
                    it.map(|kv| (kv.key.to_string(), kv.value.to_string()))
                        .collect::<BTreeMap<_, _>>()
                };
                match metric.data() {
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            out.push(Point {
                                unit: unit.clone(),
                                attributes: attrs(&mut p.attributes()),
                                count: p.count() as f64,
                                sum: p.sum(),
                                bounds: p.bounds().collect(),
                            });
                        }
                    }
                    AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            out.push(Point {
                                unit: unit.clone(),
                                attributes: attrs(&mut p.attributes()),
                                count: p.count() as f64,
                                sum: p.sum() as f64,
                                bounds: p.bounds().collect(),
                            });
                        }
                    }
                    AggregatedMetrics::I64(MetricData::Sum(s)) => {
                        for p in s.data_points() {
                            out.push(Point {
                                unit: unit.clone(),
                                attributes: attrs(&mut p.attributes()),
                                count: p.value() as f64,
                                sum: p.value() as f64,
                                bounds: Vec::new(),
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        out
    }

    /// The data point of `name` whose attributes include all of `with`.
    pub fn point(&self, name: &str, with: &[(&str, &str)]) -> Option<Point> {
        self.points(name)
            .into_iter()
            .find(|p| with.iter().all(|(k, v)| p.attr(k) == Some(*v)))
    }
}
