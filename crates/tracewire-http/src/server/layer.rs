use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use tower::Layer;
use tracewire_core::SpanOptions;
use tracewire_core::intern::Interner;

use super::{HttpServer, ResponseHeader, TrustPolicy};
use crate::filter::TraceAll;
use crate::hooks::{DefaultMakeSpan, DirectSpans};
use crate::semconv::SENSITIVE_HEADERS;

/// Which responses end their call at the headers (see [`HttpServerLayer::end_at_headers`]).
pub(crate) type EndAtHeaders =
    Arc<dyn Fn(http::StatusCode, &http::HeaderMap) -> bool + Send + Sync>;

/// Settings shared by every request (behind one `Arc`).
pub(crate) struct Config {
    pub(crate) options: SpanOptions,
    pub(crate) sensitive_query_keys: Vec<String>,
    pub(crate) names: Arc<Interner>,
    pub(crate) trust: TrustPolicy,
    pub(crate) response_header: Option<ResponseHeader>,
    pub(crate) trusted_proxies: Vec<IpAddr>,
    /// `url.scheme` when the request does not say (its URI has no scheme, no trusted proxy).
    pub(crate) url_scheme: &'static str,
    pub(crate) known_methods: crate::semconv::KnownMethods,
    pub(crate) end_at_headers: Option<EndAtHeaders>,
    /// Routes (templates) whose responses end the call at their headers.
    pub(crate) end_at_headers_routes: Vec<String>,
    pub(crate) request_headers: Vec<http::HeaderName>,
    pub(crate) response_headers: Vec<http::HeaderName>,
    pub(crate) metric: crate::metrics::MetricSettings,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("options", &self.options)
            .field("sensitive_query_keys", &self.sensitive_query_keys)
            .field("trust", &self.trust)
            .field("response_header", &self.response_header)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("url_scheme", &self.url_scheme)
            .field("known_methods", &self.known_methods)
            .field(
                "end_at_headers",
                &self.end_at_headers.as_ref().map(|_| "predicate"),
            )
            .field("end_at_headers_routes", &self.end_at_headers_routes)
            .field("request_headers", &self.request_headers)
            .field("response_headers", &self.response_headers)
            .field("metric", &self.metric)
            .finish()
    }
}

impl Clone for Config {
    fn clone(&self) -> Self {
        Self {
            options: self.options.clone(),
            sensitive_query_keys: self.sensitive_query_keys.clone(),
            names: self.names.clone(),
            trust: self.trust,
            response_header: self.response_header.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            url_scheme: self.url_scheme,
            known_methods: self.known_methods.clone(),
            end_at_headers: self.end_at_headers.clone(),
            end_at_headers_routes: self.end_at_headers_routes.clone(),
            request_headers: self.request_headers.clone(),
            response_headers: self.response_headers.clone(),
            metric: self.metric.clone(),
        }
    }
}

/// Traces every request of the service it wraps: see the [module docs](super).
///
/// Generic over its hooks: `M` makes the span ([`MakeSpan`](crate::hooks::MakeSpan), or
/// [`DirectSpans`] in the direct mode), `R` runs on the response
/// ([`OnResponse`](crate::hooks::OnResponse)), `F` filters requests
/// ([`Filter`](crate::filter::Filter)), `Q` runs on the request once its span exists
/// ([`OnRequest`](crate::hooks::OnRequest)).
#[derive(Clone)]
#[must_use]
pub struct HttpServerLayer<M = DefaultMakeSpan, R = (), F = TraceAll, Q = ()> {
    pub(crate) config: Arc<Config>,
    pub(crate) make_span: M,
    pub(crate) on_response: R,
    pub(crate) filter: F,
    pub(crate) on_request: Q,
}

