//! Distributed tracing for [reqwest] through [reqwest-middleware]: one CLIENT span per request
//! attempt and the context sent on, the same as tracewire's HTTP client layer.
//!
//! ```
//! use tracewire_reqwest::TracingMiddleware;
//!
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(TracingMiddleware::new())
//!     .build();
//! # let _ = client;
//! ```
//!
//! Configure it like the client layer, whose options it takes:
//!
//! ```
//! use tracewire_http::client::HttpClientLayer;
//! use tracewire_reqwest::TracingMiddleware;
//!
//! let middleware = TracingMiddleware::from_layer(
//!     &HttpClientLayer::new().send_baggage_to(|uri: &http::Uri| uri.host() == Some("inventory.internal")),
//! );
//! # let _ = middleware;
//! ```
//!
//! Put retry middleware *before* this one: each attempt then gets its own span, with
//! `http.request.resend_count` from the second on. A caller's
//! [`UrlTemplate`], given with
//! `RequestBuilder::with_extension`, names the span. The span lasts until the response body
//! has been read or dropped.
//!
//! [reqwest]: https://docs.rs/reqwest
//! [reqwest-middleware]: https://docs.rs/reqwest-middleware

use http::Extensions;
use reqwest_middleware::{Middleware, Next, Result};
use tracewire_http::client::{ClientSpan, ClientTracer, HttpClientLayer, ResendCount, UrlTemplate};

/// The reqwest-middleware middleware.
#[derive(Clone, Debug)]
pub struct TracingMiddleware {
    tracer: ClientTracer,
}

impl Default for TracingMiddleware {
    fn default() -> Self {
        Self::new()
    }
}

impl TracingMiddleware {
    /// With the client layer's defaults: W3C trace context everywhere, baggage nowhere until
    /// allowed.
    pub fn new() -> Self {
        Self::from_layer(&HttpClientLayer::new())
    }

    /// With the options of `layer` (propagator, sampler, span mode, where context and
    /// baggage go, redaction).
    pub fn from_layer<R, F, Q>(layer: &HttpClientLayer<R, F, Q>) -> Self {
        Self {
            tracer: layer.tracer(),
        }
    }
}

/// Ends the span as cancelled if the request's future is dropped before it completes.
struct CancelGuard(Option<ClientSpan>);

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            span.cancel();
        }
    }
}

fn error_type(error: &reqwest_middleware::Error) -> Option<&'static str> {
    match error {
        reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => Some("timeout"),
        reqwest_middleware::Error::Reqwest(e) if e.is_connect() => Some("connect"),
        _ => None,
    }
}

#[async_trait::async_trait]
impl Middleware for TracingMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<reqwest::Response> {
        // Middleware before this one (a retry) passes the same extensions to every attempt.
        let resend = match extensions.get_mut::<ResendCount>() {
            Some(count) => {
                count.0 += 1;
                *count
            }
            None => {
                extensions.insert(ResendCount(0));
                ResendCount(0)
            }
        };
        let Ok(uri) = req.url().as_str().parse::<http::Uri>() else {
            return next.run(req, extensions).await;
        };
        let mut span_extensions = Extensions::new();
        span_extensions.insert(resend);
        if let Some(template) = extensions.get::<UrlTemplate>() {
            span_extensions.insert(*template);
        }
        let method = req.method().clone();
        let Some(span) = self
            .tracer
            .start(&method, &uri, &span_extensions, req.headers_mut())
        else {
            return next.run(req, extensions).await;
        };
        let mut guard = CancelGuard(Some(span));
        let result = next.run(req, extensions).await;
        let Some(mut span) = guard.0.take() else {
            return result;
        };
        match result {
            Ok(response) => {
                span.record_response(response.status(), response.version());
                Ok(wrap_body(response, span))
            }
            Err(error) => {
                let exception_type = std::any::type_name::<reqwest_middleware::Error>();
                match error_type(&error) {
                    Some(kind) => span.fail_with(&error, kind, exception_type),
                    None => span.fail(&error),
                }
                Err(error)
            }
        }
    }
}

/// The same response, with a body that ends the span when it has been read or dropped.
fn wrap_body(response: reqwest::Response, span: ClientSpan) -> reqwest::Response {
    let url = response.url().clone();
    let response: http::Response<reqwest::Body> = response.into();
    let (mut parts, body) = response.into_parts();
    // Keep `Response::url()`: reqwest reads it from an extension its builder sets.
    if let Ok(with_url) = reqwest::ResponseBuilderExt::url(http::Response::builder(), url).body(())
    {
        parts.extensions.extend(with_url.into_parts().0.extensions);
    }
    let body = reqwest::Body::wrap(span.wrap_body(body));
    reqwest::Response::from(http::Response::from_parts(parts, body))
}
