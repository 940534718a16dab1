//! The HTTP metrics of the semantic conventions, recorded for every request at the end of its
//! call (the same end as its span): `http.server.request.duration`,
//! `http.server.active_requests` and, opt-in, the body sizes on servers;
//! `http.client.request.duration` and, opt-in, `http.client.active_requests` and the body
//! sizes on clients.
//!
//! Attributes: `http.request.method` (`_OTHER` for methods outside the known set),
//! `url.scheme`, `http.response.status_code`, `http.route` (servers, route templates only,
//! none for a request that matched no route), `error.type` (failures only),
//! `network.protocol.version`, and `server.address`/`server.port` on clients. Nothing from
//! the client, the user agent or headers: the values are bounded.

use std::borrow::Cow;

use opentelemetry::metrics::MeterProvider;
use opentelemetry::{Key, KeyValue};
use tracewire_core::metrics::{
    CallMetrics, CallTimer, InstrumentNames, MeterSource, MetricAttributes,
};

use crate::semconv;

/// The metric settings of a layer.
#[derive(Clone, Debug)]
pub(crate) struct MetricSettings {
    source: MeterSource,
    client: bool,
    enabled: bool,
    sizes: bool,
    active: bool,
    /// Record calls the filter leaves untraced too.
    pub(crate) filtered: bool,
    pub(crate) hook: Option<MetricAttributes>,
    pub(crate) metrics: CallMetrics,
}

impl MetricSettings {
    pub(crate) fn new(client: bool) -> Self {
        let mut settings = Self {
            source: MeterSource::Global {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            client,
            enabled: true,
            sizes: false,
            // Required on servers, opt-in on clients.
            active: !client,
            filtered: false,
            hook: None,
            metrics: CallMetrics::off(),
        };
        settings.rebuild();
        settings
    }

    fn rebuild(&mut self) {
        self.metrics = if self.enabled {
            CallMetrics::new(self.source.clone(), self.names())
        } else {
            CallMetrics::off()
        };
    }

    fn names(&self) -> InstrumentNames {
        let (side, duration, active) = if self.client {
            (
                "client",
                "Duration of HTTP client requests.",
                "Number of active HTTP client requests.",
            )
        } else {
            (
                "server",
                "Duration of HTTP server requests.",
                "Number of active HTTP server requests.",
            )
        };
        let name = |client: &'static str, server: &'static str| {
            if self.client { client } else { server }
        };
        let _ = side;
        InstrumentNames {
            duration: Some((
                name(
                    "http.client.request.duration",
                    "http.server.request.duration",
                ),
                duration,
            )),
            duration_ms: None,
            active: self.active.then_some((
                name("http.client.active_requests", "http.server.active_requests"),
                active,
            )),
            request_size: self.sizes.then_some((
                name(
                    "http.client.request.body.size",
                    "http.server.request.body.size",
                ),
                "Size of HTTP request bodies.",
            )),
            response_size: self.sizes.then_some((
                name(
                    "http.client.response.body.size",
                    "http.server.response.body.size",
                ),
                "Size of HTTP response bodies.",
            )),
        }
    }

    pub(crate) fn set_provider<P: MeterProvider + ?Sized>(&mut self, provider: &P) {
        self.source =
            MeterSource::provider(provider, env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
        self.rebuild();
    }

    pub(crate) fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
        self.rebuild();
    }

    pub(crate) fn set_sizes(&mut self, sizes: bool) {
        self.sizes = sizes;
        self.rebuild();
    }

    pub(crate) fn set_active(&mut self, active: bool) {
        self.active = active;
        self.rebuild();
    }
}

/// The builder methods of the metric settings, for a layer whose config has `metric`.
macro_rules! metric_options {
    ($path:literal, $layer:ident) => {
        #[doc = concat!(
            "Records the layer's metrics with `provider` (by default the global meter provider, ",
            "`opentelemetry::global::set_meter_provider`, read when the first request is ",
            "recorded).\n\n",
            "```\nuse opentelemetry_sdk::metrics::SdkMeterProvider;\n",
            "use ", $path, "::", stringify!($layer), ";\n\n",
            "let provider = SdkMeterProvider::builder().build();\n",
            "let layer = ", stringify!($layer), "::new().meter_provider(&provider);\n```"
        )]
        pub fn meter_provider<P>(mut self, provider: &P) -> Self
        where
            P: ::opentelemetry::metrics::MeterProvider + ?Sized,
        {
            self.config_mut().metric.set_provider(provider);
            self
        }

