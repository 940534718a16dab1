use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use opentelemetry::Context;
use opentelemetry::trace::SpanKind;
use tower::Service;
use tracewire_core::filter::Filter;
use tracewire_core::hooks::{OnRequest, OnResponse};

use super::future::ResponseFuture;
use crate::body::{MessageBody, ResponseBody};
use crate::call::{Call, CallInfo, GrpcFacts, Messages};
use crate::config::Config;
use crate::semconv::{RpcMethod, Side, grpc_timeout};

/// The service made by [`GrpcClientLayer`](super::GrpcClientLayer).
#[derive(Clone)]
pub struct GrpcClient<S, R = (), F = tracewire_core::filter::TraceAll, Q = ()> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config>,
    pub(crate) on_response: R,
    pub(crate) filter: F,
    pub(crate) on_request: Q,
}

impl<S> GrpcClient<S> {
    /// Wraps `inner` with the default settings (see [`GrpcClientLayer::new`](super::GrpcClientLayer::new)).
    pub fn new(inner: S) -> Self {
        tower::Layer::layer(&super::GrpcClientLayer::new(), inner)
    }

    /// The layer that makes this service, to configure.
    pub fn layer() -> super::GrpcClientLayer {
        super::GrpcClientLayer::new()
    }
}
impl<S, R, F, Q> GrpcClient<S, R, F, Q> {
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

impl<S: fmt::Debug, R, F, Q> fmt::Debug for GrpcClient<S, R, F, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcClient")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("on_response", &std::any::type_name::<R>())
            .field("filter", &std::any::type_name::<F>())
            .field("on_request", &std::any::type_name::<Q>())
            .finish()
    }
}

fn call_info<'a, B>(request: &'a Request<B>, config: &'a Config) -> CallInfo<'a> {
    let uri = request.uri();
    let (server_address, server_port) = match tracewire_core::addr::uri_host(uri) {
        Some(host) => (Some(host), tracewire_core::addr::uri_port(uri)),
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

/// Starts measuring a call, when the layer records metrics.
#[inline]
fn start_metric<B>(request: &Request<B>, config: &Config) -> Option<crate::metrics::RpcCall> {
    if !config.metric.metrics.recording() {
        return None;
    }
    let info = call_info(request, config);
    let deadline = grpc_timeout(request.headers()).map(|t| std::time::Instant::now() + t);
    config.metric.start(
        &info.method,
        (info.server_address, info.server_port),
        &config.names,
        deadline,
    )
}

impl<S, R, F, Q, ResBody> Service<Request<tonic::body::Body>> for GrpcClient<S, R, F, Q>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
    S::Error: fmt::Display + fmt::Debug + 'static,
    R: OnResponse<ResBody> + Clone,
    F: Filter<tonic::body::Body>,
    Q: OnRequest<tonic::body::Body>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, R>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<tonic::body::Body>) -> Self::Future {
        let config = &*self.config;
        let traced = config.traces_path(request.uri().path()) && self.filter.trace(&request);
        let started =
            config
                .options
                .start_outgoing(SpanKind::Client, Context::current(), traced, || GrpcFacts {
                    info: call_info(&request, config),
                    config,
                    side: Side::Client,
                });
        let baggage = config.sends_baggage(request.uri());
        started.inject(&config.options.propagator, request.headers_mut(), baggage);
        let metric = if traced || config.metric.filtered {
            start_metric(&request, config)
        } else {
            None
        };
        let Some(span) = started.into_span() else {
            return ResponseFuture::untraced(self.inner.call(request), metric);
        };
        let call = Call::new(span, Side::Client, config.conventions, None);
        self.on_request.on_request(&request, &call.span.handle());
        let deadline = grpc_timeout(request.headers()).map(|t| call.start + t);
        let call = call.with_deadline(deadline);
        if config.message_events {
            let counted = call.span.clone();
            request = request.map(|body| {
                tonic::body::Body::new(MessageBody::new(body, counted, Messages::sent()))
            });
        }
        ResponseFuture::sampled(
            self.inner.call(request),
            call,
            config.message_events,
            self.on_response.clone(),
            metric,
        )
    }
}
