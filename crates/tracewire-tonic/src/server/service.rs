use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::trace::SpanKind;
use tower::Service;
use tracewire_http::__private::{Decider, Head, Incoming};
use tracewire_http::filter::Filter;
use tracewire_http::server::TrustPolicy;

use super::future::ResponseFuture;
use crate::body::{MessageBody, ResponseBody};
use crate::call::{Call, CallInfo, Messages};
use crate::config::Config;
use crate::semconv::{RpcMethod, Side, grpc_timeout};

/// The service made by [`GrpcServerLayer`](super::GrpcServerLayer).
#[derive(Clone)]
pub struct GrpcServer<S, F> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config>,
    pub(crate) filter: F,
}

impl<S: fmt::Debug, F> fmt::Debug for GrpcServer<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcServer")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("filter", &std::any::type_name::<F>())
            .finish()
    }
}

/// The values of a server span, read from the request.
fn call_info<B>(request: &Request<B>) -> CallInfo<'_> {
    let uri = request.uri();
    let authority = uri
        .authority()
        .map(|a| (a.host(), a.port_u16()))
        .or_else(|| {
            let host = request.headers().get(http::header::HOST)?.to_str().ok()?;
            let authority: http::uri::Authority = host.parse().ok()?;
            // Only the port: the host must borrow from the request.
            Some((host.split(':').next().unwrap_or(host), authority.port_u16()))
        });
    CallInfo {
        method: RpcMethod::parse(uri.path()),
        server_address: authority.map(|a| a.0),
        server_port: authority.and_then(|a| a.1),
        peer: peer(request),
    }
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

impl<S, F, ResBody> Service<Request<tonic::body::Body>> for GrpcServer<S, F>
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
        let traced = config.traces_path(request.uri().path()) && self.filter.trace(&request);
        let (mut incoming, link) = Incoming::extract(
            &config.options.propagator,
            request.headers(),
            traced && config.trust == TrustPolicy::NewRoot,
        );
        if !traced {
            // No span, but the caller's context still reaches the handler's calls.
            let cx = incoming.into_context();
            return self.call_unsampled(request, cx);
        }

        // Decide before any span exists.
        let head = Head::incoming(&incoming, config.trust);
        let mut info = None;
        let decision = match head.quick(&config.options.sampler) {
            Some(sampled) => Decider::plain(sampled),
            None => {
                let info = info.insert(call_info(&request));
                head.decide(
                    &config.options.sampler,
                    info.method.span_name(),
                    &SpanKind::Server,
                    &info.attributes(config),
                )
            }
        };
        if config.trust == TrustPolicy::OwnSampling {
            // Our decision replaces the caller's flag, so the tracer provider's parent-based
            // sampler agrees with it.
            incoming.set_parent_sampled(decision.sampled);
        }

        if !decision.sampled {
            // No span: one context with our own span id.
            let cx = match head.unsampled() {
                Some(own) => incoming.into_child_context(own, decision.trace_state),
                None => incoming.into_context(),
            };
            return self.call_unsampled(request, cx);
        }

        let deadline = grpc_timeout(request.headers()).map(|t| Instant::now() + t);
        let parent_cx = incoming.into_context();
        let span = info.unwrap_or_else(|| call_info(&request)).make_span(
            config,
            Side::Server,
            &parent_cx,
            decision,
            link,
        );
        let Some(span) = span else {
            // The subscriber filtered the span out: the caller's context still flows on.
            return self.call_unsampled(request, parent_cx);
        };
        request.extensions_mut().insert(span.context());
        if config.message_events {
            let counted = span.clone();
            request = request.map(|body| {
                tonic::body::Body::new(MessageBody::new(body, counted, Messages::received()))
            });
        }
        let future = span.in_scope(|| self.inner.call(request));
        ResponseFuture::sampled(
            future,
            Call::new(span, Side::Server, config.conventions, deadline),
            config.message_events,
        )
    }
}

impl<S, F> GrpcServer<S, F> {
    fn call_unsampled<ResBody>(
        &mut self,
        mut request: Request<tonic::body::Body>,
        cx: opentelemetry::Context,
    ) -> ResponseFuture<S::Future>
    where
        S: Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
    {
        request.extensions_mut().insert(cx.clone());
        let future = {
            let _guard = cx.clone().attach();
            self.inner.call(request)
        };
        ResponseFuture::unsampled(future, cx)
    }
}
