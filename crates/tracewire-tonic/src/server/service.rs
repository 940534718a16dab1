use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use opentelemetry::trace::SpanKind;
use tower::Service;
use tracewire_core::Inbound;
use tracewire_core::filter::Filter;
use tracewire_core::hooks::{OnRequest, OnResponse};

use super::future::ResponseFuture;
use crate::body::{MessageBody, ResponseBody};
use crate::call::{Call, CallInfo, GrpcFacts, Messages};
use crate::config::Config;
use crate::semconv::{RpcMethod, Side, grpc_timeout};

/// The service made by [`GrpcServerLayer`](super::GrpcServerLayer).
#[derive(Clone)]
pub struct GrpcServer<S, R = (), F = tracewire_core::filter::TraceAll, Q = ()> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config>,
    pub(crate) on_response: R,
    pub(crate) filter: F,
    pub(crate) on_request: Q,
}

impl<S> GrpcServer<S> {
    /// Wraps `inner` with the default settings (see [`GrpcServerLayer::new`](super::GrpcServerLayer::new)).
    pub fn new(inner: S) -> Self {
        tower::Layer::layer(&super::GrpcServerLayer::new(), inner)
    }

    /// The layer that makes this service, to configure.
    pub fn layer() -> super::GrpcServerLayer {
        super::GrpcServerLayer::new()
    }
}
impl<S, R, F, Q> GrpcServer<S, R, F, Q> {
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

impl<S: fmt::Debug, R, F, Q> fmt::Debug for GrpcServer<S, R, F, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcServer")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("on_response", &std::any::type_name::<R>())
            .field("filter", &std::any::type_name::<F>())
            .field("on_request", &std::any::type_name::<Q>())
            .finish()
    }
}

/// The values of a server span, read from the request.
fn call_info<B>(request: &Request<B>) -> CallInfo<'_> {
    let uri = request.uri();
    // The address and the port come from the same place: the request's authority, or the
    // `Host` header.
    let authority = match uri.authority() {
        Some(a) => Some(tracewire_core::addr::host_and_port(a.as_str())),
        None => request
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(tracewire_core::addr::host_and_port),
    };
    CallInfo {
        method: RpcMethod::parse(uri.path()),
        server_address: authority.map(|a| a.0),
        server_port: authority.and_then(|a| a.1),
        peer: peer(request),
    }
}

/// Starts measuring a call, when the layer records metrics.
#[inline]
fn start_metric<B>(request: &Request<B>, config: &Config) -> Option<crate::metrics::RpcCall> {
    if !config.metric.metrics.recording() {
        return None;
    }
    let info = call_info(request);
    let deadline = grpc_timeout(request.headers()).map(|t| std::time::Instant::now() + t);
    config.metric.start(
        &info.method,
        (info.server_address, info.server_port),
        &config.names,
        deadline,
    )
}

#[cfg(feature = "transport")]
fn peer<B>(request: &Request<B>) -> Option<std::net::SocketAddr> {
    request
        .extensions()
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(|info| info.remote_addr())
}

#[cfg(not(feature = "transport"))]
fn peer<B>(_: &Request<B>) -> Option<std::net::SocketAddr> {
    None
}

impl<S, R, F, Q, ResBody> Service<Request<tonic::body::Body>> for GrpcServer<S, R, F, Q>
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
        let started = config.options.start_incoming(
            SpanKind::Server,
            config.trust,
            request.headers(),
            traced,
            || GrpcFacts {
                info: call_info(&request),
                config,
                side: Side::Server,
            },
        );
        let metric = if traced || config.metric.filtered {
            start_metric(&request, config)
        } else {
            None
        };
        let (span, cx) = match started {
            Inbound::Untraced(cx) | Inbound::Unsampled { cx, .. } => {
                return self.call_unsampled(request, cx, metric);
            }
            Inbound::Sampled { span, cx, .. } => (span, cx),
        };
        let call = Call::new(span, Side::Server, config.conventions, None);
        self.on_request.on_request(&request, &call.span.handle());
        let deadline = grpc_timeout(request.headers()).map(|t| call.start + t);
        let call = call.with_deadline(deadline);
        request.extensions_mut().insert(cx);
        if config.message_events {
            let counted = call.span.clone();
            request = request.map(|body| {
                tonic::body::Body::new(MessageBody::new(body, counted, Messages::received()))
            });
        }
        let future = call.span.in_scope(|| self.inner.call(request));
        ResponseFuture::sampled(
            future,
            call,
            config.message_events,
            self.on_response.clone(),
            metric,
        )
    }
}

impl<S, R, F, Q> GrpcServer<S, R, F, Q> {
    fn call_unsampled<ResBody>(
        &mut self,
        mut request: Request<tonic::body::Body>,
        cx: opentelemetry::Context,
        metric: Option<crate::metrics::RpcCall>,
    ) -> ResponseFuture<S::Future, R>
    where
        S: Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
    {
        request.extensions_mut().insert(cx.clone());
        let future = {
            let _guard = cx.clone().attach();
            self.inner.call(request)
        };
        ResponseFuture::unsampled(future, cx, metric)
    }
}
