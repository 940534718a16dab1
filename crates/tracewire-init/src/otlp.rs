//! The OTLP exporters' settings per signal: `OTEL_EXPORTER_OTLP_{TRACES_,METRICS_,}HEADERS`,
//! `_TIMEOUT` (ms) and `_COMPRESSION` (`gzip`, `none`), the signal's variable first, read
//! through `Setup::env`, and the exporters built with them.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};

use crate::{InitError, Protocol, Setup, error};

/// What an OTLP exporter is given beyond its endpoint.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) gzip: bool,
}

impl Setup {
    /// The options of `signal` (`TRACES` or `METRICS`).
    pub(crate) fn otlp_options(&self, signal: &str) -> Result<Options, InitError> {
        let read = |name: &str| -> Option<(&'static str, String)> {
            let specific: &'static str = match (signal, name) {
                ("TRACES", "HEADERS") => "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                ("TRACES", "TIMEOUT") => "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                ("TRACES", _) => "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                (_, "HEADERS") => "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
                (_, "TIMEOUT") => "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
                _ => "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
            };
            let general: &'static str = match name {
                "HEADERS" => "OTEL_EXPORTER_OTLP_HEADERS",
                "TIMEOUT" => "OTEL_EXPORTER_OTLP_TIMEOUT",
                _ => "OTEL_EXPORTER_OTLP_COMPRESSION",
            };
            self.var(specific)
                .map(|v| (specific, v))
                .or_else(|| self.var(general).map(|v| (general, v)))
        };
        let mut options = Options::default();
        if let Some((variable, raw)) = read("HEADERS") {
            match parse_headers(&raw) {
                Some(headers) => options.headers = headers,
                None => self.lenient(error(variable, &raw, "not key=value,…"))?,
            }
        }
        if let Some((variable, raw)) = read("TIMEOUT") {
            match raw.trim().parse::<u64>() {
                Ok(ms) => options.timeout = Some(Duration::from_millis(ms)),
                Err(_) => {
                    self.lenient(error(variable, &raw, "not a number of milliseconds"))?;
                }
            }
        }
        if let Some((variable, raw)) = read("COMPRESSION") {
            match raw.trim().to_ascii_lowercase().as_str() {
                "gzip" => options.gzip = true,
                "none" => {}
                _ => self.lenient(error(variable, &raw, "not gzip or none"))?,
            }
        }
        Ok(options)
    }
}

/// `key=value,…` with percent-decoded values; `None` when a pair is not `key=value`.
fn parse_headers(raw: &str) -> Option<Vec<(String, String)>> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let key = key.trim();
            (!key.is_empty()).then(|| {
                (
                    key.to_ascii_lowercase(),
                    tracewire_propagation::baggage::percent_decode(value.trim()).into_owned(),
                )
            })
        })
        .collect()
}

fn metadata(headers: &[(String, String)]) -> tonic::metadata::MetadataMap {
    let mut map = tonic::metadata::MetadataMap::new();
    for (key, value) in headers {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            map.insert(key, value);
        }
    }
    map
}

fn http_protocol(protocol: Protocol) -> opentelemetry_otlp::Protocol {
    match protocol {
        Protocol::HttpJson => opentelemetry_otlp::Protocol::HttpJson,
        _ => opentelemetry_otlp::Protocol::HttpBinary,
    }
}

/// A gRPC exporter builder given `endpoint` and `options`.
fn tonic_config<B>(builder: B, endpoint: Option<&str>, options: &Options) -> B
where
    B: WithExportConfig + WithTonicConfig,
{
    let mut b = builder.with_metadata(metadata(&options.headers));
    if let Some(e) = endpoint {
        b = b.with_endpoint(e);
    }
    if let Some(t) = options.timeout {
        b = b.with_timeout(t);
    }
    if options.gzip {
        b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    b
}

/// An HTTP exporter builder given `protocol`, `endpoint` and `options`.
fn http_config<B>(builder: B, protocol: Protocol, endpoint: Option<&str>, options: &Options) -> B
where
    B: WithExportConfig + WithHttpConfig,
{
    let headers: HashMap<String, String> = options.headers.iter().cloned().collect();
    let mut b = builder
        .with_protocol(http_protocol(protocol))
        .with_headers(headers);
    if let Some(e) = endpoint {
        b = b.with_endpoint(e);
    }
    if let Some(t) = options.timeout {
        b = b.with_timeout(t);
    }
    if options.gzip {
        b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    b
}

/// The span exporter for `protocol`, `endpoint` and `options`.
pub(crate) fn span_exporter(
    protocol: Protocol,
    endpoint: Option<&str>,
    options: &Options,
) -> Result<opentelemetry_otlp::SpanExporter, opentelemetry_otlp::ExporterBuildError> {
    let builder = opentelemetry_otlp::SpanExporter::builder();
    match protocol {
        Protocol::Grpc => tonic_config(builder.with_tonic(), endpoint, options).build(),
        Protocol::HttpProtobuf | Protocol::HttpJson => {
            http_config(builder.with_http(), protocol, endpoint, options).build()
        }
    }
}

/// The metric exporter for `protocol`, `endpoint` and `options`.
pub(crate) fn metric_exporter(
    protocol: Protocol,
    endpoint: Option<&str>,
    options: &Options,
) -> Result<opentelemetry_otlp::MetricExporter, opentelemetry_otlp::ExporterBuildError> {
    let builder = opentelemetry_otlp::MetricExporter::builder();
    match protocol {
        Protocol::Grpc => tonic_config(builder.with_tonic(), endpoint, options).build(),
        Protocol::HttpProtobuf | Protocol::HttpJson => {
            http_config(builder.with_http(), protocol, endpoint, options).build()
        }
    }
}
