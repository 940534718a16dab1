use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::Value;
use opentelemetry::trace::{SpanKind, TraceContextExt, TraceState, Tracer};
use tower::Service;
use tracewire_propagation::traceparent::TraceParent;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::future::{ResponseFuture, Sampled};
use super::layer::{Config, Spans, is_sensitive_header};
use super::{RequestInfo, TrustPolicy};
use crate::filter::Filter;
use crate::hooks::{MakeSpan, OnResponse, RequestSpan};
use crate::inbound::{Head, Incoming};
use crate::sampling::Decider;
use crate::semconv::REDACTED;
use crate::span::SampledSpan;

/// The service made by [`HttpServerLayer`](super::HttpServerLayer).
#[derive(Clone)]
pub struct HttpServer<S, M, R, F> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config>,
    pub(crate) make_span: M,
    pub(crate) on_response: R,
    pub(crate) filter: F,
    /// Whether the inner service's `call` can run application code, so that the request's
    /// context (or span) must be current around it; see [`call_runs_code`].
    pub(crate) call_runs_code: bool,
}

/// Whether `S::call` may run application code. axum's route service (what a layer added with
/// `Router::layer` wraps) only wraps the request in a future (tower's `Oneshot`) in `call`:
/// the layers inside it (their `poll_ready` and `call`) and the handler run when that future
/// is polled, and the layer makes the context current for every poll. For it, making the
/// context current around `call` too would cost a thread-local push and pop (for a bridged
/// span, an enter and exit) and change nothing. Any other service, and axum's should its type
/// be named differently, is treated as running code in `call`.
pub(crate) fn call_runs_code<S>() -> bool {
    const ROUTE: &str = "axum::routing::route::Route";
    let name = std::any::type_name::<S>();
    !(name == ROUTE
        || name
            .strip_prefix(ROUTE)
            .is_some_and(|rest| rest.starts_with('<')))
}

impl<S: fmt::Debug, M, R, F> fmt::Debug for HttpServer<S, M, R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("make_span", &std::any::type_name::<M>())
            .field("on_response", &std::any::type_name::<R>())
            .field("filter", &std::any::type_name::<F>())
            .finish()
    }
}

impl<S, M, R, F, ReqBody, ResBody> Service<Request<ReqBody>> for HttpServer<S, M, R, F>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: fmt::Display,
    M: MakeSpan<ReqBody>,
    R: OnResponse<ResBody> + Clone,
    F: Filter<ReqBody>,
    ResBody: http_body::Body,
    ResBody::Error: fmt::Display,
{
    type Response = Response<super::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, R>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let config = &*self.config;
        let traced = self.filter.trace(&request);
        let (mut incoming, link) = Incoming::extract(
            &config.options.propagator,
            request.headers(),
            traced && config.trust == TrustPolicy::NewRoot,
        );

        if !traced {
            // No span, but the caller's context still reaches the handler's calls.
            let cx = incoming.into_context();
            request.extensions_mut().insert(cx.clone());
            let future = call_inner(&mut self.inner, self.call_runs_code, &cx, request);
            return ResponseFuture::unsampled(future, cx, None, &self.config);
        }

        // Decide before any span exists.
        let head = Head::incoming(&incoming, config.trust);
        let quick = head.quick(&config.options.sampler);
        if quick == Some(false) && config.trust != TrustPolicy::OwnSampling {
            // The common unsampled case: nothing of the request is needed.
            return self.unsampled(request, incoming, &head, None);
        }
        let mut info = None;
        let decision = match quick {
            Some(sampled) => Decider::plain(sampled),
            None => {
                let info = info.insert(RequestInfo::new(
                    &request,
                    &config.trusted_proxies,
                    &config.options.sensitive_query_keys,
                ));
                if config.options.sampler.needs_request() {
                    head.decide(
                        &config.options.sampler,
                        &info.name().to_string(),
                        &SpanKind::Server,
                        &info.sampling_attributes(),
                    )
                } else {
                    head.decide(&config.options.sampler, "", &SpanKind::Server, &[])
                }
            }
        };
        if config.trust == TrustPolicy::OwnSampling {
            // Our decision replaces the caller's flag, so the tracer provider's parent-based
            // sampler agrees with it.
            incoming.set_parent_sampled(decision.sampled);
        }

        if decision.sampled {
            let start = Instant::now();
            let info = info.unwrap_or_else(|| {
                RequestInfo::new(
                    &request,
                    &config.trusted_proxies,
                    &config.options.sensitive_query_keys,
                )
            });
            match &config.options.spans {
                Spans::Tracing => {
                    let span = self.make_span.make_span(&request, &info);
                    drop(info);
                    let parent_cx = incoming.into_context();
                    let _ = span.set_parent(parent_cx.clone());
                    let span_cx = span.context();
                    if !span_cx.span().span_context().is_valid() {
                        // The subscriber filtered the span out (its level, a per-layer
                        // filter): no span, but the caller's context still flows on.
                        request.extensions_mut().insert(parent_cx.clone());
                        let future =
                            call_inner(&mut self.inner, self.call_runs_code, &parent_cx, request);
                        return ResponseFuture::unsampled(future, parent_cx, None, &self.config);
                    }
                    if let Some(link) = link {
                        span.add_link(link.to_span_context(TraceState::NONE));
                    }
                    for kv in decision.attributes {
                        span.set_attribute(kv.key, kv.value);
                    }
                    let request_span = RequestSpan::tracing(&span);
                    record_headers(
                        &request_span,
                        "http.request.header.",
                        &config.request_headers,
                        request.headers(),
                    );
                    let own = TraceParent::from_span_context(span_cx.span().span_context());
                    request.extensions_mut().insert(span_cx);
                    let future = if self.call_runs_code {
                        span.in_scope(|| self.inner.call(request))
                    } else {
                        self.inner.call(request)
                    };
                    ResponseFuture::sampled(
                        future,
                        Sampled {
                            span: SampledSpan::Tracing(span),
                            on_response: self.on_response.clone(),
                            start,
                        },
                        own,
                        config,
                    )
                }
                Spans::Direct(tracer) => {
                    let interned = info
                        .route()
                        .and_then(|route| config.names.get(info.name_method(), route));
                    let name: std::borrow::Cow<'static, str> = match (interned, info.route()) {
                        (Some(i), _) => i.name.into(),
                        (None, None) => info.name_method().into(),
                        (None, Some(_)) => info.name().to_string().into(),
                    };
                    let host = info.server_address().and_then(|h| config.names.host(h));
                    let mut attributes = info.span_attributes_with(interned.map(|i| i.route), host);
                    attributes.extend(decision.attributes);
                    let mut builder = tracer
                        .span_builder(name)
                        .with_kind(SpanKind::Server)
                        .with_attributes(attributes);
                    drop(info);
                    if let Some(link) = link {
                        builder =
                            builder.with_links(vec![opentelemetry::trace::Link::with_context(
                                link.to_span_context(TraceState::NONE),
                            )]);
                    }
                    let parent_cx = incoming.into_context();
                    let cx = parent_cx.with_span(tracer.build_with_context(builder, &parent_cx));
                    record_headers(
                        &RequestSpan::otel(&cx),
                        "http.request.header.",
                        &config.request_headers,
                        request.headers(),
                    );
                    let own = TraceParent::from_span_context(cx.span().span_context());
                    request.extensions_mut().insert(cx.clone());
                    let future = call_inner(&mut self.inner, self.call_runs_code, &cx, request);
                    ResponseFuture::sampled(
                        future,
                        Sampled {
                            span: SampledSpan::Direct(cx),
                            on_response: self.on_response.clone(),
                            start,
                        },
                        own,
                        config,
                    )
                }
            }
        } else {
            drop(info);
            self.unsampled(request, incoming, &head, decision.trace_state)
        }
    }
}

