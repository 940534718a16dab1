use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::Context;
use opentelemetry::Value;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{SpanContext, SpanKind, TraceContextExt, TraceFlags, TraceState};
use opentelemetry_sdk::trace::SamplingDecision;
use tower::Service;
use tracewire_propagation::carrier::HeaderExtractor;
use tracewire_propagation::traceparent::{FLAG_RANDOM, TraceParent};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::future::{ResponseFuture, Sampled};
use super::layer::{Config, PropagatorChoice, is_sensitive_header};
use super::{RequestInfo, TrustPolicy};
use crate::filter::Filter;
use crate::hooks::{MakeSpan, OnResponse};
use crate::semconv::REDACTED;

/// The service made by [`HttpServerLayer`](super::HttpServerLayer).
#[derive(Clone)]
pub struct HttpServer<S, M, R, F> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config>,
    pub(crate) make_span: M,
    pub(crate) on_response: R,
    pub(crate) filter: F,
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

/// The incoming parent and the context built from it.
struct Incoming {
    parent: Option<TraceParent>,
    cx: Context,
}

impl Config {
    /// Extracts the incoming context. With `forget_parent` (a new root), the parent is
    /// returned apart, for a link, and left out of the context.
    fn incoming(
        &self,
        headers: &http::HeaderMap,
        forget_parent: bool,
    ) -> (Incoming, Option<TraceParent>) {
        match &self.propagator {
            PropagatorChoice::Ours(p) => {
                let mut extracted = p.extract(headers);
                let link = if forget_parent {
                    extracted.forget_parent()
                } else {
                    None
                };
                let parent = extracted.parent().copied();
                let cx = extracted.into_context(&Context::new());
                (Incoming { parent, cx }, link)
            }
            PropagatorChoice::Global => {
                let cx = opentelemetry::global::get_text_map_propagator(|p| {
                    p.extract_with_context(&Context::new(), &HeaderExtractor(headers))
                });
                let parent = TraceParent::from_span_context(cx.span().span_context());
                if forget_parent && parent.is_some() {
                    // A fresh context with the baggage only.
                    let baggage: Vec<opentelemetry::baggage::KeyValueMetadata> = cx
                        .baggage()
                        .iter()
                        .map(|(k, (v, m))| {
                            opentelemetry::baggage::KeyValueMetadata::new(
                                k.clone(),
                                v.clone(),
                                m.clone(),
                            )
                        })
                        .collect();
                    let cx = Context::new().with_baggage(baggage);
                    (Incoming { parent: None, cx }, parent)
                } else {
                    (Incoming { parent, cx }, None)
                }
            }
        }
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
        let start = Instant::now();
        let config = &*self.config;
        let traced = self.filter.trace(&request);
        let (incoming, link) = config.incoming(
            request.headers(),
            traced && config.trust == TrustPolicy::NewRoot,
        );

        if !traced {
            // No span, but the caller's context still reaches the handler's calls.
            request.extensions_mut().insert(incoming.cx.clone());
            let future = {
                let _guard = incoming.cx.clone().attach();
                self.inner.call(request)
            };
            return ResponseFuture::unsampled(future, incoming.cx, None, config);
        }

        let Incoming { parent, mut cx } = incoming;

        let info = RequestInfo::new(
            &request,
            &config.trusted_proxies,
            &config.sensitive_query_keys,
        );
        let root = TraceParent::new_root(false);
        let trace_id = parent.map_or(root.trace_id(), |p| p.trace_id());
        let own_decision = config.trust == TrustPolicy::OwnSampling || parent.is_none();
        let result = config.sampler.should_sample(
            (!own_decision).then_some(&cx),
            trace_id,
            info.name(),
            &SpanKind::Server,
            &info.sampling_attributes(),
            &[],
        );
        let sampled = !matches!(result.decision, SamplingDecision::Drop);

        if let (TrustPolicy::OwnSampling, Some(p)) = (config.trust, parent) {
            // Our decision replaces the caller's flag, so the tracer provider's parent-based
            // sampler agrees with it.
            let sc = cx.span().span_context().clone();
            cx = cx.with_remote_span_context(SpanContext::new(
                p.trace_id(),
                p.span_id(),
                sc.trace_flags().with_sampled(sampled),
                true,
                sc.trace_state().clone(),
            ));
        }

        if sampled {
            let span = self.make_span.make_span(&request, &info);
            let _ = span.set_parent(cx);
            if let Some(link) = link {
                span.add_link(link.to_span_context(TraceState::NONE));
            }
            for kv in result.attributes {
                span.set_attribute(kv.key, kv.value);
            }
            record_headers(
                &span,
                "http.request.header.",
                &config.request_headers,
                request.headers(),
            );
            let span_cx = span.context();
            let own = TraceParent::from_span_context(span_cx.span().span_context());
            request.extensions_mut().insert(span_cx);
            let future = span.in_scope(|| self.inner.call(request));
            ResponseFuture::sampled(
                future,
                Sampled {
                    span,
                    on_response: self.on_response.clone(),
                    start,
                },
                own,
                config,
            )
        } else {
            // The unsampled path: no span, a context with our own span id.
            let flags = match parent {
                Some(p) => p.flags().to_u8() & FLAG_RANDOM,
                None => FLAG_RANDOM,
            };
            let parent_sc = cx.span().span_context().clone();
            let state = if result.trace_state == TraceState::NONE {
                parent_sc.trace_state().clone()
            } else {
                result.trace_state
            };
            // `root` holds fresh random ids: its span id is ours.
            let own = TraceParent::new(trace_id, root.span_id(), TraceFlags::new(flags));
            if let Some(own) = own {
                cx = cx.with_remote_span_context(SpanContext::new(
                    own.trace_id(),
                    own.span_id(),
                    own.flags(),
                    false,
                    state,
                ));
            }
            request.extensions_mut().insert(cx.clone());
            let future = {
                let _guard = cx.clone().attach();
                self.inner.call(request)
            };
            ResponseFuture::unsampled(future, cx, own, config)
        }
    }
}

/// Records captured headers as string-array attributes, redacting sensitive ones.
pub(crate) fn record_headers(
    span: &tracing::Span,
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
            span.set_attribute(
                opentelemetry::Key::new(format!("{prefix}{}", name.as_str())),
                Value::Array(values.into()),
            );
        }
    }
}
