use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use std::borrow::Cow;

use http::{Request, Response};
use opentelemetry::trace::SpanKind;
use opentelemetry::{KeyValue, Value};
use tower::Service;
use tracewire_core::intern::Interner;
use tracewire_core::{CallFacts, Inbound};
use tracewire_propagation::traceparent::TraceParent;

use super::RequestInfo;
use super::future::{ResponseFuture, Sampled};
use super::layer::{Config, is_sensitive_header};
use crate::filter::Filter;
use crate::hooks::{MakeSpan, OnRequest, OnResponse, RequestSpan};
use crate::semconv::REDACTED;

/// The service made by [`HttpServerLayer`](super::HttpServerLayer).
#[derive(Clone)]
pub struct HttpServer<S, M, R, F, Q = ()> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config>,
    pub(crate) make_span: M,
    pub(crate) on_response: R,
    pub(crate) filter: F,
    pub(crate) on_request: Q,
    /// Whether the inner service's `call` can run application code, so that the request's
    /// context (or span) must be current around it; see [`call_runs_code`].
    pub(crate) call_runs_code: bool,
}

/// Whether `S::call` may run application code. axum's route service (what a layer added with
/// `Router::layer` wraps) only wraps the request in a future (tower's `Oneshot`) in `call`:
/// the layers inside it (their `poll_ready` and `call`) and the handler run when that future
/// is polled, and the layer makes the context current for every poll. For it, making the
/// context current around `call` too would cost a thread-local push and pop (for a bridged
/// span, an enter and exit) and change nothing. It is recognised by its type; any other
/// service is treated as running code in `call`.
// Without the `axum` feature every service runs code in `call`: `S` decides nothing.
#[cfg_attr(not(feature = "axum"), allow(clippy::extra_unused_type_parameters))]
pub(crate) fn call_runs_code<S: 'static>() -> bool {
    #[cfg(feature = "axum")]
    {
        std::any::TypeId::of::<S>() != std::any::TypeId::of::<axum::routing::Route>()
    }
    #[cfg(not(feature = "axum"))]
    {
        true
    }
}

/// Where a sampled call ends, as far as the request says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndsAt {
    /// At the body's end, unless the response says otherwise.
    Body,
    /// At the response headers: no body follows (`HEAD`), or the route was chosen to.
    Headers,
    /// A `CONNECT`: a successful answer opens a tunnel, which is not this call's body.
    HeadersIfSuccess,
}

/// Where the call of `request` ends, as far as the request says.
#[inline]
fn ends_at<B>(request: &Request<B>, config: &Config) -> EndsAt {
    if request.method() == http::Method::HEAD {
        EndsAt::Headers
    } else if request.method() == http::Method::CONNECT {
        EndsAt::HeadersIfSuccess
    } else if !config.end_at_headers_routes.is_empty()
        && super::route(request)
            .is_some_and(|r| config.end_at_headers_routes.iter().any(|e| e == r))
    {
        EndsAt::Headers
    } else {
        EndsAt::Body
    }
}

/// Starts measuring `request`, when the layer records metrics: method, scheme, route template
/// and protocol version, all static strings.
#[inline]
fn start_metric<B>(request: &Request<B>, config: &Config) -> Option<crate::metrics::HttpCall> {
    if !config.metric.metrics.recording() {
        return None;
    }
    let method = request.method();
    let route = super::route(request)
        .and_then(|route| {
            config
                .names
                .route(config.known_methods.name_method(method), route)
        })
        .map(|interned| interned.route);
    config.metric.start(crate::metrics::Start {
        method: config.known_methods.method(method).0,
        scheme: metric_scheme(request, config),
        version: request.version(),
        route,
        server: None,
        headers: request.headers(),
    })
}

/// `url.scheme` as the span has it, as a static string.
fn metric_scheme<B>(request: &Request<B>, config: &Config) -> &'static str {
    let scheme = if config.trusted_proxies.is_empty() {
        request.uri().scheme_str().unwrap_or(config.url_scheme)
    } else {
        // Behind trusted proxies the forwarded scheme counts: as the span reads it.
        let info = RequestInfo::new(
            request,
            &config.trusted_proxies,
            &[],
            config.url_scheme,
            &config.known_methods,
        );
        return static_scheme(info.scheme(), config.url_scheme);
    };
    static_scheme(scheme, config.url_scheme)
}

fn static_scheme(scheme: &str, default: &'static str) -> &'static str {
    if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else if scheme.eq_ignore_ascii_case("http") {
        "http"
    } else {
        default
    }
}

/// What the core asks of a request, made only when the sampler needs it or the request is
/// sampled.
struct ServerFacts<'a, B, M> {
    request: &'a Request<B>,
    info: RequestInfo<'a>,
    make_span: &'a mut M,
    names: &'a Interner,
}

