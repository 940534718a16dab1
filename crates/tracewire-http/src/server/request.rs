//! The semantic-convention values of a request, read once: the span's name and attributes,
//! and the attributes a sampler sees.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use http::Request;
use opentelemetry::{KeyValue, Value};
use tracing::Span;

use super::PeerAddr;
use super::forwarded::{forwarded_for, forwarded_value};
use crate::semconv;

/// The semantic-convention values of a request, computed once, for span creation and sampling.
#[derive(Debug)]
pub struct RequestInfo<'a> {
    name_method: &'static str,
    method: &'static str,
    method_original: Option<&'a str>,
    route: Option<&'a str>,
    path: &'a str,
    query: Option<Cow<'a, str>>,
    scheme: &'a str,
    server_address: Option<&'a str>,
    server_port: Option<u16>,
    client_address: Option<Cow<'a, str>>,
    peer: Option<SocketAddr>,
    user_agent: Option<&'a str>,
    protocol_version: Option<&'static str>,
}

impl<'a> RequestInfo<'a> {
    pub(crate) fn new<B>(
        request: &'a Request<B>,
        trusted_proxies: &[IpAddr],
        sensitive_query_keys: &[String],
        default_scheme: &'static str,
        known_methods: &semconv::KnownMethods,
    ) -> Self {
        let (method, method_original) = known_methods.method(request.method());
        let route = route(request);
        let name_method = known_methods.name_method(request.method());
        let headers = request.headers();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let peer = peer(request);
        let trusted = peer.is_some_and(|p| trusted_proxies.contains(&p.ip()));
        let forwarded = if trusted { header("forwarded") } else { None };
        let forwarded_param = |key: &str| forwarded.and_then(|f| forwarded_value(f, key));
        // `X-Forwarded-*` lists grow by one entry per proxy: the first is the original
        // client's request.
        let x_forwarded = |name: &str| {
            trusted
                .then(|| header(name))
                .flatten()
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };

        let scheme = forwarded_param("proto")
            .or_else(|| x_forwarded("x-forwarded-proto"))
            .or_else(|| request.uri().scheme_str())
            .unwrap_or(default_scheme);
        // The address and the port come from the same place.
        let host = forwarded_param("host")
            .or_else(|| x_forwarded("x-forwarded-host"))
            .or_else(|| request.uri().authority().map(|a| a.as_str()))
            .or_else(|| header("host"));
        let (server_address, server_port) = match host {
            Some(h) => {
                let (a, p) = semconv::host_and_port(h);
                (Some(a), p)
            }
            None => (None, None),
        };
        let client_address = if trusted {
            forwarded_for(forwarded, header("x-forwarded-for"), trusted_proxies)
        } else {
            None
        }
        .or_else(|| peer.map(|p| Cow::Owned(p.ip().to_string())));

        Self {
            name_method,
            method,
            method_original,
            route,
            path: request.uri().path(),
            query: request
                .uri()
                .query()
                .map(|q| semconv::redact_query(q, sensitive_query_keys)),
            scheme,
            server_address,
            server_port,
            client_address,
            peer,
            user_agent: header("user-agent"),
            protocol_version: semconv::protocol_version(request.version()),
        }
    }

