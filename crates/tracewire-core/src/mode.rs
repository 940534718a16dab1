//! How sampled calls get their span: bridged `tracing` spans or spans made directly.

use std::fmt;
use std::sync::Arc;

/// How sampled calls get their span.
///
/// ```
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracewire_core::Spans;
///
/// let provider = SdkTracerProvider::builder().build();
/// let direct = Spans::direct(&provider, "my-layer", "1.0.0");
/// assert!(matches!(direct, Spans::Direct(_)));
/// assert!(matches!(Spans::default(), Spans::Tracing));
/// ```
#[derive(Clone, Default)]
pub enum Spans {
    /// A `tracing` span, bridged to OpenTelemetry by `tracing-opentelemetry` (the default).
    #[default]
    Tracing,
    /// An OpenTelemetry span made directly with this tracer.
    Direct(Arc<opentelemetry::global::BoxedTracer>),
}

impl Spans {
    /// Spans made directly with `provider`'s tracer, under the instrumentation scope `scope`.
    pub fn direct<P>(provider: &P, scope: &'static str, version: &'static str) -> Self
    where
        P: opentelemetry::trace::TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        let scope = opentelemetry::InstrumentationScope::builder(scope)
            .with_version(version)
            .build();
        let tracer = provider.tracer_with_scope(scope);
        Self::Direct(Arc::new(opentelemetry::global::BoxedTracer::new(Box::new(
            tracer,
        ))))
    }
}

impl fmt::Debug for Spans {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tracing => "Tracing",
            Self::Direct(_) => "Direct",
        })
    }
}
