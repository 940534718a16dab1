//! The span of a sampled call, in either mode: one handle for the core, the adapters and the
//! hooks.

use std::borrow::Cow;
use std::fmt;

use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `error.type` attribute.
pub const ERROR_TYPE: &str = "error.type";

/// The span of a sampled call: a bridged `tracing` span, or an OpenTelemetry span made
/// directly with a tracer. Every method works the same in both modes.
///
/// ```
/// use opentelemetry::Context;
/// use tracewire_core::SampledSpan;
///
/// // A span as the core hands it to an adapter (here, with no span inside).
/// let span = SampledSpan::Direct(Context::new());
/// span.set_static("rpc.method", "Echo");
/// span.set_error_type("UNAVAILABLE");
/// span.end();
/// ```
#[derive(Clone, Debug)]
pub enum SampledSpan {
    /// A `tracing` span, bridged by `tracing-opentelemetry`.
    Tracing(Span),
    /// A context holding an OpenTelemetry span made directly.
    Direct(Context),
}

impl SampledSpan {
    /// The span, as the hooks see it.
    #[inline]
    pub fn handle(&self) -> RequestSpan<'_> {
        match self {
            Self::Tracing(span) => RequestSpan::tracing(span),
            Self::Direct(cx) => RequestSpan::otel(cx),
        }
    }

    /// Sets a string attribute. A bridged span records it as a `tracing` field, which the
    /// span must declare (the layers' spans declare every field they record).
    #[inline]
    pub fn set_str(&self, key: &'static str, value: &str) {
        match self {
            Self::Tracing(span) => {
                span.record(key, value);
            }
            Self::Direct(cx) => cx
                .span()
                .set_attribute(KeyValue::new(key, value.to_owned())),
        }
    }

    /// Sets a string attribute whose value lives for the whole program (no copy is made).
    #[inline]
    pub fn set_static(&self, key: &'static str, value: &'static str) {
        match self {
            Self::Tracing(span) => {
                span.record(key, value);
            }
            Self::Direct(cx) => cx.span().set_attribute(KeyValue::new(key, value)),
        }
    }

    /// Sets an integer attribute (a declared field of a bridged span).
    #[inline]
    pub fn set_i64(&self, key: &'static str, value: i64) {
        match self {
            Self::Tracing(span) => {
                span.record(key, value);
            }
            Self::Direct(cx) => cx.span().set_attribute(KeyValue::new(key, value)),
        }
    }

    /// Sets any attribute; on a bridged span as an OpenTelemetry attribute (no field needed).
    pub fn set_attribute(&self, attribute: KeyValue) {
        match self {
            Self::Tracing(span) => span.set_attribute(attribute.key, attribute.value),
            Self::Direct(cx) => cx.span().set_attribute(attribute),
        }
    }

    /// Marks the call failed: `error.type` and the error status.
    pub fn set_error_type(&self, error_type: &str) {
        self.set_str(ERROR_TYPE, error_type);
        self.set_error_status(None);
    }

    /// Sets the error status, with a description when given.
    pub fn set_error_status(&self, description: Option<&str>) {
        match self {
            Self::Tracing(span) => {
                span.record("otel.status_code", "error");
                if let Some(description) = description {
                    span.record("otel.status_description", description);
                }
            }
            Self::Direct(cx) => cx.span().set_status(Status::error(
                description.map_or(Cow::Borrowed(""), |d| Cow::Owned(d.to_owned())),
            )),
        }
    }

    /// Marks the call failed with `error`: `error.type`, the error status and an `exception`
    /// event with the error's message.
    pub fn record_exception(
        &self,
        error_type: &str,
        exception_type: &'static str,
        error: &dyn fmt::Display,
    ) {
        self.set_error_type(error_type);
        self.add_event_with(
            "exception",
            vec![
                KeyValue::new("exception.type", exception_type),
                KeyValue::new("exception.message", error.to_string()),
            ],
        );
    }

    /// Adds an event without attributes.
    #[inline]
    pub fn add_event(&self, name: &'static str) {
        self.add_event_with(name, Vec::new());
    }

    /// Adds an event with attributes.
    #[inline]
    pub fn add_event_with(&self, name: &'static str, attributes: Vec<KeyValue>) {
        match self {
            Self::Tracing(span) => span.add_event(name, attributes),
            Self::Direct(cx) => cx.span().add_event(name, attributes),
        }
    }

    /// The context whose span this is: for injection and as the parent of calls made under it.
    #[inline]
    pub fn context(&self) -> Context {
        match self {
            Self::Tracing(span) => span.context(),
            Self::Direct(cx) => cx.clone(),
        }
    }

    /// Ends the span now.
    #[inline]
    pub fn end(self) {
        match self {
            // Dropping the last handle closes the `tracing` span.
            Self::Tracing(span) => drop(span),
            Self::Direct(cx) => cx.span().end(),
        }
    }

    /// Runs `f` with the span current.
    #[inline]
    pub fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        match self {
            Self::Tracing(span) => {
                let _entered = span.enter();
                f()
            }
            Self::Direct(cx) => {
                let _guard = cx.clone().attach();
                f()
            }
        }
    }
}

/// The span of a sampled call, as the hooks see it: a `tracing` span bridged to OpenTelemetry
/// (the default), or an OpenTelemetry span made directly with a tracer (a layer's
/// `tracer_provider`). The same calls work for both.
///
/// ```
/// use opentelemetry::KeyValue;
/// use tracewire_core::RequestSpan;
///
/// fn tag(span: &RequestSpan<'_>) {
///     span.set_attribute(KeyValue::new("user.id", "42"));
///     span.set_name("GET /users/{id}");
/// }
/// # tag(&RequestSpan::tracing(&tracing::Span::none()));
/// ```
#[derive(Debug)]
pub struct RequestSpan<'a>(SpanRef<'a>);

#[derive(Debug)]
enum SpanRef<'a> {
    Tracing(&'a Span),
    Otel(&'a Context),
}

impl<'a> RequestSpan<'a> {
    /// A bridged `tracing` span.
    pub fn tracing(span: &'a Span) -> Self {
        Self(SpanRef::Tracing(span))
    }

    /// The span of `cx`, made directly with a tracer.
    pub fn otel(cx: &'a Context) -> Self {
        Self(SpanRef::Otel(cx))
    }

    /// Sets an attribute (`user.id`, say).
    pub fn set_attribute(&self, attribute: KeyValue) {
        match &self.0 {
            SpanRef::Tracing(span) => span.set_attribute(attribute.key, attribute.value),
            SpanRef::Otel(cx) => cx.span().set_attribute(attribute),
        }
    }

    /// Renames the span.
    pub fn set_name(&self, name: impl Into<Cow<'static, str>>) {
        let name = name.into();
        match &self.0 {
            SpanRef::Tracing(span) => {
                // Before the OpenTelemetry span exists the field renames it; once it exists
                // (the layers make it when the call starts, for its context) the bridge
                // ignores `otel.name`, so the span is renamed directly.
                span.record("otel.name", name.as_ref());
                span.context().span().update_name(name);
            }
            SpanRef::Otel(cx) => cx.span().update_name(name),
        }
    }

    /// The `tracing` span, in the default (bridged) mode.
    pub fn tracing_span(&self) -> Option<&'a Span> {
        match self.0 {
            SpanRef::Tracing(span) => Some(span),
            SpanRef::Otel(_) => None,
        }
    }
}
