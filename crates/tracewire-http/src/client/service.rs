use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::Context;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use opentelemetry::{KeyValue, Value};
use tower::Service;
use tracewire_propagation::carrier::HeaderInjector;
use tracewire_propagation::traceparent::TraceParent;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::future::ResponseFuture;
use super::layer::ClientConfig;
use super::{ResendCount, UrlTemplate, port, redacted_url};

const RESEND_COUNT: &str = "http.request.resend_count";
use crate::filter::Filter;
use crate::hooks::OnResponse;
use crate::inbound::{Head, child_of};
use crate::sampling::Decider;
use crate::semconv;
use crate::server::{PropagatorChoice, Spans};
use crate::span::SampledSpan;

/// The service made by [`HttpClientLayer`](super::HttpClientLayer).
#[derive(Clone)]
pub struct HttpClient<S, R, F> {
    pub(crate) inner: S,
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) on_response: R,
    pub(crate) filter: F,
}

impl<S: fmt::Debug, R, F> fmt::Debug for HttpClient<S, R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("on_response", &std::any::type_name::<R>())
            .field("filter", &std::any::type_name::<F>())
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
        let (method_name, method_original) = semconv::method(method);
        let url_template = extensions.get::<UrlTemplate>().map(|t| t.0);
        let resend_count = extensions
            .get::<ResendCount>()
            .map(|c| c.0)
            .filter(|&c| c > 0);
        let name_method = semconv::name_method(method);
        let name = match url_template {
            Some(t) => format!("{name_method} {t}"),
            None => name_method.to_owned(),
        };
        Self {
            name,
            method: method_name,
            method_original,
            server_address: uri.host(),
            server_port: port(uri),
            url_full: redacted_url(uri, &config.options.sensitive_query_keys),
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

    fn tracing_span(&self) -> tracing::Span {
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

/// The CLIENT span of a sampled request, for HTTP clients that are not tower services (see
/// [`ClientTracer`]).
pub struct ClientSpan {
    pub(crate) span: SampledSpan,
    pub(crate) start: Instant,
}

impl fmt::Debug for ClientSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSpan").finish_non_exhaustive()
    }
}

