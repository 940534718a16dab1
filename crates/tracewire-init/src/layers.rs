//! Layers wired from the installed set-up: its propagator, its sampler (the layer decides; the
//! provider, built with `LayerSampler`, keeps that decision, so nothing samples twice), its
//! tracer provider (the direct mode: the set-up installs the log correlation that mode relies
//! on, `TraceIdFormat` and `SpanEventsLayer`) and its meter provider.

use opentelemetry_sdk::trace::ShouldSample;
use tracewire_sampling::NamedSampler;

use crate::Guard;

/// A sampler given to the set-up as a box, for a layer.
#[derive(Debug)]
struct Boxed(Box<dyn ShouldSample>);

impl Clone for Boxed {
    fn clone(&self) -> Self {
        Self(self.0.box_clone())
    }
}

impl ShouldSample for Boxed {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: opentelemetry::trace::TraceId,
        name: &str,
        span_kind: &opentelemetry::trace::SpanKind,
        attributes: &[opentelemetry::KeyValue],
        links: &[opentelemetry::trace::Link],
    ) -> opentelemetry_sdk::trace::SamplingResult {
        self.0
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

/// Gives a layer the set-up's sampler, as its own type where it has one.
macro_rules! with_sampler {
    ($guard:expr, $layer:expr) => {
        match $guard.built.named.clone() {
            Some(NamedSampler::Sdk(sampler)) => $layer.sampler(sampler),
            Some(other) => $layer.sampler(other),
            None => $layer.sampler(Boxed($guard.sampler())),
        }
    };
}

impl Guard {
    /// An HTTP server layer wired to this set-up (features `http`).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tracewire_init::InitError> {
    /// use axum::{Router, routing::get};
    ///
    /// let telemetry = tracewire_init::Setup::new().service_name("users").install()?;
    /// let app: Router = Router::new()
    ///     .route("/users/{id}", get(|| async { "alice" }))
    ///     .layer(telemetry.http_server_layer());
    /// # let _ = app;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "http")]
    pub fn http_server_layer(
        &self,
    ) -> tracewire_http::server::HttpServerLayer<tracewire_http::hooks::DirectSpans> {
        with_sampler!(self, tracewire_http::server::HttpServerLayer::new())
            .propagator(self.propagator())
            .meter_provider(self.meter_provider())
            .tracer_provider(self.provider())
    }

    /// An HTTP client layer wired to this set-up (feature `http`): for any tower HTTP client.
    #[cfg(feature = "http")]
    pub fn http_client_layer(&self) -> tracewire_http::client::HttpClientLayer {
        with_sampler!(self, tracewire_http::client::HttpClientLayer::new())
            .propagator(self.propagator())
            .meter_provider(self.meter_provider())
            .tracer_provider(self.provider())
    }

    /// The reqwest-middleware integration wired to this set-up (feature `reqwest`).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tracewire_init::InitError> {
    /// let telemetry = tracewire_init::Setup::new().install()?;
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     .with(telemetry.reqwest_middleware())
    ///     .build();
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "reqwest")]
    pub fn reqwest_middleware(&self) -> tracewire_reqwest::TracingMiddleware {
        tracewire_reqwest::TracingMiddleware::from_layer(&self.http_client_layer())
    }

    /// A gRPC server layer wired to this set-up (feature `grpc`).
    #[cfg(feature = "grpc")]
    pub fn grpc_server_layer(&self) -> tracewire_tonic::GrpcServerLayer {
        with_sampler!(self, tracewire_tonic::GrpcServerLayer::new())
            .propagator(self.propagator())
            .meter_provider(self.meter_provider())
            .tracer_provider(self.provider())
    }

    /// A gRPC client layer wired to this set-up for the server at `target` (its
    /// `server.address` and `server.port`; feature `grpc`).
    #[cfg(feature = "grpc")]
    pub fn grpc_client_layer(&self, target: &str) -> tracewire_tonic::GrpcClientLayer {
        with_sampler!(self, tracewire_tonic::GrpcClientLayer::new())
            .propagator(self.propagator())
            .meter_provider(self.meter_provider())
            .tracer_provider(self.provider())
            .target(target)
    }

    /// The inject-only interceptor for generated tonic clients, with this set-up's
    /// propagator (feature `grpc`).
    #[cfg(feature = "grpc")]
    pub fn interceptor(&self) -> tracewire_tonic::TraceContextInterceptor {
        tracewire_tonic::TraceContextInterceptor::new().propagator(self.propagator())
    }
}
