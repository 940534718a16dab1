//! The span of a sampled request, bridged or direct, shared by the server and client layers.

use std::fmt;

use http::StatusCode;
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::hooks::RequestSpan;
use crate::semconv;

/// The span of a sampled request.
#[derive(Clone, Debug)]
pub enum SampledSpan {
    /// A `tracing` span, bridged.
    Tracing(Span),
    /// A context holding an OpenTelemetry span made directly.
    Direct(Context),
}

impl SampledSpan {
    /// The span, for hooks and attributes.
    pub fn handle(&self) -> RequestSpan<'_> {
        match self {
            Self::Tracing(span) => RequestSpan::tracing(span),
            Self::Direct(cx) => RequestSpan::otel(cx),
        }
    }

    /// Records the response status: `http.response.status_code`, and for an error status
    /// (5xx; 4xx too on a `client` span) `error.type` and the error status.
    pub fn record_status(&self, status: StatusCode, client: bool) {
        let code = i64::from(status.as_u16());
        let error = semconv::status_error(&status, client);
        match self {
            Self::Tracing(span) => {
                span.record(semconv::HTTP_RESPONSE_STATUS_CODE, code);
                if let Some(error) = error {
                    span.record(semconv::ERROR_TYPE, error);
                    span.record("otel.status_code", "error");
                }
            }
            Self::Direct(cx) => {
                let span = cx.span();
                span.set_attribute(KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, code));
                if let Some(error) = error {
                    span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error.to_owned()));
                    span.set_status(Status::error(""));
                }
            }
        }
    }

    /// Marks the span as failed with `error`: `error.type`, error status and an `exception`
    /// event.
    pub fn record_error(&self, error_type: &str, error: &dyn fmt::Display) {
        let event = vec![
            KeyValue::new("exception.type", error_type.to_owned()),
            KeyValue::new("exception.message", error.to_string()),
        ];
        match self {
            Self::Tracing(span) => {
                span.record(semconv::ERROR_TYPE, error_type);
                span.record("otel.status_code", "error");
                span.add_event("exception", event);
            }
            Self::Direct(cx) => {
                let span = cx.span();
                span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type.to_owned()));
                span.set_status(Status::error(""));
                span.add_event("exception", event);
            }
        }
    }

    /// Adds an event without attributes.
    pub fn add_event(&self, name: &'static str) {
        self.add_event_with(name, Vec::new());
    }

    /// Adds an event with attributes.
    pub fn add_event_with(&self, name: &'static str, attributes: Vec<KeyValue>) {
        match self {
            Self::Tracing(span) => span.add_event(name, attributes),
            Self::Direct(cx) => cx.span().add_event(name, attributes),
        }
    }

    /// Sets the span's status to error (with an empty description).
    pub fn set_error_status(&self) {
        match self {
            Self::Tracing(span) => {
                span.record("otel.status_code", "error");
            }
            Self::Direct(cx) => cx.span().set_status(Status::error("")),
        }
    }

    /// The context whose span this is: for injection and as the parent of calls made under it.
    pub fn context(&self) -> Context {
        match self {
            Self::Tracing(span) => span.context(),
            Self::Direct(cx) => cx.clone(),
        }
    }

    /// Records that the response body was dropped before its end.
    pub fn record_dropped(&self) {
        match self {
            Self::Tracing(span) => span.add_event("http.response.body.dropped", Vec::new()),
            Self::Direct(cx) => cx
                .span()
                .add_event("http.response.body.dropped", Vec::new()),
        }
    }

    /// Ends the span now.
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
