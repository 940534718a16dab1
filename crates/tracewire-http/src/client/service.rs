use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanKind, TraceContextExt, TraceFlags, Tracer};
use opentelemetry::{KeyValue, Value};
use tower::Service;
use tracewire_propagation::carrier::HeaderInjector;
use tracewire_propagation::traceparent::{FLAG_RANDOM, TraceParent};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::future::ResponseFuture;
use super::layer::ClientConfig;
use super::{UrlTemplate, port, redacted_url};
use crate::filter::Filter;
use crate::hooks::OnResponse;
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
}

impl<'a> ClientInfo<'a> {
    fn new<B>(request: &'a Request<B>, config: &ClientConfig) -> Self {
        let (method, method_original) = semconv::method(request.method());
        let url_template = request.extensions().get::<UrlTemplate>().map(|t| t.0);
        let name_method = semconv::name_method(request.method());
        let name = match url_template {
            Some(t) => format!("{name_method} {t}"),
            None => name_method.to_owned(),
        };
        Self {
            name,
            method,
            method_original,
            server_address: request.uri().host(),
            server_port: port(request.uri()),
            url_full: redacted_url(request.uri(), &config.sensitive_query_keys),
            url_template,
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

impl ClientConfig {
    fn inject(&self, cx: &Context, headers: &mut http::HeaderMap, uri: &http::Uri) {
        if !self.sends_context(uri) {
            return;
        }
        match &self.propagator {
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

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let config = &*self.config;
        let parent_cx = Context::current();
        if !self.filter.trace(&request) {
            // No span: the current context still flows.
            let uri = request.uri().clone();
            config.inject(&parent_cx, request.headers_mut(), &uri);
            return ResponseFuture::untraced(self.inner.call(request));
        }

        let parent = TraceParent::from_span_context(parent_cx.span().span_context());
        let fresh = TraceParent::new_root(false);
        let trace_id = parent.map_or(fresh.trace_id(), |p| p.trace_id());
        let mut info = None;
        let decision = match config.sampler.quick(parent.as_ref()) {
            Some(sampled) => Decider::plain(sampled),
            None => {
                let info = info.insert(ClientInfo::new(&request, config));
                config.sampler.decide(
                    parent.is_some().then_some(&parent_cx),
                    trace_id,
                    &info.name,
                    &SpanKind::Client,
                    &info.attributes(),
                )
            }
        };

        let uri = request.uri().clone();
        if decision.sampled {
            let start = Instant::now();
            let info = info.unwrap_or_else(|| ClientInfo::new(&request, config));
            let span = match &config.spans {
                Spans::Tracing => {
                    let span = info.tracing_span();
                    let _ = span.set_parent(parent_cx);
                    for kv in decision.attributes {
                        span.set_attribute(kv.key, kv.value);
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
            config.inject(&cx, request.headers_mut(), &uri);
            ResponseFuture::sampled(
                self.inner.call(request),
                span,
                self.on_response.clone(),
                start,
            )
        } else {
            // Unsampled: no span, but this request still gets its own span id.
            let flags = match parent {
                Some(p) => p.flags().to_u8() & FLAG_RANDOM,
                None => FLAG_RANDOM,
            };
            let cx = match TraceParent::new(trace_id, fresh.span_id(), TraceFlags::new(flags)) {
                Some(own) => {
                    let state = parent_cx.span().span_context().trace_state().clone();
                    parent_cx.with_remote_span_context(SpanContext::new(
                        own.trace_id(),
                        own.span_id(),
                        own.flags(),
                        false,
                        state,
                    ))
                }
                None => parent_cx,
            };
            config.inject(&cx, request.headers_mut(), &uri);
            ResponseFuture::untraced(self.inner.call(request))
        }
    }
}
