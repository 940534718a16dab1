//! The builder methods both HTTP layers share, for a layer with `fn options_mut(&mut self) ->
//! &mut tracewire_core::SpanOptions` and `fn config_mut(&mut self)` whose config has
//! `sensitive_query_keys`. What they set is [`tracewire_core::SpanOptions`].

macro_rules! span_options {
    ($path:literal, $layer:ident) => {
        #[doc = concat!(
            "Reads and writes the context with `propagator` (default: W3C trace context and baggage).\n\n",
            "```\nuse ", $path, "::", stringify!($layer), ";\n",
            "use tracewire_propagation::{Format, Propagator};\n\n",
            "let layer = ", stringify!($layer), "::new()\n",
            "    .propagator(Propagator::from_formats([Format::TraceContext, Format::Baggage, Format::B3]));\n```"
        )]
        pub fn propagator(mut self, propagator: ::tracewire_propagation::Propagator) -> Self {
            self.options_mut().set_propagator(propagator);
            self
        }

        #[doc = concat!(
            "Uses the global opentelemetry propagator instead, as installed by ",
            "`opentelemetry::global::set_text_map_propagator`: an explicit choice. (Withholding ",
            "baggage per destination applies only to tracewire's propagators.)\n\n",
            "```\nuse ", $path, "::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().global_propagator();\n```"
        )]
        pub fn global_propagator(mut self) -> Self {
            self.options_mut().set_global_propagator();
            self
        }

        #[doc = concat!(
            "Decides which requests are sampled, before any span is created (default ",
            "`ParentBased(AlwaysOn)`: a caller's or parent's decision is followed). Any ",
            "`opentelemetry_sdk` sampler works; the SDK's own decide without building the ",
            "request's attributes. The span gets the trace id the decision was made on when the ",
            "tracer provider has `tracewire_core::provider::CallIdGenerator`, and keeps the ",
            "decision when its sampler is a `tracewire_core::provider::LayerSampler`.\n\n",
            "```\nuse opentelemetry_sdk::trace::Sampler;\n",
            "use ", $path, "::", stringify!($layer), ";\n\n",
            "// 10 % of new traces; parents' decisions are followed.\n",
            "let layer = ", stringify!($layer), "::new()\n",
            "    .sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.1))));\n```"
        )]
        pub fn sampler(mut self, sampler: impl ::opentelemetry_sdk::trace::ShouldSample + 'static) -> Self {
            self.options_mut().set_sampler(sampler);
            self
        }

        #[doc = concat!(
            "The HTTP methods the spans know (default: the conventions' list, or ",
            "`OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` when set); others are `_OTHER`, with ",
            "`http.request.method_original`. A full override, as the conventions ask.\n\n",
            "```\nuse ", $path, "::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().known_methods([\"GET\", \"PUT\", \"PROPFIND\", \"MKCOL\"]);\n```"
        )]
        pub fn known_methods<I, S>(mut self, methods: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: AsRef<str>,
        {
            self.config_mut().known_methods = crate::semconv::KnownMethods::new(methods);
            self
        }

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
            self.config_mut().sensitive_query_keys = keys.into_iter().map(Into::into).collect();
            self
        }
    };
}

pub(crate) use span_options;

/// `tracer_provider`, for a layer whose spans have no other maker (the HTTP client).
macro_rules! tracer_provider_option {
    ($path:literal, $layer:ident) => {
        #[doc = concat!(
            "Makes the spans of sampled requests directly with `provider`'s tracer instead of as ",
            "bridged `tracing` spans: the cheaper path, measured in the benchmarks.\n\n",
            "What changes: the span is an OpenTelemetry span of its own (no `tracing` span). The ",
            "request's context is current while the inner service runs, so `tracing` spans made ",
            "inside it become its children, log lines carry its ids with ",
            "`tracewire_core::fmt::TraceIdFormat` (feature `fmt`), and log events become span ",
            "events with `tracewire_core::events::SpanEventsLayer` (feature `events`). Build the ",
            "provider with `tracewire_core::provider::CallIdGenerator` so the span gets the ids its ",
            "sampling decision was made on.\n\n",
            "```\nuse opentelemetry_sdk::trace::SdkTracerProvider;\n",
            "use tracewire_core::provider::CallIdGenerator;\n",
            "use ", $path, "::", stringify!($layer), ";\n\n",
            "let provider = SdkTracerProvider::builder().with_id_generator(CallIdGenerator::new()).build();\n",
            "let layer = ", stringify!($layer), "::new().tracer_provider(&provider);\n```"
        )]
        pub fn tracer_provider<P>(mut self, provider: &P) -> Self
        where
            P: ::opentelemetry::trace::TracerProvider,
            P::Tracer: Send + Sync + 'static,
            <P::Tracer as ::opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
        {
            self.options_mut().set_tracer_provider(
                provider,
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            );
            self
        }

    };
}

pub(crate) use tracer_provider_option;