impl Default for HttpServerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpServerLayer {
    /// W3C trace context and baggage, `ParentBased(AlwaysOn)` sampling, every request traced.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                options: SpanOptions::new(),
                sensitive_query_keys: Vec::new(),
                names: Arc::default(),
                trust: TrustPolicy::Trust,
                response_header: None,
                trusted_proxies: Vec::new(),
                url_scheme: "http",
                known_methods: crate::semconv::KnownMethods::from_env(),
                end_at_headers: None,
                end_at_headers_routes: Vec::new(),
                request_headers: Vec::new(),
                response_headers: Vec::new(),
                metric: crate::metrics::MetricSettings::new(false),
            }),
            make_span: DefaultMakeSpan,
            on_response: (),
            filter: TraceAll,
            on_request: (),
        }
    }
}

/// The doc text of `tracer_provider` on both states of the layer.
macro_rules! server_tracer_provider_doc {
    () => {
        "Makes the spans of sampled requests directly with `provider`'s tracer instead of as \
         bridged `tracing` spans: the cheaper path, measured in the benchmarks.\n\n\
         What changes: the span is an OpenTelemetry span of its own (no `tracing` span). The \
         request's context is current while the inner service runs, so `tracing` spans made \
         inside it become its children, log lines carry its ids with \
         `tracewire_core::fmt::TraceIdFormat` (feature `fmt`), and log events become span \
         events with `tracewire_core::events::SpanEventsLayer` (feature `events`). Build the \
         provider with `tracewire_core::provider::CallIdGenerator` so the span gets the ids its \
         sampling decision was made on.\n\n\
         The layer's type becomes `HttpServerLayer<DirectSpans, ..>`, which has no \
         `make_span_with` (and a layer with a span maker has no `tracer_provider`): a `tracing` \
         span maker would do nothing here. `on_request` and `on_response` work in both modes. \
         To choose the mode at run time, wrap the two layers in `tower::util::Either`.\n\n\
         ```\n\
         use opentelemetry_sdk::trace::SdkTracerProvider;\n\
         use tracewire_core::provider::CallIdGenerator;\n\
         use tracewire_http::server::HttpServerLayer;\n\n\
         let provider = SdkTracerProvider::builder().with_id_generator(CallIdGenerator::new()).build();\n\
         let layer = HttpServerLayer::new().tracer_provider(&provider);\n\
         ```"
    };
}

impl<R, F, Q> HttpServerLayer<DefaultMakeSpan, R, F, Q> {
    #[doc = server_tracer_provider_doc!()]
    pub fn tracer_provider<P>(self, provider: &P) -> HttpServerLayer<DirectSpans, R, F, Q>
    where
        P: opentelemetry::trace::TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        HttpServerLayer {
            config: self.config,
            make_span: DirectSpans,
            on_response: self.on_response,
            filter: self.filter,
            on_request: self.on_request,
        }
        .tracer_provider(provider)
    }

    /// Makes the `tracing` span of a sampled request (see
    /// [`MakeSpan`](crate::hooks::MakeSpan)). Set once; not available in the direct mode.
    pub fn make_span_with<M2>(self, make_span: M2) -> HttpServerLayer<M2, R, F, Q> {
        HttpServerLayer {
            config: self.config,
            make_span,
            on_response: self.on_response,
            filter: self.filter,
            on_request: self.on_request,
        }
    }
}

impl<R, F, Q> HttpServerLayer<DirectSpans, R, F, Q> {
    #[doc = server_tracer_provider_doc!()]
    pub fn tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: opentelemetry::trace::TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        self.options_mut().set_tracer_provider(
            provider,
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
        );
        self
    }
}

impl<M, R, F, Q> HttpServerLayer<M, R, F, Q> {
    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    fn options_mut(&mut self) -> &mut SpanOptions {
        &mut self.config_mut().options
    }

    crate::options::span_options!("tracewire_http::server", HttpServerLayer);
    crate::metrics::metric_options!("tracewire_http::server", HttpServerLayer);

