//! The options the server and client layers share: how spans are made, how context is read
//! or written, how sampling is decided, which query values are redacted.

use opentelemetry_sdk::trace::Sampler;
use tracewire_propagation::Propagator;

use crate::sampling::Decider;
use crate::server::{PropagatorChoice, Spans};

/// The shared part of a layer's configuration.
#[derive(Clone, Debug)]
pub struct SpanOptions {
    /// How sampled calls get their span.
    pub spans: Spans,
    /// What reads and writes the context.
    pub propagator: PropagatorChoice,
    /// What decides sampling, before any span.
    pub sampler: Decider,
    /// Query parameters redacted beyond the built-in list.
    pub sensitive_query_keys: Vec<String>,
}

impl Default for SpanOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl SpanOptions {
    /// Bridged spans, W3C trace context and baggage, `ParentBased(AlwaysOn)`.
    pub fn new() -> Self {
        Self {
            spans: Spans::Tracing,
            propagator: PropagatorChoice::Ours(Propagator::new()),
            sampler: Decider::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))),
            sensitive_query_keys: Vec::new(),
        }
    }
}

/// The builder methods for [`SpanOptions`], for a layer with `fn options_mut(&mut self) ->
/// &mut SpanOptions`; `$path` (`"tracewire_http::server"`) and `$layer` name the layer in the
/// examples. Used by tracewire's other layer crates too: not a public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __span_options {
    ($path:literal, $layer:ident) => {
        #[doc = concat!(
            "Reads and writes the context with `propagator` (default: W3C trace context and baggage).\n\n",
            "```\nuse ", $path, "::", stringify!($layer), ";\n",
            "use tracewire_propagation::{Format, Propagator};\n\n",
            "let layer = ", stringify!($layer), "::new()\n",
            "    .propagator(Propagator::from_formats([Format::TraceContext, Format::Baggage, Format::B3]));\n```"
        )]
        pub fn propagator(mut self, propagator: $crate::__private::tracewire_propagation::Propagator) -> Self {
            self.options_mut().propagator = $crate::__private::PropagatorChoice::Ours(propagator);
            self
        }

        #[doc = concat!(
            "Uses the global opentelemetry propagator instead, as installed by ",
            "`opentelemetry::global::set_text_map_propagator`: an explicit choice. (Withholding ",
            "baggage per destination applies only to this crate's propagators.)\n\n",
            "```\nuse ", $path, "::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().global_propagator();\n```"
        )]
        pub fn global_propagator(mut self) -> Self {
            self.options_mut().propagator = $crate::__private::PropagatorChoice::Global;
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
            "use ", $path, "::", stringify!($layer), ";\n\n",
            "let provider = SdkTracerProvider::builder().build(); // with your exporter\n",
            "let layer = ", stringify!($layer), "::new().tracer_provider(&provider);\n```"
        )]
        pub fn tracer_provider<P>(mut self, provider: &P) -> Self
        where
            P: $crate::__private::opentelemetry::trace::TracerProvider,
            P::Tracer: Send + Sync + 'static,
            <P::Tracer as $crate::__private::opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
        {
            self.options_mut().spans = $crate::__private::Spans::direct(
                provider,
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            );
            self
        }

        #[doc = concat!(
            "Decides which requests are sampled, before any span is created (default ",
            "`ParentBased(AlwaysOn)`: a caller's or parent's decision is followed). Any ",
            "`opentelemetry_sdk` sampler works; the SDK's own (`AlwaysOn`, `AlwaysOff`, ",
            "`ParentBased`, `TraceIdRatioBased`) decide without building the request's ",
            "attributes, and `ParentBased` decides from the parent's flag alone.\n\n",
            "```\nuse opentelemetry_sdk::trace::Sampler;\n",
            "use ", $path, "::", stringify!($layer), ";\n\n",
            "// 10 % of new traces; parents' decisions are followed.\n",
            "let layer = ", stringify!($layer), "::new()\n",
            "    .sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.1))));\n```"
        )]
        pub fn sampler(mut self, sampler: impl $crate::__private::opentelemetry_sdk::trace::ShouldSample + 'static) -> Self {
            self.options_mut().sampler = $crate::__private::Decider::new(sampler);
            self
        }

    };
    (http $path:literal, $layer:ident) => {
        $crate::__span_options!($path, $layer);

        #[doc = concat!(
            "Query parameters whose values are redacted (in `url.query` or `url.full`), beyond the ",
            "built-in list (`sig`, `X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`, ",
            "`X-Goog-Signature`, …).\n\n",
            "```\nuse ", $path, "::", stringify!($layer), ";\n\n",
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
