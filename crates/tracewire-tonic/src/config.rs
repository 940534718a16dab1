//! The settings both layers and the interceptor share, behind one `Arc`.

use std::sync::Arc;

use tracewire_core::intern::Interner;
use tracewire_core::{SpanOptions, TrustPolicy};

use crate::semconv::RpcConventions;

/// Which calls get baggage (see `GrpcClientLayer::send_baggage_to`).
#[derive(Clone)]
pub(crate) struct UriPredicate(pub(crate) Arc<dyn Fn(&http::Uri) -> bool + Send + Sync>);

impl std::fmt::Debug for UriPredicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("predicate")
    }
}

/// Settings shared by every call.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) options: SpanOptions,
    /// Method names, services and addresses as static strings (bounded).
    pub(crate) names: Arc<Interner>,
    pub(crate) conventions: RpcConventions,
    pub(crate) trust: TrustPolicy,
    /// Trace `grpc.health.v1.Health` and reflection calls too.
    pub(crate) trace_builtin: bool,
    /// Record an `rpc.message` event per message.
    pub(crate) message_events: bool,
    /// Client: send baggage (and baggage-carried fields) with the context.
    pub(crate) send_baggage: bool,
    /// Client: send baggage to the calls this accepts (beside `send_baggage`).
    pub(crate) send_baggage_to: Option<UriPredicate>,
    /// Client: `server.address` and `server.port` when the request URI has no authority.
    pub(crate) target: Option<(String, Option<u16>)>,
    pub(crate) metric: crate::metrics::MetricSettings,
}

impl Config {
    pub(crate) fn new(side: crate::semconv::Side) -> Self {
        let conventions = RpcConventions::from_env();
        Self {
            options: SpanOptions::new(),
            names: Arc::default(),
            conventions,
            metric: crate::metrics::MetricSettings::new(side, conventions),
            trust: TrustPolicy::Trust,
            trace_builtin: false,
            message_events: false,
            send_baggage: false,
            send_baggage_to: None,
            target: None,
        }
    }

    /// Whether a client call to `uri` carries baggage.
    #[inline]
    pub(crate) fn sends_baggage(&self, uri: &http::Uri) -> bool {
        self.send_baggage || self.send_baggage_to.as_ref().is_some_and(|p| (p.0)(uri))
    }

    /// Whether a call to `path` gets a span, before the user's filter.
    pub(crate) fn traces_path(&self, path: &str) -> bool {
        self.trace_builtin || !crate::semconv::is_builtin(path)
    }
}