    /// The span name: `{method} {http.route}`, `{method}` without a route, `HTTP` for unknown
    /// methods (written out only when displayed).
    pub fn name(&self) -> SpanName<'_> {
        SpanName {
            method: self.name_method,
            route: self.route,
        }
    }

    /// `http.request.method` (`_OTHER` for unknown methods).
    pub(crate) fn scheme(&self) -> &str {
        self.scheme
    }

    /// The `http.request.method` value (`_OTHER` for methods outside the known set).
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// `http.route`, when the framework provides one (axum's `MatchedPath`).
    pub fn route(&self) -> Option<&str> {
        self.route
    }

    /// The method part of the span name (`HTTP` for unknown methods).
    pub(crate) fn name_method(&self) -> &'static str {
        self.name_method
    }

    /// `url.path`.
    pub fn path(&self) -> &str {
        self.path
    }

    /// `client.address`: the peer, or the original client behind a trusted proxy.
    pub fn client_address(&self) -> Option<&str> {
        self.client_address.as_deref()
    }

    /// The standard span: INFO level, target `tracewire::http::server`, with every attribute
    /// known at the start and the fields the layer records later declared empty.
    pub fn default_span(&self) -> Span {
        tracing::info_span!(
            target: "tracewire::http::server",
            parent: None,
            "HTTP request",
            otel.name = %self.name(),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.request.method = self.method,
            http.request.method_original = self.method_original,
            http.route = self.route,
            http.response.status_code = tracing::field::Empty,
            url.path = self.path,
            url.query = self.query.as_deref(),
            url.scheme = self.scheme,
            server.address = self.server_address,
            server.port = self.server_port.map(i64::from),
            client.address = self.client_address.as_deref(),
            network.peer.address = self.peer.map(|p| tracing::field::display(p.ip())),
            network.peer.port = self.peer.map(|p| i64::from(p.port())),
            network.protocol.version = self.protocol_version,
            user_agent.original = self.user_agent,
            error.type = tracing::field::Empty,
        )
    }

    /// Every attribute known at the start, for a span made directly with a tracer.
    pub fn span_attributes(&self) -> Vec<KeyValue> {
        self.span_attributes_with(None, None)
    }

    /// [`span_attributes`](Self::span_attributes), with `http.route` and `server.address`
    /// given as static strings.
    pub(crate) fn span_attributes_with(
        &self,
        route: Option<&'static str>,
        host: Option<&'static str>,
    ) -> Vec<KeyValue> {
        let mut attrs = self.attributes_with(route, host, 14);
        if let Some(original) = self.method_original {
            attrs.push(KeyValue::new(
                semconv::HTTP_REQUEST_METHOD_ORIGINAL,
                original.to_owned(),
            ));
        }
        if let Some(query) = &self.query {
            attrs.push(KeyValue::new(semconv::URL_QUERY, query.to_string()));
        }
        if let Some(peer) = self.peer {
            attrs.push(KeyValue::new(
                semconv::NETWORK_PEER_ADDRESS,
                peer.ip().to_string(),
            ));
            attrs.push(KeyValue::new(
                semconv::NETWORK_PEER_PORT,
                Value::I64(i64::from(peer.port())),
            ));
        }
        if let Some(version) = self.protocol_version {
            attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
        }
        attrs
    }

    /// The attributes a sampler sees (those the conventions list as sampling-relevant).
    pub fn sampling_attributes(&self) -> Vec<KeyValue> {
        self.attributes_with(None, None, 8)
    }

    /// `server.address`, from `Forwarded`/`X-Forwarded-Host` behind a trusted proxy, the
    /// authority or the `Host` header.
    pub fn server_address(&self) -> Option<&str> {
        self.server_address
    }

    fn attributes_with(
        &self,
        static_route: Option<&'static str>,
        static_host: Option<&'static str>,
        capacity: usize,
    ) -> Vec<KeyValue> {
        let mut attrs = Vec::with_capacity(capacity);
        attrs.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, self.method));
        attrs.push(KeyValue::new(semconv::URL_PATH, self.path.to_owned()));
        attrs.push(KeyValue::new(
            semconv::URL_SCHEME,
            match self.scheme {
                "http" => Value::from("http"),
                "https" => Value::from("https"),
                other => Value::from(other.to_owned()),
            },
        ));
        match (static_route, self.route) {
            (Some(route), _) => attrs.push(KeyValue::new(semconv::HTTP_ROUTE, route)),
            (None, Some(route)) => attrs.push(KeyValue::new(semconv::HTTP_ROUTE, route.to_owned())),
            (None, None) => {}
        }
        match (static_host, self.server_address) {
            (Some(host), _) => attrs.push(KeyValue::new(semconv::SERVER_ADDRESS, host)),
            (None, Some(address)) => {
                attrs.push(KeyValue::new(semconv::SERVER_ADDRESS, address.to_owned()));
            }
            (None, None) => {}
        }
        if let Some(port) = self.server_port {
            attrs.push(KeyValue::new(
                semconv::SERVER_PORT,
                Value::I64(i64::from(port)),
            ));
        }
        if let Some(client) = &self.client_address {
            attrs.push(KeyValue::new(semconv::CLIENT_ADDRESS, client.to_string()));
        }
        if let Some(ua) = self.user_agent {
            attrs.push(KeyValue::new(semconv::USER_AGENT_ORIGINAL, ua.to_owned()));
        }
        attrs
    }
}

