//! `http.route` for a layer outside axum's `Router`, where the route is chosen after the span
//! starts.

use std::fmt;
use std::task::{Context as TaskContext, Poll};

use axum::extract::MatchedPath;
use http::Request;
use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt;
use tower::{Layer, Service};

/// Sets `http.route` and the span name (`{method} {route}`) on the span of a server layer
/// that sits outside axum's `Router` (`ServiceBuilder` around the router, or a layer on an
/// outer router whose routes are nested routers), where the route is known only once the
/// router has matched. Add it inside the router with `Router::layer`; it reads axum's
/// `MatchedPath` and the request's context, which the server layer put in the extensions.
///
/// A layer added with `Router::layer` itself sees the route at once and needs none of this.
/// The span name's method follows the conventions' default list (`_OTHER` methods are named
/// `HTTP`).
///
/// ```
/// use axum::{Router, routing::get};
/// use tower::ServiceBuilder;
/// use tracewire_http::server::{HttpServerLayer, RecordRoute};
///
/// let router: Router = Router::new()
///     .route("/users/{id}", get(|| async { "alice" }))
///     .layer(RecordRoute::new());
/// let app = ServiceBuilder::new().layer(HttpServerLayer::new()).service(router);
/// # let _ = app;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RecordRoute {
    _private: (),
}

impl RecordRoute {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for RecordRoute {
    type Service = RecordRouteService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordRouteService { inner }
    }
}

/// The service made by [`RecordRoute`].
#[derive(Clone)]
pub struct RecordRouteService<S> {
    inner: S,
}

impl<S> RecordRouteService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for RecordRouteService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordRouteService")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S, B> Service<Request<B>> for RecordRouteService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        record(&request);
        self.inner.call(request)
    }
}

/// Records the matched route on the request's span, when it has one that is still open.
fn record<B>(request: &Request<B>) {
    let extensions = request.extensions();
    let (Some(route), Some(cx)) = (
        extensions.get::<MatchedPath>(),
        extensions.get::<opentelemetry::Context>(),
    ) else {
        return;
    };
    // Unsampled requests carry a context without a span; a span already ended records nothing.
    let span = cx.span();
    if !span.is_recording() {
        return;
    }
    let route = route.as_str();
    span.set_attribute(KeyValue::new("http.route", route.to_owned()));
    span.update_name(format!(
        "{} {route}",
        crate::semconv::name_method(request.method())
    ));
}
