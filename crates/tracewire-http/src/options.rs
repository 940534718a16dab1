//! The options the server and client layers share: how spans are made, how context is read
//! or written, how sampling is decided, which query values are redacted.

use opentelemetry_sdk::trace::Sampler;
use tracewire_propagation::Propagator;

use crate::sampling::Decider;
use crate::server::{PropagatorChoice, Spans};

/// The shared part of a layer's configuration.
#[derive(Clone, Debug)]
pub(crate) struct SpanOptions {
    pub(crate) spans: Spans,
    pub(crate) propagator: PropagatorChoice,
    pub(crate) sampler: Decider,
    pub(crate) sensitive_query_keys: Vec<String>,
}

impl SpanOptions {
    /// Bridged spans, W3C trace context and baggage, `ParentBased(AlwaysOn)`.
    pub(crate) fn new() -> Self {
        Self {
            spans: Spans::Tracing,
            propagator: PropagatorChoice::Ours(Propagator::new()),
            sampler: Decider::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))),
            sensitive_query_keys: Vec::new(),
        }
    }
}

/// The builder methods for [`SpanOptions`], for a layer with `fn options_mut(&mut self) ->
/// &mut SpanOptions`; `$layer` and `$module` name the layer in the examples.
macro_rules! span_options {
    ($layer:ident, $module:literal) => {
        #[doc = concat!(
            "Reads and writes the context with `propagator` (default: W3C trace context and baggage).\n\n",
            "```\nuse tracewire_http::", $module, "::", stringify!($layer), ";\n",
            "use tracewire_propagation::{Format, Propagator};\n\n",
            "let layer = ", stringify!($layer), "::new()\n",
            "    .propagator(Propagator::from_formats([Format::TraceContext, Format::Baggage, Format::B3]));\n```"
        )]
        pub fn propagator(mut self, propagator: tracewire_propagation::Propagator) -> Self {
            self.options_mut().propagator = crate::server::PropagatorChoice::Ours(propagator);
            self
        }

        #[doc = concat!(
            "Uses the global opentelemetry propagator instead, as installed by ",
            "`opentelemetry::global::set_text_map_propagator`: an explicit choice. (Withholding ",
            "baggage per destination applies only to this crate's propagators.)\n\n",
            "```\nuse tracewire_http::", $module, "::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().global_propagator();\n```"
        )]
        pub fn global_propagator(mut self) -> Self {
            self.options_mut().propagator = crate::server::PropagatorChoice::Global;
            self
        }

        #[doc = concat!(
            "Makes the spans of sampled requests directly with `provider`'s tracer instead of as ",
            "bridged `tracing` spans: the cheaper path, measured in the benchmarks.\n\n",
            "What changes: the span is an OpenTelemetry span of its own (no `tracing` span). The ",
            "request's context is current while the handler runs, so `tracing` spans made inside it ",
            "become its children (`tracing-opentelemetry` parents new spans on the current context), ",
            "log lines carry its ids with `tracewire_http::fmt::TraceIdFormat` (feature `fmt`), and ",
            "log events become span events with `tracewire_http::events::SpanEventsLayer` (feature ",
            "`events`). Use the provider that `tracing-opentelemetry` exports with.\n\n",
            "```\nuse opentelemetry_sdk::trace::SdkTracerProvider;\n",
            "use tracewire_http::", $module, "::", stringify!($layer), ";\n\n",
            "let provider = SdkTracerProvider::builder().build(); // with your exporter\n",
            "let layer = ", stringify!($layer), "::new().tracer_provider(&provider);\n```"
        )]
        pub fn tracer_provider<P>(mut self, provider: &P) -> Self
        where
            P: opentelemetry::trace::TracerProvider,
            P::Tracer: Send + Sync + 'static,
            <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
        {
            self.options_mut().spans = crate::server::Spans::direct(provider);
            self
        }

        #[doc = concat!(
            "Decides which requests are sampled, before any span is created (default ",
            "`ParentBased(AlwaysOn)`: a caller's or parent's decision is followed). Any ",
            "`opentelemetry_sdk` sampler works; the SDK's own (`AlwaysOn`, `AlwaysOff`, ",
            "`ParentBased`, `TraceIdRatioBased`) decide without building the request's ",
            "attributes, and `ParentBased` decides from the parent's flag alone.\n\n",
            "```\nuse opentelemetry_sdk::trace::Sampler;\n",
            "use tracewire_http::", $module, "::", stringify!($layer), ";\n\n",
            "// 10 % of new traces; parents' decisions are followed.\n",
            "let layer = ", stringify!($layer), "::new()\n",
            "    .sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.1))));\n```"
        )]
        pub fn sampler(mut self, sampler: impl opentelemetry_sdk::trace::ShouldSample + 'static) -> Self {
            self.options_mut().sampler = crate::sampling::Decider::new(sampler);
            self
        }

        #[doc = concat!(
            "Query parameters whose values are redacted (in `url.query` or `url.full`), beyond the ",
            "built-in list (`sig`, `X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`, ",
            "`X-Goog-Signature`, …).\n\n",
            "```\nuse tracewire_http::", $module, "::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().redact_query_params([\"token\", \"api_key\"]);\n```"
        )]
        pub fn redact_query_params<I, S>(mut self, keys: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.options_mut().sensitive_query_keys = keys.into_iter().map(Into::into).collect();
            self
        }
    };
}

pub(crate) use span_options;
