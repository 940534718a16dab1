//! The HTTP client layer: one CLIENT span per request attempt, context out.
//!
//! ```
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use tower::ServiceBuilder;
//! use tracewire_http::client::HttpClientLayer;
//!
//! let client = ServiceBuilder::new()
//!     .layer(HttpClientLayer::new())
//!     .service(Client::builder(TokioExecutor::new()).build_http::<http_body_util::Empty<bytes::Bytes>>());
//! # let _ = client;
//! ```
//!
//! # What happens per request
//!
//! The parent is the current OpenTelemetry context (the server layer keeps the request's
//! context current while a handler runs, sampled or not). A sampled parent gets a CLIENT
//! span, a `tracing` span bridged to OpenTelemetry by default or a span made directly with
//! [`HttpClientLayer::tracer_provider`]'s tracer; an unsampled parent gets no span, only a new
//! span id. Either way the request carries its own span id downstream, even when the span is
//! filtered out. The span lasts until the response body has been read to its end or dropped
//! (a slow download is visible); the event `http.response.headers` marks the time to first
//! byte.
//!
//! Context goes to every destination; baggage only to those
//! [`send_baggage_to`](HttpClientLayer::send_baggage_to) allows, so a third party never
//! receives internal baggage unless you say so.
//!
//! Attributes follow the HTTP conventions for clients: `http.request.method` (`_OTHER` and
//! `http.request.method_original` for unknown methods), `server.address`, `server.port`,
//! `url.full` with credentials and sensitive query values redacted, `network.protocol.version`,
//! `http.response.status_code`, and `error.type` (the status code for 4xx and 5xx, `timeout`,
//! `connect` or the error's type for transport errors). 4xx and 5xx are errors on a client
//! span; a caller that drops the request is recorded with the event `http.request.cancelled`
//! and is not an error.

mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::HttpClientLayer;
pub use self::service::{ClientSpan, ClientTracer, HttpClient};
pub use crate::body::{HttpEnd, ResponseBody};

/// A low-cardinality template of the request's URL (`/users/{id}`), set by the caller as a
/// request extension: it becomes `url.template` and the span name `{method} {template}`.
///
/// ```
/// use tracewire_http::client::UrlTemplate;
///
/// let request = http::Request::get("http://users.internal/users/42")
///     .extension(UrlTemplate("/users/{id}"))
///     .body(())
///     .unwrap();
/// # let _ = request;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlTemplate(pub &'static str);

/// How many times this request was sent before (its retries and redirects), set as a request
/// extension by whatever resends it: it becomes `http.request.resend_count` when above zero.
/// The reqwest middleware sets it itself for retries made by middleware before it.
///
/// ```
/// use tracewire_http::client::ResendCount;
///
/// let retry = http::Request::get("http://users.internal/users/42")
///     .extension(ResendCount(1))
///     .body(())
///     .unwrap();
/// # let _ = retry;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResendCount(pub u32);

/// Records a response on a client span: the time to first byte (event
/// `http.response.headers`), the status (4xx and 5xx are errors) and the protocol version.
pub(crate) fn record_response(
    span: &tracewire_core::SampledSpan,
    status: http::StatusCode,
    version: http::Version,
) {
    span.add_event("http.response.headers");
    crate::record::record_status(span, status, true);
    if let Some(version) = crate::semconv::protocol_version(version) {
        span.set_static(crate::semconv::NETWORK_PROTOCOL_VERSION, version);
    }
}

/// `url.full` with credentials replaced by `REDACTED:REDACTED` and sensitive query values by
/// `REDACTED`.
pub(crate) fn redacted_url(uri: &http::Uri, extra_keys: &[String]) -> String {
    let mut out = String::with_capacity(uri.to_string().len() + 16);
    if let Some(scheme) = uri.scheme_str() {
        out.push_str(scheme);
        out.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        match authority.as_str().rsplit_once('@') {
            Some((_, host)) => {
                out.push_str("REDACTED:REDACTED@");
                out.push_str(host);
            }
            None => out.push_str(authority.as_str()),
        }
    }
    out.push_str(uri.path());
    if let Some(query) = uri.query() {
        out.push('?');
        out.push_str(&crate::semconv::redact_query(query, extra_keys));
    }
    out
}

/// The port a client connects to: explicit, or the scheme's default.
pub(crate) fn port(uri: &http::Uri) -> Option<u16> {
    tracewire_core::addr::uri_port(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        let uri: http::Uri = "https://user:pass@example.com:8443/a/b?sig=secret&q=1"
            .parse()
            .unwrap();
        assert_eq!(
            redacted_url(&uri, &[]),
            "https://REDACTED:REDACTED@example.com:8443/a/b?sig=REDACTED&q=1"
        );
        let uri: http::Uri = "http://example.com/x".parse().unwrap();
        assert_eq!(redacted_url(&uri, &[]), "http://example.com/x");
        assert_eq!(port(&uri), Some(80));
        assert_eq!(port(&"https://e.com/".parse().unwrap()), Some(443));
    }
}
