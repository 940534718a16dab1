use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use std::borrow::Cow;

use http::{Request, Response};
use opentelemetry::Context;
use opentelemetry::trace::SpanKind;
use opentelemetry::{KeyValue, Value};
use tower::Service;
use tracewire_core::{CallFacts, SampledSpan};

use super::future::ResponseFuture;
use super::layer::ClientConfig;
use super::{ResendCount, UrlTemplate, port, redacted_url};
use crate::filter::Filter;
use crate::hooks::{OnRequest, OnResponse};
use crate::metrics::HttpCall;
use crate::semconv;

const RESEND_COUNT: &str = "http.request.resend_count";

/// The service made by [`HttpClientLayer`](super::HttpClientLayer).
#[derive(Clone)]
pub struct HttpClient<S, R, F, Q = ()> {
    pub(crate) inner: S,
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) on_response: R,
    pub(crate) filter: F,
    pub(crate) on_request: Q,
}

impl<S> HttpClient<S, (), crate::filter::TraceAll> {
    /// Wraps `inner` with the default settings (see [`HttpClientLayer::new`](super::HttpClientLayer::new)).
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use tracewire_http::client::HttpClient;
    ///
    /// let client = HttpClient::new(tower::service_fn(|_: http::Request<String>| async {
    ///     Ok::<_, Infallible>(http::Response::new(String::new()))
    /// }));
    /// # let _ = client.get_ref();
    /// ```
    pub fn new(inner: S) -> Self {
        tower::Layer::layer(&super::HttpClientLayer::new(), inner)
    }

    /// The layer that makes this service, to configure.
    pub fn layer() -> super::HttpClientLayer {
        super::HttpClientLayer::new()
    }
}
impl<S, R, F, Q> HttpClient<S, R, F, Q> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug, R, F, Q> fmt::Debug for HttpClient<S, R, F, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("on_response", &std::any::type_name::<R>())
            .field("filter", &std::any::type_name::<F>())
            .field("on_request", &std::any::type_name::<Q>())
            .finish()
    }
}

/// What a client span is made of, computed once.
struct ClientInfo<'a> {
    name: String,
    method: &'static str,
    method_original: Option<&'a str>,
    server_address: Option<&'a str>,
    server_port: Option<u16>,
    url_full: String,
    url_template: Option<&'static str>,
    resend_count: Option<u32>,
}

impl<'a> ClientInfo<'a> {
    fn new(
        method: &'a http::Method,
        uri: &'a http::Uri,
        extensions: &http::Extensions,
        config: &ClientConfig,
    ) -> Self {
        let (method_name, method_original) = config.known_methods.method(method);
        let url_template = extensions.get::<UrlTemplate>().map(|t| t.0);
        let resend_count = extensions
            .get::<ResendCount>()
            .map(|c| c.0)
            .filter(|&c| c > 0);
        let name_method = config.known_methods.name_method(method);
        let name = match url_template {
            Some(t) => format!("{name_method} {t}"),
            None => name_method.to_owned(),
        };
        Self {
            name,
            method: method_name,
            method_original,
            server_address: tracewire_core::addr::uri_host(uri),
            server_port: port(uri),
            url_full: redacted_url(uri, &config.sensitive_query_keys),
            url_template,
            resend_count,
        }
    }

    fn attributes(&self) -> Vec<KeyValue> {
        let mut attrs = Vec::with_capacity(7);
        attrs.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, self.method));
        if let Some(original) = self.method_original {
            attrs.push(KeyValue::new(
                semconv::HTTP_REQUEST_METHOD_ORIGINAL,
                original.to_owned(),
            ));
        }
        if let Some(address) = self.server_address {
            attrs.push(KeyValue::new(semconv::SERVER_ADDRESS, address.to_owned()));
        }
        if let Some(port) = self.server_port {
            attrs.push(KeyValue::new(
                semconv::SERVER_PORT,
                Value::I64(i64::from(port)),
            ));
        }
        attrs.push(KeyValue::new(semconv::URL_FULL, self.url_full.clone()));
        if let Some(template) = self.url_template {
            attrs.push(KeyValue::new("url.template", template));
        }
        if let Some(count) = self.resend_count {
            attrs.push(KeyValue::new(RESEND_COUNT, i64::from(count)));
        }
        attrs
    }

    fn bridged_span(&self) -> tracing::Span {
        tracing::info_span!(
            target: "tracewire::http::client",
            parent: None,
            "HTTP client request",
            otel.name = %self.name,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            http.request.method = self.method,
            http.request.method_original = self.method_original,
            http.response.status_code = tracing::field::Empty,
            server.address = self.server_address,
            server.port = self.server_port.map(i64::from),
            url.full = %self.url_full,
            url.template = self.url_template,
            network.protocol.version = tracing::field::Empty,
            error.type = tracing::field::Empty,
        )
    }
}

