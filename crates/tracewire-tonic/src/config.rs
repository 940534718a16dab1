//! The settings both layers and the interceptor share, behind one `Arc`.

use std::sync::Arc;

use tracewire_core::intern::Interner;
use tracewire_core::{SpanOptions, TrustPolicy};

use crate::semconv::RpcConventions;

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
    /// Client: `server.address` and `server.port` when the request URI has no authority.
    pub(crate) target: Option<(String, Option<u16>)>,
}

impl Config {
    pub(crate) fn new() -> Self {
        Self {
            options: SpanOptions::new(),
            names: Arc::default(),
            conventions: RpcConventions::from_env(),
            trust: TrustPolicy::Trust,
            trace_builtin: false,
            message_events: false,
            send_baggage: false,
            target: None,
        }
    }

    /// Whether a call to `path` gets a span, before the user's filter.
    pub(crate) fn traces_path(&self, path: &str) -> bool {
        self.trace_builtin || !crate::semconv::is_builtin(path)
    }
}