        #[doc = concat!(
            "Turns the layer's metrics off (`false`) or on (`true`, the default).\n\n",
            "```\nuse ", $path, "::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().metrics(false);\n```"
        )]
        pub fn metrics(mut self, enabled: bool) -> Self {
            self.config_mut().metric.set_enabled(enabled);
            self
        }

        #[doc = concat!(
            "Also records the request and response body sizes (`*.request.body.size`, ",
            "`*.response.body.size`, in bytes; opt-in in the conventions): the request's from ",
            "its `Content-Length`, the response's counted as it passes.\n\n",
            "```\nuse ", $path, "::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().body_size_metrics(true);\n```"
        )]
        pub fn body_size_metrics(mut self, enabled: bool) -> Self {
            self.config_mut().metric.set_sizes(enabled);
            self
        }

        #[doc = concat!(
            "Changes the attributes of every request's metrics before they are recorded: add ",
            "low-cardinality attributes of your own, or drop some. Never add per-request values ",
            "(ids, paths, user agents): every distinct set is a new time series.\n\n",
            "```\nuse opentelemetry::KeyValue;\n",
            "use ", $path, "::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().metric_attributes(|attributes: &mut Vec<KeyValue>| {\n",
            "    attributes.retain(|kv| kv.key.as_str() != \"network.protocol.version\");\n",
            "    attributes.push(KeyValue::new(\"app.tier\", \"edge\"));\n",
            "});\n```"
        )]
        pub fn metric_attributes<H>(mut self, hook: H) -> Self
        where
            H: Fn(&mut Vec<::opentelemetry::KeyValue>) + Send + Sync + 'static,
        {
            self.config_mut().metric.hook =
                Some(::tracewire_core::metrics::MetricAttributes::new(hook));
            self
        }

        #[doc = concat!(
            "Records metrics for the requests the filter leaves untraced too (by default they ",
            "are not counted: health checks and the like).\n\n",
            "```\nuse ", $path, "::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().metrics_for_filtered(true);\n```"
        )]
        pub fn metrics_for_filtered(mut self, enabled: bool) -> Self {
            self.config_mut().metric.filtered = enabled;
            self
        }
    };
}

pub(crate) use metric_options;

/// One request being measured, from its start to the end of its call. Boxed: it travels in
/// the response future and the response body, which stay small for a request without
/// metrics.
#[derive(Debug)]
pub(crate) struct HttpCall(Box<Measured>);

