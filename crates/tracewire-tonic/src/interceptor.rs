//! The inject-only interceptor, for a generated client without a tower stack.

use std::fmt;

use opentelemetry::Context;
use opentelemetry::propagation::Injector;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::service::Interceptor;
use tracewire_core::PropagatorChoice;
use tracewire_propagation::Propagator;

/// Writes the current context into every call's metadata: the lightest way to continue a
/// trace from a generated client.
///
/// ```no_run
/// use tonic::transport::Channel;
/// use tracewire_tonic::TraceContextInterceptor;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let channel = Channel::from_static("http://127.0.0.1:50051").connect().await?;
/// // let client = GreeterClient::with_interceptor(channel, TraceContextInterceptor::new());
/// let service = tonic::service::interceptor::InterceptedService::new(
///     channel,
///     TraceContextInterceptor::new(),
/// );
/// # let _ = service;
/// # Ok(()) }
/// ```
///
/// # What it cannot do
///
/// An interceptor sees the request and nothing after it: it makes **no span**, so the call's
/// status, duration and errors are not recorded, and the server's span is a child of the
/// current span (the caller's), not of a client span. Use
/// [`GrpcClientLayer`](crate::GrpcClientLayer) for a CLIENT span with the call's status.
#[derive(Clone)]
pub struct TraceContextInterceptor {
    propagator: PropagatorChoice,
    send_baggage: bool,
}

impl Default for TraceContextInterceptor {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceContextInterceptor {
    /// W3C trace context; baggage withheld until [`send_baggage`](Self::send_baggage).
    pub fn new() -> Self {
        Self {
            propagator: PropagatorChoice::Ours(Propagator::new()),
            send_baggage: false,
        }
    }

    /// Writes the context with `propagator` (default: W3C trace context and baggage).
    ///
    /// ```
    /// use tracewire_propagation::{Format, Propagator};
    /// use tracewire_tonic::TraceContextInterceptor;
    ///
    /// let interceptor = TraceContextInterceptor::new()
    ///     .propagator(Propagator::from_formats([Format::TraceContext, Format::B3]));
    /// ```
    #[must_use]
    pub fn propagator(mut self, propagator: Propagator) -> Self {
        self.propagator = PropagatorChoice::Ours(propagator);
        self
    }

    /// Uses the global opentelemetry propagator instead: an explicit choice.
    ///
    /// ```
    /// use tracewire_tonic::TraceContextInterceptor;
    ///
    /// let interceptor = TraceContextInterceptor::new().global_propagator();
    /// ```
    #[must_use]
    pub fn global_propagator(mut self) -> Self {
        self.propagator = PropagatorChoice::Global;
        self
    }

    /// Sends baggage (and the custom fields carried in it) too (off by default).
    ///
    /// ```
    /// use tracewire_tonic::TraceContextInterceptor;
    ///
    /// let interceptor = TraceContextInterceptor::new().send_baggage(true);
    /// ```
    #[must_use]
    pub fn send_baggage(mut self, enabled: bool) -> Self {
        self.send_baggage = enabled;
        self
    }

    /// Writes `cx` into `metadata`.
    pub fn inject(&self, cx: &Context, metadata: &mut MetadataMap) {
        match &self.propagator {
            PropagatorChoice::Ours(p) => p.inject_context_with(cx, metadata, self.send_baggage),
            PropagatorChoice::Global => opentelemetry::global::get_text_map_propagator(|p| {
                p.inject_context(cx, &mut MetadataInjector(metadata));
            }),
        }
    }
}

impl Interceptor for TraceContextInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        self.inject(&Context::current(), request.metadata_mut());
        Ok(request)
    }
}

impl fmt::Debug for TraceContextInterceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContextInterceptor")
            .field("propagator", &self.propagator)
            .field("send_baggage", &self.send_baggage)
            .finish()
    }
}

/// An opentelemetry `Injector` over tonic's metadata, for the global propagator.
struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes()),
            MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}
