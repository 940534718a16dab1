use std::fmt;
use std::sync::Arc;

use tower::Layer;
use tracewire_core::TrustPolicy;
use tracewire_core::filter::TraceAll;

use super::GrpcServer;
use crate::config::Config;

/// Traces every call the gRPC server it wraps receives: see the [module docs](super).
///
/// Generic over its filter `F` ([`Filter`](tracewire_core::filter::Filter)).
#[derive(Clone)]
#[must_use]
pub struct GrpcServerLayer<F = TraceAll> {
    pub(crate) config: Arc<Config>,
    pub(crate) filter: F,
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
            config: Arc::new(Config::new()),
            filter: TraceAll,
        }
    }
}

impl<F> GrpcServerLayer<F> {
    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

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
    pub fn filter<F2>(self, filter: F2) -> GrpcServerLayer<F2> {
        GrpcServerLayer {
            config: self.config,
            filter,
        }
    }
}

impl<S, F: Clone> Layer<S> for GrpcServerLayer<F> {
    type Service = GrpcServer<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcServer {
            inner,
            config: self.config.clone(),
            filter: self.filter.clone(),
        }
    }
}

impl<F> fmt::Debug for GrpcServerLayer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcServerLayer")
            .field("config", &self.config)
            .field("filter", &std::any::type_name::<F>())
            .finish()
    }
}