#[derive(Debug)]
pub(crate) struct Measured {
    timer: CallTimer,
    method: &'static str,
    scheme: &'static str,
    version: Option<&'static str>,
    /// Server: the route template. Client: unused.
    route: Option<&'static str>,
    /// Client: `server.address` and `server.port`.
    server: Option<(Cow<'static, str>, Option<u16>)>,
    status: Option<u16>,
    error_type: Option<Cow<'static, str>>,
    request_size: Option<u64>,
    response_bytes: u64,
    hook: Option<MetricAttributes>,
    client: bool,
}

/// What a request says about its metrics.
pub(crate) struct Start<'a> {
    pub(crate) method: &'static str,
    pub(crate) scheme: &'static str,
    pub(crate) version: http::Version,
    pub(crate) route: Option<&'static str>,
    pub(crate) server: Option<(Cow<'static, str>, Option<u16>)>,
    pub(crate) headers: &'a http::HeaderMap,
}

impl MetricSettings {
    /// Starts measuring a request; `None` when metrics are off.
    #[inline]
    pub(crate) fn start(&self, start: Start<'_>) -> Option<HttpCall> {
        if !self.metrics.recording() {
            return None;
        }
        let timer = if self.client {
            match &start.server {
                Some((host, port)) => self.metrics.start(&[
                    KeyValue::new(semconv::HTTP_REQUEST_METHOD, start.method),
                    KeyValue::new("server.address", host.clone()),
                    KeyValue::new("server.port", i64::from(port.unwrap_or(0))),
                    KeyValue::new("url.scheme", start.scheme),
                ]),
                None => self.metrics.start(&[
                    KeyValue::new(semconv::HTTP_REQUEST_METHOD, start.method),
                    KeyValue::new("url.scheme", start.scheme),
                ]),
            }
        } else {
            self.metrics.start(&[
                KeyValue::new(semconv::HTTP_REQUEST_METHOD, start.method),
                KeyValue::new("url.scheme", start.scheme),
            ])
        }?;
        let request_size = if self.sizes {
            start
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
        } else {
            None
        };
        Some(HttpCall(Box::new(Measured {
            timer,
            method: start.method,
            scheme: start.scheme,
            version: semconv::protocol_version(start.version),
            route: start.route,
            server: start.server,
            status: None,
            error_type: None,
            request_size,
            response_bytes: 0,
            hook: self.hook.clone(),
            client: self.client,
        })))
    }
}

/// A placeholder for the unused places of the attribute array (never recorded).
fn unused() -> KeyValue {
    KeyValue::new(Key::from_static_str(""), false)
}

impl HttpCall {
    /// The response's status: `http.response.status_code`, and `error.type` for an error
    /// status.
    #[inline]
    pub(crate) fn status(&mut self, status: http::StatusCode) {
        self.0.status(status);
    }

    /// The response's protocol version.
    #[inline]
    pub(crate) fn set_version(&mut self, version: http::Version) {
        self.0.version = semconv::protocol_version(version);
    }

    /// The call failed.
    #[inline]
    pub(crate) fn failed(&mut self, error_type: &'static str) {
        self.0.error_type = Some(Cow::Borrowed(error_type));
    }

    /// Counts response body bytes.
    #[inline]
    pub(crate) fn count(&mut self, bytes: usize) {
        self.0.response_bytes = self.0.response_bytes.saturating_add(bytes as u64);
    }

    /// Records the call.
    #[inline]
    pub(crate) fn finish(self) {
        self.0.finish();
    }
}

impl Measured {
    /// The response's status: `http.response.status_code`, and `error.type` for an error
    /// status (5xx; 4xx too on a client).
    #[inline]
    pub(crate) fn status(&mut self, status: http::StatusCode) {
        self.status = Some(status.as_u16());
        if let Some(error) = semconv::status_error(&status, self.client) {
            self.error_type = Some(Cow::Owned(error.to_owned()));
        }
    }

    /// Records the call.
    pub(crate) fn finish(self) {
        let mut attributes: [KeyValue; 8] = std::array::from_fn(|_| unused());
        let mut n = 0;
        {
            let mut push = |kv: KeyValue| {
                attributes[n] = kv;
                n += 1;
            };
            push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, self.method));
            push(KeyValue::new("url.scheme", self.scheme));
            if let Some(status) = self.status {
                push(KeyValue::new(
                    semconv::HTTP_RESPONSE_STATUS_CODE,
                    i64::from(status),
                ));
            }
            if let Some(route) = self.route {
                push(KeyValue::new("http.route", route));
            }
            if let Some(error) = &self.error_type {
                push(KeyValue::new(semconv::ERROR_TYPE, error.clone()));
            }
            if let Some(version) = self.version {
                push(KeyValue::new("network.protocol.version", version));
            }
            if let Some((host, port)) = &self.server {
                push(KeyValue::new("server.address", host.clone()));
                if let Some(port) = port {
                    push(KeyValue::new("server.port", i64::from(*port)));
                }
            }
        }
        tracewire_core::metrics::finish_with(
            self.timer,
            self.hook.as_ref(),
            &attributes[..n],
            (self.request_size, Some(self.response_bytes)),
        );
    }
}
