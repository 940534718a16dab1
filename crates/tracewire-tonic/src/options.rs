//! The builder methods both gRPC layers share.

/// Builder methods for a layer with `fn config_mut(&mut self) -> &mut Config`.
macro_rules! grpc_options {
    ($layer:ident) => {
        fn options_mut(&mut self) -> &mut tracewire_http::__private::SpanOptions {
            &mut self.config_mut().options
        }

        tracewire_http::__span_options!("tracewire_tonic", $layer);

        #[doc = concat!(
            "Which generation of the RPC semantic conventions the spans follow (default: ",
            "[`RpcConventions::from_env`](crate::RpcConventions::from_env), which is ",
            "`Current` unless `OTEL_SEMCONV_STABILITY_OPT_IN` says `rpc/old` or `rpc/dup`).\n\n",
            "```\nuse tracewire_tonic::{", stringify!($layer), ", RpcConventions};\n\n",
            "let layer = ", stringify!($layer), "::new().conventions(RpcConventions::Both);\n```"
        )]
        pub fn conventions(mut self, conventions: crate::RpcConventions) -> Self {
            self.config_mut().conventions = conventions;
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
