use std::fmt;
use std::sync::Arc;

use tower::Layer;
use tracewire_core::TrustPolicy;
use tracewire_core::filter::TraceAll;

use super::GrpcServer;
use crate::config::Config;

/// Traces every call the gRPC server it wraps receives: see the [module docs](super).
///
/// Generic over its hooks, as the HTTP layers: `R` runs on the response headers
/// ([`OnResponse`](tracewire_core::hooks::OnResponse)), `F` filters calls
/// ([`Filter`](tracewire_core::filter::Filter)), `Q` runs once the call's span exists
/// ([`OnRequest`](tracewire_core::hooks::OnRequest)).
#[derive(Clone)]
#[must_use]
pub struct GrpcServerLayer<R = (), F = TraceAll, Q = ()> {
    pub(crate) config: Arc<Config>,
    pub(crate) on_response: R,
    pub(crate) filter: F,
    pub(crate) on_request: Q,
}

impl Default for GrpcServerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcServerLayer {
    /// W3C trace context and baggage, `ParentBased(AlwaysOn)` sampling, bridged `tracing`
    /// spans, every call but health checks and reflection traced.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config::new(crate::semconv::Side::Server)),
            on_response: (),
            filter: TraceAll,
            on_request: (),
        }
    }
}

impl<R, F, Q> GrpcServerLayer<R, F, Q> {
    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    crate::metrics::metric_options!(GrpcServerLayer);
    crate::options::grpc_options!(GrpcServerLayer);

    /// What to do with an incoming context (default [`TrustPolicy::Trust`]).
    ///
    /// ```
    /// use tracewire_tonic::GrpcServerLayer;
    /// use tracewire_tonic::server::TrustPolicy;
    ///
    /// // A public endpoint: callers cannot force sampling.
    /// let layer = GrpcServerLayer::new().trust_policy(TrustPolicy::OwnSampling);
    /// ```
    pub fn trust_policy(mut self, policy: TrustPolicy) -> Self {
        self.config_mut().trust = policy;
        self
    }

    /// Traces only the calls `filter` accepts (see [`Filter`](tracewire_core::filter::Filter));
    /// a call it rejects gets no span, but its context still reaches the handler. Health
    /// checks and reflection stay untraced unless
    /// [`trace_health_checks`](Self::trace_health_checks) says otherwise.
    ///
    /// ```
    /// use tracewire_tonic::GrpcServerLayer;
    ///
    /// let layer = GrpcServerLayer::new()
    ///     .filter(|request: &http::Request<tonic::body::Body>| !request.uri().path().starts_with("/admin."));
    /// ```
    pub fn filter<F2>(self, filter: F2) -> GrpcServerLayer<R, F2, Q> {
        GrpcServerLayer {
            config: self.config,
            on_response: self.on_response,
            filter,
            on_request: self.on_request,
        }
    }

    /// Runs when a sampled call's span exists, before the service is called, in both span
    /// modes (see [`OnRequest`](tracewire_core::hooks::OnRequest)).
    ///
    /// ```
    /// use http::Request;
    /// use opentelemetry::KeyValue;
    /// use tracewire_core::RequestSpan;
    /// use tracewire_tonic::GrpcServerLayer;
    ///
    /// let layer = GrpcServerLayer::new().on_request(|request: &Request<tonic::body::Body>, span: &RequestSpan<'_>| {
    ///     if let Some(tenant) = request.headers().get("x-tenant").and_then(|v| v.to_str().ok()) {
    ///         span.set_attribute(KeyValue::new("app.tenant", tenant.to_owned()));
    ///     }
    /// });
    /// # let _ = layer;
    /// ```
    pub fn on_request<Q2>(self, on_request: Q2) -> GrpcServerLayer<R, F, Q2> {
        GrpcServerLayer {
            config: self.config,
            on_response: self.on_response,
            filter: self.filter,
            on_request,
        }
    }

    /// Runs when the service's response headers are ready, for sampled calls (see
    /// [`OnResponse`](tracewire_core::hooks::OnResponse)). The call's status usually comes
    /// later, in the trailers; the span ends then.
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::Response;
    /// use opentelemetry::KeyValue;
    /// use tracewire_core::RequestSpan;
    /// use tracewire_tonic::GrpcServerLayer;
    ///
    /// let layer = GrpcServerLayer::new().on_response(
    ///     |response: &Response<tonic::body::Body>, latency: Duration, span: &RequestSpan<'_>| {
    ///         let _ = response;
    ///         span.set_attribute(KeyValue::new("app.time_to_headers_ms", latency.as_millis() as i64));
    ///     },
    /// );
    /// # let _ = layer;
    /// ```
    pub fn on_response<R2>(self, on_response: R2) -> GrpcServerLayer<R2, F, Q> {
        GrpcServerLayer {
            config: self.config,
            on_response,
            filter: self.filter,
            on_request: self.on_request,
        }
    }
}

impl<S, R: Clone, F: Clone, Q: Clone> Layer<S> for GrpcServerLayer<R, F, Q> {
    type Service = GrpcServer<S, R, F, Q>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcServer {
            inner,
            config: self.config.clone(),
            on_response: self.on_response.clone(),
            filter: self.filter.clone(),
            on_request: self.on_request.clone(),
        }
    }
}

impl<R, F, Q> fmt::Debug for GrpcServerLayer<R, F, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcServerLayer")
            .field("config", &self.config)
            .field("on_response", &std::any::type_name::<R>())
            .field("filter", &std::any::type_name::<F>())
            .field("on_request", &std::any::type_name::<Q>())
            .finish()
    }
}
