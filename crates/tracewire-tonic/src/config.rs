//! The settings both layers and the interceptor share, behind one `Arc`.

use std::sync::Arc;

use tracewire_http::__private::{Interner, PropagatorChoice, SpanOptions};
use tracewire_http::server::TrustPolicy;

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

    /// Writes the context of `own`, our span id under `cx` (an unsampled call), into
    /// `headers`: without building a `Context` for it when the propagator is ours.
    pub(crate) fn inject_child(
        &self,
        cx: opentelemetry::Context,
        own: tracewire_propagation::traceparent::TraceParent,
        headers: &mut http::HeaderMap,
    ) {
        match &self.options.propagator {
            PropagatorChoice::Ours(p) => p.inject_child_with(&cx, own, headers, self.send_baggage),
            PropagatorChoice::Global => {
                self.inject(&tracewire_http::__private::child_of(cx, own), headers);
            }
        }
    }

    /// Writes `cx` into `headers` with the layer's propagator.
    pub(crate) fn inject(&self, cx: &opentelemetry::Context, headers: &mut http::HeaderMap) {
        match &self.options.propagator {
            PropagatorChoice::Ours(p) => p.inject_context_with(cx, headers, self.send_baggage),
            PropagatorChoice::Global => opentelemetry::global::get_text_map_propagator(|p| {
                p.inject_context(
                    cx,
                    &mut tracewire_propagation::carrier::HeaderInjector(headers),
                );
            }),
        }
    }
}
