//! OpenTelemetry HTTP semantic conventions (stable names), shared by the server and client
//! layers.

use std::borrow::Cow;

use http::{Method, StatusCode, Version};

/// `http.request.method`
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.request.method_original`
pub const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
/// `http.response.status_code`
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `http.route`
pub const HTTP_ROUTE: &str = "http.route";
/// `url.path`
pub const URL_PATH: &str = "url.path";
/// `url.query`
pub const URL_QUERY: &str = "url.query";
/// `url.scheme`
pub const URL_SCHEME: &str = "url.scheme";
/// `url.full`
pub const URL_FULL: &str = "url.full";
/// `server.address`
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`
pub const SERVER_PORT: &str = "server.port";
/// `client.address`
pub const CLIENT_ADDRESS: &str = "client.address";
/// `network.peer.address`
pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
/// `network.peer.port`
pub const NETWORK_PEER_PORT: &str = "network.peer.port";
/// `network.protocol.version`
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// `user_agent.original`
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";
/// `error.type`
pub const ERROR_TYPE: &str = "error.type";

/// The value that replaces redacted data.
pub const REDACTED: &str = "REDACTED";

/// Query parameters whose values are always redacted.
pub const SENSITIVE_QUERY_KEYS: &[&str] = &[
    "AWSAccessKeyId",
    "Signature",
    "sig",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "X-Goog-Signature",
];

/// Headers whose values are always redacted when captured.
pub const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
    "proxy-authenticate",
    "www-authenticate",
];

/// `http.request.method` and, for methods outside the known set, the original.
///
/// Known: `CONNECT DELETE GET HEAD OPTIONS PATCH POST PUT TRACE QUERY`; anything else is
/// `_OTHER` and the span name uses `HTTP`.
pub fn method(method: &Method) -> (&'static str, Option<&str>) {
    let known = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ if method.as_str() == "QUERY" => "QUERY",
        _ => return ("_OTHER", Some(method.as_str())),
    };
    (known, None)
}

/// The method part of a span name: the method, or `HTTP` when it is `_OTHER`.
pub fn name_method(method: &Method) -> &'static str {
    match self::method(method).0 {
        "_OTHER" => "HTTP",
        known => known,
    }
}

/// The HTTP methods the layers know: the conventions' list by default, or a full override
/// from `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` (comma-separated, case-sensitive) or a
/// layer's `known_methods`. A method outside the set is `_OTHER` (and `HTTP` in the span
/// name), with `http.request.method_original`.
///
/// ```
/// use http::Method;
/// use tracewire_http::semconv::KnownMethods;
///
/// let webdav = KnownMethods::parse("GET,PUT,PROPFIND");
/// let propfind = Method::from_bytes(b"PROPFIND").unwrap();
/// assert_eq!(webdav.method(&propfind), ("PROPFIND", None));
/// assert_eq!(webdav.method(&Method::POST), ("_OTHER", Some("POST")));
/// assert_eq!(KnownMethods::default().method(&propfind), ("_OTHER", Some("PROPFIND")));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownMethods(Option<std::sync::Arc<[&'static str]>>);

impl KnownMethods {
    /// The variable that overrides the known methods.
    pub const ENV: &'static str = "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS";

    /// Exactly `methods` (a full override of the default list).
    pub fn new<I, S>(methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self(Some(
            methods
                .into_iter()
                .map(|m| m.as_ref().trim().to_owned())
                .filter(|m| !m.is_empty())
                .map(|m| intern_method(&m))
                .collect(),
        ))
    }

    /// A comma-separated list; empty means the default list.
    pub fn parse(value: &str) -> Self {
        if value.trim().is_empty() {
            return Self::default();
        }
        Self::new(value.split(','))
    }

    /// From `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`, or the default list when it is unset.
    pub fn from_env() -> Self {
        std::env::var(Self::ENV)
            .map(|v| Self::parse(&v))
            .unwrap_or_default()
    }