/// A span name, `{method} {route}` or `{method}`, written out only when displayed.
#[derive(Clone, Copy, Debug)]
pub struct SpanName<'a> {
    method: &'static str,
    route: Option<&'a str>,
}

impl std::fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.route {
            Some(route) => write!(f, "{} {route}", self.method),
            None => f.write_str(self.method),
        }
    }
}

pub(crate) fn route<B>(request: &Request<B>) -> Option<&str> {
    #[cfg(feature = "axum")]
    {
        request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(|m| m.as_str())
    }
    #[cfg(not(feature = "axum"))]
    {
        let _ = request;
        None
    }
}

fn peer<B>(request: &Request<B>) -> Option<SocketAddr> {
    let ours = request.extensions().get::<PeerAddr>().map(|p| p.0);
    #[cfg(feature = "axum")]
    {
        ours.or_else(|| {
            request
                .extensions()
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0)
        })
    }
    #[cfg(not(feature = "axum"))]
    {
        ours
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_attributes() {
        let req = Request::builder()
            .method("PURGE")
            .uri("http://example.com:8080/a?sig=secret&x=1")
            .header("user-agent", "test/1")
            .body(())
            .unwrap();
        let info = RequestInfo::new(&req, &[], &[], "http", &Default::default());
        assert_eq!(info.name().to_string(), "HTTP");
        assert_eq!(info.method(), "_OTHER");
        assert_eq!(info.method_original, Some("PURGE"));
        assert_eq!(info.query.as_deref(), Some("sig=REDACTED&x=1"));
        assert_eq!(info.server_address, Some("example.com"));
        assert_eq!(info.server_port, Some(8080));
        assert_eq!(info.scheme, "http");
        let attrs = info.sampling_attributes();
        assert!(
            attrs
                .iter()
                .any(|kv| kv.key.as_str() == "server.port" && kv.value == Value::I64(8080))
        );
    }

    #[test]
    fn forwarded_values_come_from_the_original_request() {
        let mut req = Request::builder()
            .uri("/")
            .header("host", "internal:8443")
            .header("x-forwarded-proto", "https, http")
            .header(
                "forwarded",
                "for=203.0.113.7;host=public.example;proto=https, for=10.0.0.1;host=mid:81",
            )
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(PeerAddr("10.0.0.9:5000".parse().unwrap()));
        let trusted = ["10.0.0.9".parse().unwrap(), "10.0.0.1".parse().unwrap()];
        let info = RequestInfo::new(&req, &trusted, &[], "http", &Default::default());
        assert_eq!(info.scheme, "https");
        assert_eq!(info.server_address, Some("public.example"));
        assert_eq!(
            info.server_port, None,
            "the port comes with the address, not from Host"
        );
        // A list in X-Forwarded-Proto: its first entry.
        req.headers_mut().remove("forwarded");
        let info = RequestInfo::new(&req, &trusted, &[], "http", &Default::default());
        assert_eq!(info.scheme, "https");
        assert_eq!(info.server_address, Some("internal"));
        assert_eq!(info.server_port, Some(8443));
        // A server terminating TLS itself says so.
        req.headers_mut().remove("x-forwarded-proto");
        assert_eq!(
            RequestInfo::new(&req, &[], &[], "https", &Default::default()).scheme,
            "https"
        );
    }

    #[test]
    fn forwarded_headers_ignored_from_untrusted_peers() {
        let mut req = Request::builder()
            .uri("/")
            .header("host", "internal:80")
            .header("x-forwarded-for", "203.0.113.7")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "public.example")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(PeerAddr("192.0.2.9:5000".parse().unwrap()));
        let info = RequestInfo::new(&req, &[], &[], "http", &Default::default());
        assert_eq!(info.client_address(), Some("192.0.2.9"));
        assert_eq!(info.scheme, "http");
        assert_eq!(info.server_address, Some("internal"));
        let trusted = ["192.0.2.9".parse().unwrap()];
        let info = RequestInfo::new(&req, &trusted, &[], "http", &Default::default());
        assert_eq!(info.client_address(), Some("203.0.113.7"));
        assert_eq!(info.scheme, "https");
        assert_eq!(info.server_address, Some("public.example"));
    }
}
