//! A Prometheus text endpoint for the metrics (feature `prometheus`; also `tracewire_http::prometheus`), built on
//! `opentelemetry-prometheus`: a metric reader for the SDK's meter provider, and a tower
//! service that answers a scrape with the text format. Mount it where Prometheus scrapes.
//!
//! ```
//! use axum::{Router, routing::get};
//! use opentelemetry_sdk::metrics::SdkMeterProvider;
//! use tracewire_core::prometheus::PrometheusEndpoint;
//! use tracewire_http::server::HttpServerLayer;
//!
//! let (reader, endpoint) = PrometheusEndpoint::new().expect("the Prometheus exporter");
//! let provider = SdkMeterProvider::builder().with_reader(reader).build();
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "alice" }))
//!     .layer(HttpServerLayer::new().meter_provider(&provider))
//!     // Outside the traced routes: scrapes get no span and no metrics of their own.
//!     .route_service("/metrics", endpoint);
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::task::{Context as TaskContext, Poll};

use http::{Request, Response, StatusCode, header};
use opentelemetry_prometheus::PrometheusExporter;
use prometheus::{Encoder, Registry, TextEncoder};

/// The scrape endpoint: a tower service answering every request with the metrics in the
/// Prometheus text format. Cheap to clone.
#[derive(Clone)]
pub struct PrometheusEndpoint {
    registry: Registry,
}

impl fmt::Debug for PrometheusEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusEndpoint").finish_non_exhaustive()
    }
}

impl PrometheusEndpoint {
    /// A metric reader (give it to `SdkMeterProvider::builder().with_reader(..)`) and the
    /// endpoint that serves what it reads.
    pub fn new() -> Result<(PrometheusExporter, Self), opentelemetry_sdk::error::OTelSdkError> {
        let registry = Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()?;
        Ok((exporter, Self { registry }))
    }

    /// The metrics as the text format, now.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a `Vec` fails only on invalid metric families, which the exporter
        // does not make; an error leaves what was written.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl<B> tower::Service<Request<B>> for PrometheusEndpoint {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let response =
            if request.method() == http::Method::GET || request.method() == http::Method::HEAD {
                Response::builder()
                    .header(header::CONTENT_TYPE, TextEncoder::new().format_type())
                    .body(self.render())
            } else {
                Response::builder()
                    .status(StatusCode::METHOD_NOT_ALLOWED)
                    .header(header::ALLOW, "GET, HEAD")
                    .body(String::new())
            };
        ready(Ok(response.unwrap_or_default()))
    }
}
