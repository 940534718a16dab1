use std::fmt;
use std::sync::Arc;

use tower::Layer;
use tracewire_core::filter::TraceAll;

use super::GrpcClient;
use crate::config::Config;

/// Traces every call made through the channel it wraps: see the [module docs](super).
///
/// Generic over its hooks, as the HTTP layers: `R` runs on the response headers
/// ([`OnResponse`](tracewire_core::hooks::OnResponse)), `F` filters calls
/// ([`Filter`](tracewire_core::filter::Filter)), `Q` runs once the call's span exists
/// ([`OnRequest`](tracewire_core::hooks::OnRequest)).
#[derive(Clone)]
#[must_use]
pub struct GrpcClientLayer<R = (), F = TraceAll, Q = ()> {
    pub(crate) config: Arc<Config>,
    pub(crate) on_response: R,
    pub(crate) filter: F,
    pub(crate) on_request: Q,
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
            config: Arc::new(Config::new(crate::semconv::Side::Client)),
            on_response: (),
            filter: TraceAll,
            on_request: (),
        }
    }
}

impl<R, F, Q> GrpcClientLayer<R, F, Q> {
    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    crate::metrics::metric_options!(GrpcClientLayer);
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

    /// Sends baggage with the calls `predicate` accepts, given the request's URI: the same
    /// shape as the HTTP client's `send_baggage_to`. A layer around a `Channel` sees the
    /// method's path (`/shop.Inventory/Reserve`) and no authority unless the client was made
    /// `with_origin`; choose by service there.
    ///
    /// ```
    /// use tracewire_tonic::GrpcClientLayer;
    ///
    /// let layer = GrpcClientLayer::new()
    ///     .send_baggage_to(|uri: &http::Uri| uri.path().starts_with("/shop."));
    /// ```
    pub fn send_baggage_to<P>(mut self, predicate: P) -> Self
    where
        P: Fn(&http::Uri) -> bool + Send + Sync + 'static,
    {
        self.config_mut().send_baggage_to = Some(crate::config::UriPredicate(Arc::new(predicate)));
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
    pub fn filter<F2>(self, filter: F2) -> GrpcClientLayer<R, F2, Q> {
        GrpcClientLayer {
            config: self.config,
            on_response: self.on_response,
            filter,
            on_request: self.on_request,
        }
    }

    /// Runs when a sampled call's span exists, before it is sent (the context is already in
    /// its metadata), in both span modes (see [`OnRequest`](tracewire_core::hooks::OnRequest)).
    ///
    /// ```
    /// use http::Request;
    /// use opentelemetry::KeyValue;
    /// use tracewire_core::RequestSpan;
    /// use tracewire_tonic::GrpcClientLayer;
    ///
    /// let layer = GrpcClientLayer::new().on_request(|request: &Request<tonic::body::Body>, span: &RequestSpan<'_>| {
    ///     let retry = request.headers().contains_key("x-retry");
    ///     span.set_attribute(KeyValue::new("app.retry", retry));
    /// });
    /// # let _ = layer;
    /// ```
    pub fn on_request<Q2>(self, on_request: Q2) -> GrpcClientLayer<R, F, Q2> {
        GrpcClientLayer {
            config: self.config,
            on_response: self.on_response,
            filter: self.filter,
            on_request,
        }
    }

    /// Runs when the response headers arrive, for sampled calls (see
    /// [`OnResponse`](tracewire_core::hooks::OnResponse)); the span ends with the status.
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::Response;
    /// use opentelemetry::KeyValue;
    /// use tracewire_core::RequestSpan;
    /// use tracewire_tonic::GrpcClientLayer;
    ///
    /// let layer = GrpcClientLayer::new().on_response(
    ///     |response: &Response<tonic::body::Body>, _latency: Duration, span: &RequestSpan<'_>| {
    ///         if let Some(region) = response.headers().get("x-region").and_then(|v| v.to_str().ok()) {
    ///             span.set_attribute(KeyValue::new("app.region", region.to_owned()));
    ///         }
    ///     },
    /// );
    /// # let _ = layer;
    /// ```
    pub fn on_response<R2>(self, on_response: R2) -> GrpcClientLayer<R2, F, Q> {
        GrpcClientLayer {
            config: self.config,
            on_response,
            filter: self.filter,
            on_request: self.on_request,
        }
    }
}

impl<S, R: Clone, F: Clone, Q: Clone> Layer<S> for GrpcClientLayer<R, F, Q> {
    type Service = GrpcClient<S, R, F, Q>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcClient {
            inner,
            config: self.config.clone(),
            on_response: self.on_response.clone(),
            filter: self.filter.clone(),
            on_request: self.on_request.clone(),
        }
    }
}

impl<R, F, Q> fmt::Debug for GrpcClientLayer<R, F, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcClientLayer")
            .field("config", &self.config)
            .field("on_response", &std::any::type_name::<R>())
            .field("filter", &std::any::type_name::<F>())
            .field("on_request", &std::any::type_name::<Q>())
            .finish()
    }
}