impl CallFacts for ClientInfo<'_> {
    fn sampling_name(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.name)
    }

    fn sampling_attributes(&self) -> Vec<KeyValue> {
        self.attributes()
    }

    fn tracing_span(&mut self) -> tracing::Span {
        let span = self.bridged_span();
        if let Some(count) = self.resend_count {
            tracing_opentelemetry::OpenTelemetrySpanExt::set_attribute(
                &span,
                RESEND_COUNT,
                i64::from(count),
            );
        }
        span
    }

    fn direct_span(&mut self) -> (Cow<'static, str>, Vec<KeyValue>) {
        (
            Cow::Owned(std::mem::take(&mut self.name)),
            self.attributes(),
        )
    }
}

/// One request of a client, for HTTP clients that are not tower services (see
/// [`ClientTracer`]): its CLIENT span when it is sampled, and its metrics (every request, when
/// the layer records them).
pub struct ClientSpan {
    pub(crate) span: Option<SampledSpan>,
    pub(crate) metric: Option<HttpCall>,
    pub(crate) start: Instant,
}

impl fmt::Debug for ClientSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSpan")
            .field("sampled", &self.span.is_some())
            .field("measured", &self.metric.is_some())
            .finish_non_exhaustive()
    }
}

impl ClientSpan {
    /// The span, for adding attributes (`None` when the request is not sampled).
    pub fn handle(&self) -> Option<crate::hooks::RequestSpan<'_>> {
        self.span.as_ref().map(SampledSpan::handle)
    }

    /// Whether the request has a span.
    pub fn is_sampled(&self) -> bool {
        self.span.is_some()
    }

    /// Time since the request started.
    pub fn elapsed(&self) -> std::time::Duration {
        self.start.elapsed()
    }

    /// Records the response headers: time to first byte, status (4xx and 5xx are errors),
    /// protocol version.
    pub fn record_response(&mut self, status: http::StatusCode, version: http::Version) {
        if let Some(span) = &self.span {
            super::record_response(span, status, version);
        }
        if let Some(metric) = &mut self.metric {
            metric.status(status);
            metric.set_version(version);
        }
    }

    /// Records a transport error and ends the call: `error.type` is `timeout` or `connect`
    /// when the error's types say so (its source chain: tower's `Elapsed`, `std::io::Error`
    /// kinds, hyper-util's client error with the `hyper-util` feature), otherwise its type
    /// name.
    pub fn fail<E: fmt::Display + 'static>(self, error: &E) {
        if let Some(span) = self.span {
            crate::record::record_failure(&span, error);
            span.end();
        }
        if let Some(mut metric) = self.metric {
            metric.failed(crate::error::transport_error_type(error));
            metric.finish();
        }
    }

    /// Records a transport error whose `error.type` the caller knows (from the error's own
    /// predicates, say `reqwest::Error::is_timeout`), and ends the call.
    pub fn fail_with(
        self,
        error: &dyn fmt::Display,
        error_type: &'static str,
        exception_type: &'static str,
    ) {
        if let Some(span) = self.span {
            span.record_exception(error_type, exception_type, error);
            span.end();
        }
        if let Some(mut metric) = self.metric {
            metric.failed(error_type);
            metric.finish();
        }
    }

    /// Ends the call as cancelled by the caller (event `http.request.cancelled`; not an
    /// error).
    pub fn cancel(self) {
        if let Some(span) = self.span {
            span.add_event("http.request.cancelled");
            span.end();
        }
        if let Some(metric) = self.metric {
            metric.finish();
        }
    }

    /// Wraps the response body: the call ends when the body has been read to its end or
    /// dropped.
    pub fn wrap_body<B: http_body::Body>(self, body: B) -> crate::body::ResponseBody<B> {
        let state = match self.span {
            Some(span) => crate::body::State::SampledReady(span),
            None => crate::body::State::Done,
        };
        crate::body::response_body(body, state, false, self.metric)
    }
}