    /// What to do with an incoming context (default [`TrustPolicy::Trust`]).
    ///
    /// ```
    /// use tracewire_http::server::{HttpServerLayer, TrustPolicy};
    ///
    /// // A public edge: callers cannot force sampling.
    /// let layer = HttpServerLayer::new().trust_policy(TrustPolicy::OwnSampling);
    /// ```
    pub fn trust_policy(mut self, policy: TrustPolicy) -> Self {
        self.config_mut().trust = policy;
        self
    }

    /// Sends a header that lets the caller find the trace (off by default).
    ///
    /// ```
    /// use tracewire_http::server::{HttpServerLayer, ResponseHeader};
    ///
    /// let layer = HttpServerLayer::new().response_header(ResponseHeader::TraceResponse);
    /// let layer = HttpServerLayer::new()
    ///     .response_header(ResponseHeader::TraceId(http::HeaderName::from_static("x-trace-id")));
    /// ```
    pub fn response_header(mut self, header: ResponseHeader) -> Self {
        self.config_mut().response_header = Some(header);
        self
    }

    /// Proxies whose `Forwarded`/`X-Forwarded-*` headers are believed for `client.address`,
    /// `url.scheme` and `server.address` (by default none are: those headers are ignored).
    ///
    /// ```
    /// use std::net::IpAddr;
    /// use tracewire_http::server::HttpServerLayer;
    ///
    /// let layer = HttpServerLayer::new().trusted_proxies(["10.0.0.1".parse::<IpAddr>().unwrap()]);
    /// ```
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        self.config_mut().trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// Ends the span of a response `predicate` accepts when its headers are sent, instead of
    /// when its body ends (the default): for Server-Sent Events and long polls, whose body
    /// lasts as long as the client stays. The span then times the time to the headers.
    /// Responses with no body to follow (`HEAD`, `101 Switching Protocols`, `204`, `304`)
    /// always end at their headers.
    ///
    /// ```
    /// use tracewire_http::server::HttpServerLayer;
    ///
    /// let layer = HttpServerLayer::new().end_at_headers(|_status, headers: &http::HeaderMap| {
    ///     headers
    ///         .get(http::header::CONTENT_TYPE)
    ///         .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
    /// });
    /// ```
    pub fn end_at_headers<P>(mut self, predicate: P) -> Self
    where
        P: Fn(http::StatusCode, &http::HeaderMap) -> bool + Send + Sync + 'static,
    {
        self.config_mut().end_at_headers = Some(Arc::new(predicate));
        self
    }

