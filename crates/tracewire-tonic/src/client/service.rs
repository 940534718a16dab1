use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::Context;
use opentelemetry::trace::SpanKind;
use tower::Service;
use tracewire_core::filter::Filter;

use super::future::ResponseFuture;
use crate::body::{MessageBody, ResponseBody};
use crate::call::{Call, CallInfo, GrpcFacts, Messages};
use crate::config::Config;
use crate::semconv::{RpcMethod, Side, grpc_timeout};

/// The service made by [`GrpcClientLayer`](super::GrpcClientLayer).
#[derive(Clone)]
pub struct GrpcClient<S, F> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config>,
    pub(crate) filter: F,
}

impl<S> GrpcClient<S, tracewire_core::filter::TraceAll> {
    /// Wraps `inner` with the default settings (see [`GrpcClientLayer::new`](super::GrpcClientLayer::new)).
    pub fn new(inner: S) -> Self {
        tower::Layer::layer(&super::GrpcClientLayer::new(), inner)
    }

    /// The layer that makes this service, to configure.
    pub fn layer() -> super::GrpcClientLayer {
        super::GrpcClientLayer::new()
    }
}
impl<S, F> GrpcClient<S, F> {
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

impl<S, F, ResBody> Service<Request<tonic::body::Body>> for GrpcClient<S, F>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
    S::Error: fmt::Display + fmt::Debug + 'static,
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
        let traced = config.traces_path(request.uri().path()) && self.filter.trace(&request);
        let started =
            config
                .options
                .start_outgoing(SpanKind::Client, Context::current(), traced, || GrpcFacts {
                    info: call_info(&request, config),
                    config,
                    side: Side::Client,
                });
        started.inject(
            &config.options.propagator,
            request.headers_mut(),
            config.send_baggage,
        );
        let Some(span) = started.into_span() else {
            return ResponseFuture::untraced(self.inner.call(request));
        };
        let deadline = grpc_timeout(request.headers()).map(|t| Instant::now() + t);
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