impl ClientSpan {
    /// The span, for adding attributes.
    pub fn handle(&self) -> crate::hooks::RequestSpan<'_> {
        self.span.handle()
    }

    /// Time since the request started.
    pub fn elapsed(&self) -> std::time::Duration {
        self.start.elapsed()
    }

    /// Records the response headers: time to first byte, status (4xx and 5xx are errors),
    /// protocol version.
    pub fn record_response(&self, status: http::StatusCode, version: http::Version) {
        super::record_response(&self.span, status, version);
    }

    /// Records a transport error (`error.type` is `timeout`, `connect` or the error's type)
    /// and ends the span.
    pub fn fail(self, error: &dyn fmt::Display, error_type_name: &'static str) {
        super::record_failure(self.span, error, error_type_name);
    }

    /// Ends the span as cancelled by the caller (event `http.request.cancelled`; not an
    /// error).
    pub fn cancel(self) {
        self.span.add_event("http.request.cancelled");
        self.span.end();
    }

    /// Wraps the response body: the span ends when the body has been read to its end or
    /// dropped.
    pub fn wrap_body<B: http_body::Body>(self, body: B) -> crate::body::ResponseBody<B> {
        crate::body::ResponseBody::new(body, crate::body::State::SampledReady(self.span))
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
/// let span = tracer.start(&http::Method::GET, &uri, &http::Extensions::new(), &mut headers);
/// // ... send the request with `headers`, then:
/// if let Some(span) = span {
///     span.record_response(http::StatusCode::OK, http::Version::HTTP_11);
/// }
/// ```
#[derive(Clone, Debug)]
pub struct ClientTracer {
    pub(crate) config: Arc<ClientConfig>,
}

impl ClientTracer {
    /// Starts a request under the current context: returns its span when sampled, and always
    /// writes the context to `headers`.
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
        let parent_cx = Context::current();
        if !traced {
            // No span: the current context still flows.
            self.inject(&parent_cx, headers, uri);
            return None;
        }
        let head = Head::new(
            TraceParent::from_span_context(parent_cx.span().span_context()),
            false,
        );
        let mut info = None;
        let decision = match head.quick(&self.options.sampler) {
            Some(sampled) => Decider::plain(sampled),
            None => {
                let info = info.insert(ClientInfo::new(method, uri, extensions, self));
                self.options.sampler.decide(
                    head.parent.is_some().then_some(&parent_cx),
                    head.trace_id,
                    &info.name,
                    &SpanKind::Client,
                    &info.attributes(),
                )
            }
        };
        if decision.sampled {
            let start = Instant::now();
            let info = info.unwrap_or_else(|| ClientInfo::new(method, uri, extensions, self));
            let span = match &self.options.spans {
                Spans::Tracing => {
                    let span = info.tracing_span();
                    let _ = span.set_parent(parent_cx.clone());
                    if !span.context().span().span_context().is_valid() {
                        // The subscriber filtered the span out: no span, but the current
                        // context still flows on.
                        self.inject(&parent_cx, headers, uri);
                        return None;
                    }
                    for kv in decision.attributes {
                        span.set_attribute(kv.key, kv.value);
                    }
                    if let Some(count) = info.resend_count {
                        span.set_attribute(RESEND_COUNT, i64::from(count));
                    }
                    SampledSpan::Tracing(span)
                }
                Spans::Direct(tracer) => {
                    let mut attributes = info.attributes();
                    attributes.extend(decision.attributes);
                    let builder = tracer
                        .span_builder(info.name)
                        .with_kind(SpanKind::Client)
                        .with_attributes(attributes);
                    let otel_span = tracer.build_with_context(builder, &parent_cx);
                    SampledSpan::Direct(parent_cx.with_span(otel_span))
                }
            };
            let cx = match &span {
                SampledSpan::Tracing(span) => span.context(),
                SampledSpan::Direct(cx) => cx.clone(),
            };
            self.inject(&cx, headers, uri);
            Some(ClientSpan { span, start })
        } else {
            // Unsampled: no span, but this request still gets its own span id.
            match head.unsampled() {
                Some(own) => self.inject_child(parent_cx, own, headers, uri),
                None => self.inject(&parent_cx, headers, uri),
            }
            None
        }
    }

    /// Writes the context of `own`, our span id under `cx`, without building a `Context` for
    /// it when the propagator is ours.
    fn inject_child(
        &self,
        cx: Context,
        own: TraceParent,
        headers: &mut http::HeaderMap,
        uri: &http::Uri,
    ) {
        match &self.options.propagator {
            PropagatorChoice::Ours(p) if self.sends_context(uri) => {
                p.inject_child_with(&cx, own, headers, self.sends_baggage(uri));
            }
            PropagatorChoice::Ours(_) => {}
            PropagatorChoice::Global => self.inject(&child_of(cx, own), headers, uri),
        }
    }

    fn inject(&self, cx: &Context, headers: &mut http::HeaderMap, uri: &http::Uri) {
        if !self.sends_context(uri) {
            return;
        }
        match &self.options.propagator {
            PropagatorChoice::Ours(p) => {
                p.inject_context_with(cx, headers, self.sends_baggage(uri))
            }
            PropagatorChoice::Global => opentelemetry::global::get_text_map_propagator(|p| {
                p.inject_context(cx, &mut HeaderInjector(headers));
            }),
        }
    }
}

impl<S, R, F, ReqBody, ResBody> Service<Request<ReqBody>> for HttpClient<S, R, F>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: fmt::Display,
    R: OnResponse<ResBody> + Clone,
    F: Filter<ReqBody>,
    ResBody: http_body::Body,
    ResBody::Error: fmt::Display,
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
        let future = self.inner.call(Request::from_parts(parts, body));
        match begun {
            Some(ClientSpan { span, start }) => {
                ResponseFuture::sampled(future, span, self.on_response.clone(), start)
            }
            None => ResponseFuture::untraced(future),
        }
    }
}