/// The client layer's logic for HTTP clients that are not tower services: decide, make the
/// CLIENT span and write the context, then record the outcome on the [`ClientSpan`]. The
/// reqwest integration is built on it.
///
/// ```
/// use tracewire_http::client::HttpClientLayer;
///
/// let tracer = HttpClientLayer::new().tracer();
/// let mut headers = http::HeaderMap::new();
/// let uri: http::Uri = "http://inventory.internal/items".parse().unwrap();
/// let call = tracer.start(&http::Method::GET, &uri, &http::Extensions::new(), &mut headers);
/// // ... send the request with `headers`, then:
/// if let Some(mut call) = call {
///     call.record_response(http::StatusCode::OK, http::Version::HTTP_11);
///     # let _ = call.wrap_body(String::new());
/// }
/// ```
#[derive(Clone, Debug)]
pub struct ClientTracer {
    pub(crate) config: Arc<ClientConfig>,
}

impl ClientTracer {
    /// Starts a request under the current context: returns its call when it is sampled or its
    /// metrics are recorded (end it with [`ClientSpan::wrap_body`], `fail` or `cancel`), and
    /// always writes the context to `headers`.
    pub fn start(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        extensions: &http::Extensions,
        headers: &mut http::HeaderMap,
    ) -> Option<ClientSpan> {
        self.config.begin(method, uri, extensions, headers, true)
    }

    /// Writes the current context to `headers` without making a span (a filtered request).
    pub fn propagate(&self, uri: &http::Uri, headers: &mut http::HeaderMap) {
        self.config.inject(&Context::current(), headers, uri);
    }
}

impl ClientConfig {
    /// Starts a request: decides sampling under the current context, makes the CLIENT span
    /// when sampled, and writes the context to `headers` (sampled or not, filtered or not).
    pub(crate) fn begin(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        extensions: &http::Extensions,
        headers: &mut http::HeaderMap,
        traced: bool,
    ) -> Option<ClientSpan> {
        let started =
            self.options
                .start_outgoing(SpanKind::Client, Context::current(), traced, || {
                    ClientInfo::new(method, uri, extensions, self)
                });
        if self.sends_context(uri) {
            started.inject(&self.options.propagator, headers, self.sends_baggage(uri));
        }
        let span = started.into_span();
        let metric = if traced || self.metric.filtered {
            self.start_metric(method, uri)
        } else {
            None
        };
        if span.is_none() && metric.is_none() {
            return None;
        }
        Some(ClientSpan {
            span,
            metric,
            start: Instant::now(),
        })
    }

    /// Starts measuring a request: method, scheme, the server's address and port (interned:
    /// static strings).
    #[inline]
    fn start_metric(&self, method: &http::Method, uri: &http::Uri) -> Option<HttpCall> {
        if !self.metric.metrics.recording() {
            return None;
        }
        let scheme = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let server = tracewire_core::addr::uri_host(uri).map(|host| {
            let host: Cow<'static, str> = match self.names.host(host) {
                Some(interned) => Cow::Borrowed(interned),
                None => Cow::Owned(host.to_owned()),
            };
            (host, super::port(uri))
        });
        self.metric.start(crate::metrics::Start {
            method: self.known_methods.method(method).0,
            scheme,
            version: http::Version::HTTP_11,
            route: None,
            server,
            headers: &http::HeaderMap::new(),
        })
    }

    fn inject(&self, cx: &Context, headers: &mut http::HeaderMap, uri: &http::Uri) {
        if self.sends_context(uri) {
            self.options
                .propagator
                .inject(cx, headers, self.sends_baggage(uri));
        }
    }
}

impl<S, R, F, Q, ReqBody, ResBody> Service<Request<ReqBody>> for HttpClient<S, R, F, Q>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: fmt::Display + 'static,
    R: OnResponse<ResBody> + Clone,
    F: Filter<ReqBody>,
    Q: OnRequest<ReqBody>,
    ResBody: http_body::Body,
    ResBody::Error: fmt::Display + 'static,
{
    type Response = Response<crate::body::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, R>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let traced = self.filter.trace(&request);
        let (mut parts, body) = request.into_parts();
        let begun = self.config.begin(
            &parts.method,
            &parts.uri,
            &parts.extensions,
            &mut parts.headers,
            traced,
        );
        let request = Request::from_parts(parts, body);
        if let Some(ClientSpan {
            span: Some(span), ..
        }) = &begun
        {
            self.on_request.on_request(&request, &span.handle());
        }
        let future = self.inner.call(request);
        match begun {
            Some(call) => ResponseFuture::started(future, call, self.on_response.clone()),
            None => ResponseFuture::untraced(future),
        }
    }
}
