use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::Context;
use opentelemetry::trace::{SpanKind, TraceContextExt};
use tower::Service;
use tracewire_http::__private::{Decider, Head};
use tracewire_http::filter::Filter;
use tracewire_propagation::traceparent::TraceParent;

use super::future::ResponseFuture;
use crate::body::{MessageBody, ResponseBody};
use crate::call::{Call, CallInfo, Messages};
use crate::config::Config;
use crate::semconv::{RpcMethod, Side, grpc_timeout};

/// The service made by [`GrpcClientLayer`](super::GrpcClientLayer).
#[derive(Clone)]
pub struct GrpcClient<S, F> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config>,
    pub(crate) filter: F,
}

impl<S: fmt::Debug, F> fmt::Debug for GrpcClient<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcClient")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("filter", &std::any::type_name::<F>())
            .finish()
    }
}

fn call_info<'a, B>(request: &'a Request<B>, config: &'a Config) -> CallInfo<'a> {
    let uri = request.uri();
    let (server_address, server_port) = match uri.host() {
        Some(host) => (Some(host), super::port(uri)),
        None => match &config.target {
            Some((host, port)) => (Some(host.as_str()), *port),
            None => (None, None),
        },
    };
    CallInfo {
        method: RpcMethod::parse(uri.path()),
        server_address,
        server_port,
        peer: None,
    }
}

impl<S, F, ResBody> Service<Request<tonic::body::Body>> for GrpcClient<S, F>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
    S::Error: fmt::Display + fmt::Debug,
    F: Filter<tonic::body::Body>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<tonic::body::Body>) -> Self::Future {
        let config = &*self.config;
        let parent_cx = Context::current();
        let traced = config.traces_path(request.uri().path()) && self.filter.trace(&request);
        if !traced {
            // No span: the current context still flows.
            config.inject(&parent_cx, request.headers_mut());
            return ResponseFuture::untraced(self.inner.call(request));
        }

        let head = Head::new(
            TraceParent::from_span_context(parent_cx.span().span_context()),
            false,
        );
        let mut info = None;
        let decision = match head.quick(&config.options.sampler) {
            Some(sampled) => Decider::plain(sampled),
            None => {
                let info = info.insert(call_info(&request, config));
                config.options.sampler.decide(
                    head.parent.is_some().then_some(&parent_cx),
                    head.trace_id,
                    info.method.span_name(),
                    &SpanKind::Client,
                    &info.attributes(config),
                )
            }
        };
        if !decision.sampled {
            // No span, but this call still gets its own span id.
            match head.unsampled() {
                Some(own) => config.inject_child(parent_cx, own, request.headers_mut()),
                None => config.inject(&parent_cx, request.headers_mut()),
            }
            return ResponseFuture::untraced(self.inner.call(request));
        }

        let deadline = grpc_timeout(request.headers()).map(|t| Instant::now() + t);
        let span = info
            .unwrap_or_else(|| call_info(&request, config))
            .make_span(config, Side::Client, &parent_cx, decision, None);
        let Some(span) = span else {
            // The subscriber filtered the span out: the current context still flows on.
            config.inject(&parent_cx, request.headers_mut());
            return ResponseFuture::untraced(self.inner.call(request));
        };
        config.inject(&span.context(), request.headers_mut());
        if config.message_events {
            let counted = span.clone();
            request = request.map(|body| {
                tonic::body::Body::new(MessageBody::new(body, counted, Messages::sent()))
            });
        }
        ResponseFuture::sampled(
            self.inner.call(request),
            Call::new(span, Side::Client, config.conventions, deadline),
            config.message_events,
        )
    }
}
