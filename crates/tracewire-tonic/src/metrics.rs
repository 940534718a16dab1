//! The RPC metrics of the semantic conventions, recorded for every call at the end of its call
//! (the same end as its span): `rpc.server.call.duration` / `rpc.client.call.duration` in
//! seconds under the current conventions, `rpc.server.duration` / `rpc.client.duration` in
//! milliseconds under the older ones (`rpc/old`), both under `rpc/dup`. Attributes: the
//! system, `rpc.method` (and `rpc.service` under the older conventions), the status as the
//! spans have it (`rpc.response.status_code` or `rpc.grpc.status_code`), `error.type` for an
//! error on this side, and `server.address`/`server.port`.

use std::time::Instant;

use opentelemetry::metrics::MeterProvider;
use opentelemetry::{Key, KeyValue, Value};
use tonic::Code;
use tracewire_core::metrics::{
    CallMetrics, CallTimer, InstrumentNames, MeterSource, MetricAttributes,
};

use crate::semconv::{self, RpcConventions, Side};

/// The metric settings of a gRPC layer.
#[derive(Clone, Debug)]
pub(crate) struct MetricSettings {
    source: MeterSource,
    side: Side,
    conventions: RpcConventions,
    enabled: bool,
    /// Record calls the filter (or the health-check default) leaves untraced too.
    pub(crate) filtered: bool,
    pub(crate) hook: Option<MetricAttributes>,
    pub(crate) metrics: CallMetrics,
}

impl MetricSettings {
    pub(crate) fn new(side: Side, conventions: RpcConventions) -> Self {
        let mut settings = Self {
            source: MeterSource::Global {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            side,
            conventions,
            enabled: true,
            filtered: false,
            hook: None,
            metrics: CallMetrics::off(),
        };
        settings.rebuild();
        settings
    }

    fn rebuild(&mut self) {
        let server = matches!(self.side, Side::Server);
        let names = InstrumentNames {
            duration: self.conventions.current().then_some(if server {
                (
                    "rpc.server.call.duration",
                    "Measures the duration of an incoming RPC.",
                )
            } else {
                (
                    "rpc.client.call.duration",
                    "Measures the duration of an outgoing RPC.",
                )
            }),
            duration_ms: self.conventions.old().then_some(if server {
                (
                    "rpc.server.duration",
                    "Measures the duration of inbound RPC.",
                )
            } else {
                (
                    "rpc.client.duration",
                    "Measures the duration of outbound RPC.",
                )
            }),
            ..InstrumentNames::default()
        };
        self.metrics = if self.enabled {
            CallMetrics::new(self.source.clone(), names)
        } else {
            CallMetrics::off()
        };
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

    pub(crate) fn set_conventions(&mut self, conventions: RpcConventions) {
        self.conventions = conventions;
        self.rebuild();
    }

    /// Starts measuring a call to `path` (with `server`'s address and port); `None` when
    /// metrics are off.
    #[inline]
    pub(crate) fn start(
        &self,
        method: &semconv::RpcMethod<'_>,
        server: (Option<&str>, Option<u16>),
        names: &tracewire_core::intern::Interner,
        deadline: Option<Instant>,
    ) -> Option<RpcCall> {
        let timer = self.metrics.start(&[])?;
        let value = |s: &str| -> Value {
            match names.host(s) {
                Some(s) => Value::from(s),
                None => Value::from(s.to_owned()),
            }
        };
        Some(RpcCall {
            timer,
            side: self.side,
            conventions: self.conventions,
            method: value(method.method_attribute(self.conventions)),
            service: method.service.filter(|_| self.conventions.old()).map(value),
            server_address: server.0.map(value),
            server_port: server.1,
            deadline,
            hook: self.hook.clone(),
        })
    }
}

/// The builder methods of the metric settings, for a gRPC layer.
macro_rules! metric_options {
    ($layer:ident) => {
        #[doc = concat!(
            "Records the layer's metrics with `provider` (by default the global meter provider, ",
            "read when the first call is recorded).\n\n",
            "```\nuse opentelemetry_sdk::metrics::SdkMeterProvider;\n",
            "use tracewire_tonic::", stringify!($layer), ";\n\n",
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
            "```\nuse tracewire_tonic::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().metrics(false);\n```"
        )]
        pub fn metrics(mut self, enabled: bool) -> Self {
            self.config_mut().metric.set_enabled(enabled);
            self
        }

        #[doc = concat!(
            "Changes the attributes of every call's metrics before they are recorded: add ",
            "low-cardinality attributes of your own, or drop some.\n\n",
            "```\nuse opentelemetry::KeyValue;\n",
            "use tracewire_tonic::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().metric_attributes(|attributes: &mut Vec<KeyValue>| {\n",
            "    attributes.push(KeyValue::new(\"app.tier\", \"backend\"));\n",
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
            "Records metrics for the calls left untraced (the filter's, health checks and ",
            "reflection) too; by default they are not counted.\n\n",
            "```\nuse tracewire_tonic::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().metrics_for_filtered(true);\n```"
        )]
        pub fn metrics_for_filtered(mut self, enabled: bool) -> Self {
            self.config_mut().metric.filtered = enabled;
            self
        }
    };
}

pub(crate) use metric_options;

/// One call being measured.
#[derive(Debug)]
pub(crate) struct RpcCall {
    timer: CallTimer,
    side: Side,
    conventions: RpcConventions,
    method: Value,
    service: Option<Value>,
    server_address: Option<Value>,
    server_port: Option<u16>,
    deadline: Option<Instant>,
    hook: Option<MetricAttributes>,
}

fn unused() -> KeyValue {
    KeyValue::new(Key::from_static_str(""), false)
}

impl RpcCall {
    /// Records the call with its status.
    pub(crate) fn finish(self, code: Code) {
        let mut attributes: [KeyValue; 10] = std::array::from_fn(|_| unused());
        let mut n = 0;
        {
            let mut push = |kv: KeyValue| {
                attributes[n] = kv;
                n += 1;
            };
            let name = semconv::code_name(code);
            if self.conventions.current() {
                push(KeyValue::new(semconv::RPC_SYSTEM_NAME, "grpc"));
            }
            if self.conventions.old() {
                push(KeyValue::new(semconv::RPC_SYSTEM, "grpc"));
                if let Some(service) = &self.service {
                    push(KeyValue::new(semconv::RPC_SERVICE, service.clone()));
                }
            }
            push(KeyValue::new(semconv::RPC_METHOD, self.method.clone()));
            if self.conventions.current() {
                push(KeyValue::new(semconv::RPC_RESPONSE_STATUS_CODE, name));
            }
            if self.conventions.old() {
                push(KeyValue::new(semconv::RPC_GRPC_STATUS_CODE, code as i64));
            }
            if semconv::is_error(code, self.side) {
                push(KeyValue::new(semconv::ERROR_TYPE, name));
            }
            if let Some(address) = &self.server_address {
                push(KeyValue::new(semconv::SERVER_ADDRESS, address.clone()));
            }
            if let Some(port) = self.server_port {
                push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
            }
        }
        tracewire_core::metrics::finish_with(
            self.timer,
            self.hook.as_ref(),
            &attributes[..n],
            (None, None),
        );
    }

    /// Records a call dropped before its end, as its span: `DEADLINE_EXCEEDED` past the
    /// caller's deadline, otherwise `CANCELLED`.
    pub(crate) fn dropped(self) {
        let code = crate::call::dropped_code(self.deadline);
        self.finish(code);
    }
}
