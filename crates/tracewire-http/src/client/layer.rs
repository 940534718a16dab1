use std::fmt;
use std::sync::Arc;

use http::Uri;
use tower::Layer;

use super::HttpClient;
use crate::filter::TraceAll;
use tracewire_core::SpanOptions;

type UriPredicate = Arc<dyn Fn(&Uri) -> bool + Send + Sync>;

/// Settings shared by every request (behind one `Arc`).
#[derive(Clone)]
pub(crate) struct ClientConfig {
    pub(crate) options: SpanOptions,
    pub(crate) sensitive_query_keys: Vec<String>,
    pub(crate) known_methods: crate::semconv::KnownMethods,
    pub(crate) send_context_to: Option<UriPredicate>,
    pub(crate) send_baggage_to: Option<UriPredicate>,
    pub(crate) metric: crate::metrics::MetricSettings,
    /// Server addresses as static strings, for the metrics (bounded).
    pub(crate) names: Arc<tracewire_core::intern::Interner>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("options", &self.options)
            .field("sensitive_query_keys", &self.sensitive_query_keys)
            .field("known_methods", &self.known_methods)
            .field(
                "send_context_to",
                &self.send_context_to.as_ref().map(|_| "predicate"),
            )
            .field(
                "send_baggage_to",
                &self.send_baggage_to.as_ref().map(|_| "predicate"),
            )
            .field("metric", &self.metric)
            .finish()
    }
}

impl ClientConfig {
    pub(crate) fn sends_context(&self, uri: &Uri) -> bool {
        self.send_context_to.as_ref().is_none_or(|p| p(uri))
    }

    pub(crate) fn sends_baggage(&self, uri: &Uri) -> bool {
        self.send_baggage_to.as_ref().is_some_and(|p| p(uri))
    }
}

/// Traces every request sent through the client it wraps: see the [module docs](super).
#[derive(Clone)]
#[must_use]
///
/// Generic over its hooks: `R` runs on the response ([`OnResponse`](crate::hooks::OnResponse)),
/// `F` filters requests ([`Filter`](crate::filter::Filter)), `Q` runs on the request once its
/// span exists ([`OnRequest`](crate::hooks::OnRequest)).
pub struct HttpClientLayer<R = (), F = TraceAll, Q = ()> {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) on_response: R,
    pub(crate) filter: F,
    pub(crate) on_request: Q,
}

impl Default for HttpClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClientLayer {
    /// W3C trace context (everywhere) and baggage (nowhere until allowed), bridged `tracing`
    /// spans for sampled parents.
    pub fn new() -> Self {
        Self {
            config: Arc::new(ClientConfig {
                options: SpanOptions::new(),
                sensitive_query_keys: Vec::new(),
                known_methods: crate::semconv::KnownMethods::from_env(),
                send_context_to: None,
                send_baggage_to: None,
                metric: crate::metrics::MetricSettings::new(true),
                names: Arc::default(),
            }),
            on_response: (),
            filter: TraceAll,
            on_request: (),
        }
    }
}

impl<R, F, Q> HttpClientLayer<R, F, Q> {
    fn config_mut(&mut self) -> &mut ClientConfig {
        Arc::make_mut(&mut self.config)
    }

    fn options_mut(&mut self) -> &mut SpanOptions {
        &mut self.config_mut().options
    }

    crate::options::span_options!("tracewire_http::client", HttpClientLayer);
    crate::options::tracer_provider_option!("tracewire_http::client", HttpClientLayer);
    crate::metrics::metric_options!("tracewire_http::client", HttpClientLayer);

    /// Also records `http.client.active_requests` (opt-in in the conventions), with the
    /// method, server address and port and scheme.
    ///
    /// ```
    /// use tracewire_http::client::HttpClientLayer;
    ///
    /// let layer = HttpClientLayer::new().active_requests_metric(true);
    /// ```
    pub fn active_requests_metric(mut self, enabled: bool) -> Self {
        self.config_mut().metric.set_active(enabled);
        self
    }