    /// `http.request.method` and, for a method outside the set, the original.
    pub fn method<'m>(&self, method: &'m Method) -> (&'static str, Option<&'m str>) {
        match &self.0 {
            None => self::method(method),
            Some(known) => match known.iter().find(|k| **k == method.as_str()) {
                Some(k) => (k, None),
                None => ("_OTHER", Some(method.as_str())),
            },
        }
    }

    /// The method part of a span name: the method, or `HTTP` when it is `_OTHER`.
    pub fn name_method(&self, method: &Method) -> &'static str {
        match self.method(method).0 {
            "_OTHER" => "HTTP",
            known => known,
        }
    }
}

/// A configured method name for the life of the process: configuration, not requests,
/// chooses them, and each distinct name is kept once.
fn intern_method(name: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = names.get(name) {
        return found;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// `network.protocol.version`.
pub fn protocol_version(version: Version) -> Option<&'static str> {
    Some(match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// `error.type` for a status code that is an error on this side: every 5xx, and 4xx on the
/// client; codes outside 100..=599 are errors on both sides.
pub fn status_error(status: &StatusCode, client: bool) -> Option<&str> {
    let code = status.as_u16();
    if !(100..600).contains(&code) {
        return Some("_OTHER");
    }
    (code >= 500 || (client && code >= 400)).then(|| status.as_str())
}

/// The query with the values of sensitive parameters replaced by `REDACTED`; borrowed when
/// nothing was redacted.
pub fn redact_query<'a>(query: &'a str, extra_keys: &[String]) -> Cow<'a, str> {
    let sensitive = |key: &str| {
        SENSITIVE_QUERY_KEYS
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
            || extra_keys.iter().any(|k| k.eq_ignore_ascii_case(key))
    };
    let needs = query.split('&').any(|pair| {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        sensitive(key) && pair.contains('=')
    });
    if !needs {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if sensitive(key) => {
                out.push_str(key);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    Cow::Owned(out)
}

/// Splits a `Host` header or authority into address and port (IPv6 literals lose their
/// brackets); see [`tracewire_core::addr::host_and_port`].
pub fn host_and_port(host: &str) -> (&str, Option<u16>) {
    tracewire_core::addr::host_and_port(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods() {
        assert_eq!(method(&Method::GET), ("GET", None));
        assert_eq!(
            method(&Method::from_bytes(b"QUERY").unwrap()),
            ("QUERY", None)
        );
        assert_eq!(
            method(&Method::from_bytes(b"get").unwrap()),
            ("_OTHER", Some("get"))
        );
        assert_eq!(name_method(&Method::from_bytes(b"PURGE").unwrap()), "HTTP");
    }

    #[test]
    fn status_errors() {
        assert_eq!(status_error(&StatusCode::OK, false), None);
        assert_eq!(status_error(&StatusCode::NOT_FOUND, false), None);
        assert_eq!(status_error(&StatusCode::NOT_FOUND, true), Some("404"));
        assert_eq!(status_error(&StatusCode::BAD_GATEWAY, false), Some("502"));
        assert_eq!(
            status_error(&StatusCode::from_u16(599).unwrap(), false),
            Some("599")
        );
        assert_eq!(
            status_error(&StatusCode::from_u16(999).unwrap(), false),
            Some("_OTHER")
        );
    }

    #[test]
    fn query_redaction() {
        assert!(matches!(
            redact_query("a=1&b=2", &[]),
            Cow::Borrowed("a=1&b=2")
        ));
        assert_eq!(
            redact_query("a=1&sig=secret&X-Amz-Signature=x", &[]),
            "a=1&sig=REDACTED&X-Amz-Signature=REDACTED"
        );
        assert_eq!(
            redact_query("token=abc&x", &["token".into()]),
            "token=REDACTED&x"
        );
        assert_eq!(redact_query("sig", &[]), "sig");
    }

    #[test]
    fn hosts() {
        assert_eq!(
            host_and_port("example.com:8080"),
            ("example.com", Some(8080))
        );
        assert_eq!(host_and_port("example.com"), ("example.com", None));
        assert_eq!(host_and_port("[::1]:80"), ("::1", Some(80)));
        assert_eq!(host_and_port("[::1]"), ("::1", None));
        assert_eq!(host_and_port("::1"), ("::1", None));
        assert_eq!(host_and_port("host:notaport"), ("host:notaport", None));
    }
}