impl<B, M: MakeSpan<B>> CallFacts for ServerFacts<'_, B, M> {
    fn sampling_name(&self) -> Cow<'_, str> {
        Cow::Owned(self.info.name().to_string())
    }

    fn sampling_attributes(&self) -> Vec<KeyValue> {
        self.info.sampling_attributes()
    }

    fn tracing_span(&mut self) -> tracing::Span {
        self.make_span.make_span(self.request, &self.info)
    }

    fn direct_span(&mut self) -> (Cow<'static, str>, Vec<KeyValue>) {
        let info = &self.info;
        let interned = info
            .route()
            .and_then(|route| self.names.route(info.name_method(), route));
        let name: Cow<'static, str> = match (interned, info.route()) {
            (Some(i), _) => i.name.into(),
            (None, None) => info.name_method().into(),
            (None, Some(_)) => info.name().to_string().into(),
        };
        let host = info.server_address().and_then(|h| self.names.host(h));
        (
            name,
            info.span_attributes_with(interned.map(|i| i.route), host),
        )
    }
}

impl<S: 'static> HttpServer<S, crate::hooks::DefaultMakeSpan, (), crate::filter::TraceAll> {
    /// Wraps `inner` with the default settings (see [`HttpServerLayer::new`](super::HttpServerLayer::new)).
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use tracewire_http::server::HttpServer;
    ///
    /// let service = HttpServer::new(tower::service_fn(|_: http::Request<String>| async {
    ///     Ok::<_, Infallible>(http::Response::new(String::new()))
    /// }));
    /// # let _ = service.get_ref();
    /// ```
    pub fn new(inner: S) -> Self {
        tower::Layer::layer(&super::HttpServerLayer::new(), inner)
    }

    /// The layer that makes this service, to configure.
    pub fn layer() -> super::HttpServerLayer {
        super::HttpServerLayer::new()
    }
}
impl<S, M, R, F, Q> HttpServer<S, M, R, F, Q> {
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

impl<S: fmt::Debug, M, R, F, Q> fmt::Debug for HttpServer<S, M, R, F, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("make_span", &std::any::type_name::<M>())
            .field("on_response", &std::any::type_name::<R>())
            .field("filter", &std::any::type_name::<F>())
            .field("on_request", &std::any::type_name::<Q>())
            .finish()
    }
}

impl<S, M, R, F, Q, ReqBody, ResBody> Service<Request<ReqBody>> for HttpServer<S, M, R, F, Q>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: fmt::Display + 'static,
    M: MakeSpan<ReqBody>,
    R: OnResponse<ResBody> + Clone,
    F: Filter<ReqBody>,
    Q: OnRequest<ReqBody>,
    ResBody: http_body::Body,
    ResBody::Error: fmt::Display + 'static,
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
        let make_span = &mut self.make_span;
        let started = config.options.start_incoming(
            SpanKind::Server,
            config.trust,
            request.headers(),
            traced,
            || ServerFacts {
                request: &request,
                info: RequestInfo::new(
                    &request,
                    &config.trusted_proxies,
                    &config.sensitive_query_keys,
                    config.url_scheme,
                    &config.known_methods,
                ),
                make_span,
                names: &config.names,
            },
        );
        let metric = (traced || config.metric.filtered)
            .then(|| start_metric(&request, config))
            .flatten();
        match started {
            Inbound::Untraced(cx) => self.call_unsampled(request, cx, None, metric),
            Inbound::Unsampled { cx, own } => self.call_unsampled(request, cx, own, metric),
            Inbound::Sampled { span, cx, own } => {
                let start = Instant::now();
                record_headers(
                    &span.handle(),
                    "http.request.header.",
                    &config.request_headers,
                    request.headers(),
                );
                self.on_request.on_request(&request, &span.handle());
                let ends_at_headers = ends_at(&request, config);
                request.extensions_mut().insert(cx);
                let future = if self.call_runs_code {
                    span.in_scope(|| self.inner.call(request))
                } else {
                    self.inner.call(request)
                };
                ResponseFuture::sampled(
                    future,
                    Sampled {
                        span,
                        on_response: self.on_response.clone(),
                        start,
                    },
                    own,
                    config,
                    metric,
                    ends_at_headers,
                )
            }
        }
    }
}

impl<S, M, R, F, Q> HttpServer<S, M, R, F, Q> {
    /// No span: one context (with our own span id when unsampled), current while the inner
    /// service runs and in the request's extensions.
    #[inline]
    fn call_unsampled<ReqBody>(
        &mut self,
        mut request: Request<ReqBody>,
        cx: opentelemetry::Context,
        own: Option<TraceParent>,
        metric: Option<crate::metrics::HttpCall>,
    ) -> ResponseFuture<S::Future, R>
    where
        S: Service<Request<ReqBody>>,
    {
        // Where the call ends matters only to its metrics when there is no span.
        let ends_at_headers = if metric.is_some() {
            ends_at(&request, &self.config)
        } else {
            EndsAt::Body
        };
        request.extensions_mut().insert(cx.clone());
        let future = call_inner(&mut self.inner, self.call_runs_code, &cx, request);
        ResponseFuture::unsampled(future, cx, own, &self.config, metric, ends_at_headers)
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
        assert!(!call_runs_code::<axum::routing::Route>());
        // Another error type is another type: the layer attaches around its call.
        assert!(call_runs_code::<axum::routing::Route<std::io::Error>>());
        assert!(call_runs_code::<tower::util::BoxCloneSyncService<(), (), ()>>());
        assert!(call_runs_code::<
            tower::util::MapRequest<axum::routing::Route, fn(()) -> ()>,
        >());
    }
}