impl<S, M, R, F> HttpServer<S, M, R, F> {
    /// The unsampled path: no span, one context with our own span id, current while the
    /// inner service runs and in the request's extensions.
    #[inline]
    fn unsampled<ReqBody>(
        &mut self,
        mut request: Request<ReqBody>,
        incoming: Incoming,
        head: &Head,
        trace_state: Option<TraceState>,
    ) -> ResponseFuture<S::Future, R>
    where
        S: Service<Request<ReqBody>>,
    {
        let own = head.unsampled();
        let cx = match own {
            Some(own) => incoming.into_child_context(own, trace_state),
            None => incoming.into_context(),
        };
        request.extensions_mut().insert(cx.clone());
        let future = call_inner(&mut self.inner, self.call_runs_code, &cx, request);
        ResponseFuture::unsampled(future, cx, own, &self.config)
    }
}

/// Calls `inner` with `cx` current, when its `call` can run application code.
#[inline]
fn call_inner<S, B>(
    inner: &mut S,
    runs_code: bool,
    cx: &opentelemetry::Context,
    request: Request<B>,
) -> S::Future
where
    S: Service<Request<B>>,
{
    if runs_code {
        let _guard = cx.clone().attach();
        inner.call(request)
    } else {
        inner.call(request)
    }
}

/// Records captured headers as string-array attributes, redacting sensitive ones.
pub(crate) fn record_headers(
    span: &RequestSpan<'_>,
    prefix: &str,
    names: &[http::HeaderName],
    headers: &http::HeaderMap,
) {
    for name in names {
        let values: Vec<opentelemetry::StringValue> = headers
            .get_all(name)
            .iter()
            .map(|v| {
                if is_sensitive_header(name) {
                    REDACTED.into()
                } else {
                    String::from_utf8_lossy(v.as_bytes()).into_owned().into()
                }
            })
            .collect();
        if !values.is_empty() {
            span.set_attribute(opentelemetry::KeyValue::new(
                format!("{prefix}{}", name.as_str()),
                Value::Array(values.into()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::call_runs_code;

    #[test]
    fn axum_route_calls_run_no_code() {
        // If axum renames its route type, this fails and the layer falls back to attaching.
        let name = std::any::type_name::<axum::routing::Route>();
        assert!(!call_runs_code::<axum::routing::Route>(), "{name}");
        assert!(!call_runs_code::<axum::routing::Route<std::io::Error>>());
        assert!(call_runs_code::<tower::util::BoxCloneSyncService<(), (), ()>>());
        assert!(call_runs_code::<
            tower::util::MapRequest<axum::routing::Route, fn(()) -> ()>,
        >());
    }
}