    /// Sends trace context only to the destinations `predicate` accepts (default: all).
    ///
    /// ```
    /// use tracewire_http::client::HttpClientLayer;
    ///
    /// let layer = HttpClientLayer::new()
    ///     .send_context_to(|uri: &http::Uri| uri.host().is_some_and(|h| h.ends_with(".internal")));
    /// ```
    pub fn send_context_to<P>(mut self, predicate: P) -> Self
    where
        P: Fn(&Uri) -> bool + Send + Sync + 'static,
    {
        self.config_mut().send_context_to = Some(Arc::new(predicate));
        self
    }

    /// Sends baggage only to the destinations `predicate` accepts (default: none, so that a
    /// third party never receives internal baggage).
    ///
    /// ```
    /// use tracewire_http::client::HttpClientLayer;
    ///
    /// let layer = HttpClientLayer::new()
    ///     .send_baggage_to(|uri: &http::Uri| uri.host().is_some_and(|h| h.ends_with(".internal")));
    /// ```
    pub fn send_baggage_to<P>(mut self, predicate: P) -> Self
    where
        P: Fn(&Uri) -> bool + Send + Sync + 'static,
    {
        self.config_mut().send_baggage_to = Some(Arc::new(predicate));
        self
    }

    /// Sends baggage to every destination (`true`) or to none (`false`, the default): the
    /// same as [`send_baggage_to`](Self::send_baggage_to) with a predicate that says so, and
    /// the same shape as the gRPC layers' `send_baggage`.
    ///
    /// ```
    /// use tracewire_http::client::HttpClientLayer;
    ///
    /// // A client that only ever talks to the service's own backends.
    /// let layer = HttpClientLayer::new().send_baggage(true);
    /// ```
    pub fn send_baggage(mut self, enabled: bool) -> Self {
        self.config_mut().send_baggage_to =
            enabled.then(|| Arc::new(|_: &Uri| true) as UriPredicate);
        self
    }

    /// The layer's logic for HTTP clients that are not tower services (see
    /// [`ClientTracer`](super::ClientTracer)).
    pub fn tracer(&self) -> super::ClientTracer {
        super::ClientTracer {
            config: self.config.clone(),
        }
    }

    /// Runs when the response headers arrive, for sampled requests (see
    /// [`OnResponse`](crate::hooks::OnResponse)).
    pub fn on_response<R2>(self, on_response: R2) -> HttpClientLayer<R2, F, Q> {
        HttpClientLayer {
            config: self.config,
            on_response,
            filter: self.filter,
            on_request: self.on_request,
        }
    }

    /// Runs when a sampled request's span exists, before the request is sent, in both span
    /// modes (see [`OnRequest`](crate::hooks::OnRequest)). The context headers are already
    /// in the request.
    ///
    /// ```
    /// use http::Request;
    /// use opentelemetry::KeyValue;
    /// use tracewire_http::client::HttpClientLayer;
    /// use tracewire_http::hooks::RequestSpan;
    ///
    /// let layer = HttpClientLayer::new().on_request(|request: &Request<String>, span: &RequestSpan<'_>| {
    ///     span.set_attribute(KeyValue::new("app.body_len", request.body().len() as i64));
    /// });
    /// # let _ = layer;
    /// ```
    pub fn on_request<Q2>(self, on_request: Q2) -> HttpClientLayer<R, F, Q2> {
        HttpClientLayer {
            config: self.config,
            on_response: self.on_response,
            filter: self.filter,
            on_request,
        }
    }

    /// Makes spans only for the requests `filter` accepts; the others still carry the
    /// context (see [`Filter`](crate::filter::Filter)).
    pub fn filter<F2>(self, filter: F2) -> HttpClientLayer<R, F2, Q> {
        HttpClientLayer {
            config: self.config,
            on_response: self.on_response,
            filter,
            on_request: self.on_request,
        }
    }
}

impl<S, R: Clone, F: Clone, Q: Clone> Layer<S> for HttpClientLayer<R, F, Q> {
    type Service = HttpClient<S, R, F, Q>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpClient {
            inner,
            config: self.config.clone(),
            on_response: self.on_response.clone(),
            filter: self.filter.clone(),
            on_request: self.on_request.clone(),
        }
    }
}

impl<R, F, Q> fmt::Debug for HttpClientLayer<R, F, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientLayer")
            .field("config", &self.config)
            .field("on_response", &std::any::type_name::<R>())
            .field("filter", &std::any::type_name::<F>())
            .field("on_request", &std::any::type_name::<Q>())
            .finish()
    }
}
