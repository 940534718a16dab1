//! The builder methods both gRPC layers share, for a layer with `fn config_mut(&mut self) ->
//! &mut Config`. What they set is [`tracewire_core::SpanOptions`] and the gRPC settings.

/// Builder methods for a layer with `fn config_mut(&mut self) -> &mut Config`.
macro_rules! grpc_options {
    ($layer:ident) => {
        #[doc = concat!(
            "Reads and writes the context with `propagator` (default: W3C trace context and baggage).\n\n",
            "```\nuse tracewire_tonic::", stringify!($layer), ";\n",
            "use tracewire_propagation::{Format, Propagator};\n\n",
            "let layer = ", stringify!($layer), "::new()\n",
            "    .propagator(Propagator::from_formats([Format::TraceContext, Format::Baggage, Format::B3]));\n```"
        )]
        pub fn propagator(mut self, propagator: ::tracewire_propagation::Propagator) -> Self {
            self.config_mut().options.set_propagator(propagator);
            self
        }

        #[doc = concat!(
            "Uses the global opentelemetry propagator instead, as installed by ",
            "`opentelemetry::global::set_text_map_propagator`: an explicit choice.\n\n",
            "```\nuse tracewire_tonic::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().global_propagator();\n```"
        )]
        pub fn global_propagator(mut self) -> Self {
            self.config_mut().options.set_global_propagator();
            self
        }

        #[doc = concat!(
            "Makes the spans of sampled calls directly with `provider`'s tracer instead of as ",
            "bridged `tracing` spans (the cheaper path; see `tracewire_http`'s layers for what ",
            "changes). Build the provider with `tracewire_core::provider::CallIdGenerator` so ",
            "the span gets the ids its sampling decision was made on.\n\n",
            "```\nuse opentelemetry_sdk::trace::SdkTracerProvider;\n",
            "use tracewire_core::provider::CallIdGenerator;\n",
            "use tracewire_tonic::", stringify!($layer), ";\n\n",
            "let provider = SdkTracerProvider::builder().with_id_generator(CallIdGenerator::new()).build();\n",
            "let layer = ", stringify!($layer), "::new().tracer_provider(&provider);\n```"
        )]
        pub fn tracer_provider<P>(mut self, provider: &P) -> Self
        where
            P: ::opentelemetry::trace::TracerProvider,
            P::Tracer: Send + Sync + 'static,
            <P::Tracer as ::opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
        {
            self.config_mut().options.set_tracer_provider(
                provider,
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            );
            self
        }

        #[doc = concat!(
            "Decides which calls are sampled, before any span is created (default ",
            "`ParentBased(AlwaysOn)`). Any `opentelemetry_sdk` sampler works.\n\n",
            "```\nuse opentelemetry_sdk::trace::Sampler;\n",
            "use tracewire_tonic::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new()\n",
            "    .sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.1))));\n```"
        )]
        pub fn sampler(mut self, sampler: impl ::opentelemetry_sdk::trace::ShouldSample + 'static) -> Self {
            self.config_mut().options.set_sampler(sampler);
            self
        }

        #[doc = concat!(
            "Which generation of the RPC semantic conventions the spans follow (default: ",
            "[`RpcConventions::from_env`](crate::RpcConventions::from_env), which is ",
            "`Current` unless `OTEL_SEMCONV_STABILITY_OPT_IN` says `rpc/old` or `rpc/dup`).\n\n",
            "```\nuse tracewire_tonic::{", stringify!($layer), ", RpcConventions};\n\n",
            "let layer = ", stringify!($layer), "::new().conventions(RpcConventions::Both);\n```"
        )]
        pub fn conventions(mut self, conventions: crate::RpcConventions) -> Self {
            self.config_mut().conventions = conventions;
            self.config_mut().metric.set_conventions(conventions);
            self
        }

        #[doc = concat!(
            "Records an `rpc.message` event for every message sent or received (off by ",
            "default), with `rpc.message.type` (`SENT`/`RECEIVED`), `rpc.message.id` (counted ",
            "from 1 in each direction) and the message's size on the wire ",
            "(`rpc.message.compressed_size` or `rpc.message.uncompressed_size`).\n\n",
            "```\nuse tracewire_tonic::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().message_events(true);\n```"
        )]
        pub fn message_events(mut self, enabled: bool) -> Self {
            self.config_mut().message_events = enabled;
            self
        }

        #[doc = concat!(
            "Traces `grpc.health.v1.Health` and server reflection calls too (by default they ",
            "get no span; their context still flows).\n\n",
            "```\nuse tracewire_tonic::", stringify!($layer), ";\n\n",
            "let layer = ", stringify!($layer), "::new().trace_health_checks(true);\n```"
        )]
        pub fn trace_health_checks(mut self, enabled: bool) -> Self {
            self.config_mut().trace_builtin = enabled;
            self
        }
    };
}

pub(crate) use grpc_options;