    /// Ends the span of every response to the routes `routes` (axum route templates, as in
    /// `Router::route`) at its headers: the same as [`end_at_headers`](Self::end_at_headers),
    /// chosen per route. A handler can also choose for its own response by adding the
    /// [`EndAtHeaders`](super::EndAtHeaders) extension to it.
    ///
    /// ```
    /// use tracewire_http::server::HttpServerLayer;
    ///
    /// let layer = HttpServerLayer::new().end_at_headers_on_routes(["/events", "/poll/{id}"]);
    /// ```
    pub fn end_at_headers_on_routes<I, S>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config_mut().end_at_headers_routes = routes.into_iter().map(Into::into).collect();
        self
    }

    /// `url.scheme` for requests that do not say (default `http`): `https` for a server that
    /// terminates TLS itself, whose requests arrive without a scheme in their URI.
    ///
    /// ```
    /// use tracewire_http::server::HttpServerLayer;
    ///
    /// let layer = HttpServerLayer::new().url_scheme("https");
    /// ```
    pub fn url_scheme(mut self, scheme: &'static str) -> Self {
        self.config_mut().url_scheme = scheme;
        self
    }

    /// Records these request headers as `http.request.header.<name>` (off by default).
    /// `authorization`, `cookie`, `set-cookie` and `proxy-authorization` are always recorded
    /// as `REDACTED`.
    ///
    /// ```
    /// use tracewire_http::server::HttpServerLayer;
    ///
    /// let layer = HttpServerLayer::new().capture_request_headers(["x-request-id", "authorization"]);
    /// ```
    pub fn capture_request_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.config_mut().request_headers = header_names(names);
        self
    }

    /// Records these response headers as `http.response.header.<name>` (off by default), with
    /// the same redaction as [`capture_request_headers`](Self::capture_request_headers).
    ///
    /// ```
    /// use tracewire_http::server::HttpServerLayer;
    ///
    /// let layer = HttpServerLayer::new().capture_response_headers(["content-type"]);
    /// ```
    pub fn capture_response_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.config_mut().response_headers = header_names(names);
        self
    }

    /// Runs when a sampled request's span exists, before the inner service is called, in both
    /// span modes (see [`OnRequest`](crate::hooks::OnRequest)).
    ///
    /// ```
    /// use http::Request;
    /// use opentelemetry::KeyValue;
    /// use tracewire_http::hooks::RequestSpan;
    /// use tracewire_http::server::HttpServerLayer;
    ///
    /// let layer = HttpServerLayer::new().on_request(|request: &Request<axum::body::Body>, span: &RequestSpan<'_>| {
    ///     if let Some(tenant) = request.headers().get("x-tenant").and_then(|v| v.to_str().ok()) {
    ///         span.set_attribute(KeyValue::new("app.tenant", tenant.to_owned()));
    ///     }
    /// });
    /// # let _ = layer;
    /// ```
    pub fn on_request<Q2>(self, on_request: Q2) -> HttpServerLayer<M, R, F, Q2> {
        HttpServerLayer {
            config: self.config,
            make_span: self.make_span,
            on_response: self.on_response,
            filter: self.filter,
            on_request,
        }
    }

    /// Runs when the response headers are ready (see [`OnResponse`](crate::hooks::OnResponse)).
    pub fn on_response<R2>(self, on_response: R2) -> HttpServerLayer<M, R2, F, Q> {
        HttpServerLayer {
            config: self.config,
            make_span: self.make_span,
            on_response,
            filter: self.filter,
            on_request: self.on_request,
        }
    }

    /// Traces only the requests `filter` accepts (see [`Filter`](crate::filter::Filter)).
    pub fn filter<F2>(self, filter: F2) -> HttpServerLayer<M, R, F2, Q> {
        HttpServerLayer {
            config: self.config,
            make_span: self.make_span,
            on_response: self.on_response,
            filter,
            on_request: self.on_request,
        }
    }
}

fn header_names<I, S>(names: I) -> Vec<http::HeaderName>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    names
        .into_iter()
        .filter_map(|n| {
            http::HeaderName::from_bytes(n.as_ref().to_ascii_lowercase().as_bytes()).ok()
        })
        .collect()
}

/// Whether a captured header's value is replaced by `REDACTED`.
pub(crate) fn is_sensitive_header(name: &http::HeaderName) -> bool {
    SENSITIVE_HEADERS.contains(&name.as_str())
}

impl<S: 'static, M: Clone, R: Clone, F: Clone, Q: Clone> Layer<S> for HttpServerLayer<M, R, F, Q> {
    type Service = HttpServer<S, M, R, F, Q>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpServer {
            inner,
            config: self.config.clone(),
            make_span: self.make_span.clone(),
            on_response: self.on_response.clone(),
            filter: self.filter.clone(),
            on_request: self.on_request.clone(),
            call_runs_code: super::service::call_runs_code::<S>(),
        }
    }
}

impl<M, R, F, Q> fmt::Debug for HttpServerLayer<M, R, F, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServerLayer")
            .field("config", &self.config)
            .field("make_span", &std::any::type_name::<M>())
            .field("on_response", &std::any::type_name::<R>())
            .field("filter", &std::any::type_name::<F>())
            .field("on_request", &std::any::type_name::<Q>())
            .finish()
    }
}
