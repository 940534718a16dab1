use std::fmt;
use std::sync::Arc;

use tower::Layer;
use tracewire_core::filter::TraceAll;

use super::GrpcClient;
use crate::config::Config;

/// Traces every call made through the channel it wraps: see the [module docs](super).
///
/// Generic over its filter `F` ([`Filter`](tracewire_core::filter::Filter)).
#[derive(Clone)]
#[must_use]
pub struct GrpcClientLayer<F = TraceAll> {
    pub(crate) config: Arc<Config>,
    pub(crate) filter: F,
}

impl Default for GrpcClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcClientLayer {
    /// W3C trace context (baggage withheld until [`send_baggage`](Self::send_baggage)),
    /// bridged `tracing` spans for sampled parents, every call but health checks and
    /// reflection traced.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config::new()),
            filter: TraceAll,
        }
    }
}

impl<F> GrpcClientLayer<F> {
    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    crate::options::grpc_options!(GrpcClientLayer);

    /// Sends baggage (and the custom fields carried in it) with the context (off by default:
    /// internal baggage reaches a server only when you say so).
    ///
    /// ```
    /// use tracewire_tonic::GrpcClientLayer;
    ///
    /// let layer = GrpcClientLayer::new().send_baggage(true);
    /// ```
    pub fn send_baggage(mut self, enabled: bool) -> Self {
        self.config_mut().send_baggage = enabled;
        self
    }

    /// The server this channel talks to, for `server.address` and `server.port`. A layer
    /// around a `Channel` sees requests before the channel adds its origin, so it cannot read
    /// them from the request unless the client was made `with_origin`.
    ///
    /// ```
    /// use tracewire_tonic::GrpcClientLayer;
    ///
    /// let layer = GrpcClientLayer::new().target("http://inventory.internal:50051");
    /// ```
    pub fn target(mut self, target: &str) -> Self {
        self.config_mut().target = target.parse::<http::Uri>().ok().and_then(|uri| {
            let host = tracewire_core::addr::uri_host(&uri)?.to_owned();
            Some((host, tracewire_core::addr::uri_port(&uri)))
        });
        self
    }

    /// Traces only the calls `filter` accepts (see [`Filter`](tracewire_core::filter::Filter));
    /// a call it rejects gets no span but still carries the current context.
    ///
    /// ```
    /// use tracewire_tonic::GrpcClientLayer;
    ///
    /// let layer = GrpcClientLayer::new()
    ///     .filter(|request: &http::Request<tonic::body::Body>| !request.uri().path().ends_with("/Ping"));
    /// ```
    pub fn filter<F2>(self, filter: F2) -> GrpcClientLayer<F2> {
        GrpcClientLayer {
            config: self.config,
            filter,
        }
    }
}

impl<S, F: Clone> Layer<S> for GrpcClientLayer<F> {
    type Service = GrpcClient<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcClient {
            inner,
            config: self.config.clone(),
            filter: self.filter.clone(),
        }
    }
}

impl<F> fmt::Debug for GrpcClientLayer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcClientLayer")
            .field("config", &self.config)
            .field("filter", &std::any::type_name::<F>())
            .finish()
    }
}
