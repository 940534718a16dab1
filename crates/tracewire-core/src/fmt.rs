//! Log lines that carry trace and span ids.
//!
//! [`TraceIdFormat`] wraps any `tracing-subscriber` event formatter and starts each line with
//! `trace_id=… span_id=…` from the current OpenTelemetry context. It works for sampled
//! requests (their span is current) and unsampled ones (the server layer keeps their context
//! current), so logs stay correlated whether or not the trace was kept.
//!
//! ```
//! use tracing_subscriber::prelude::*;
//! use tracewire_core::fmt::TraceIdFormat;
//!
//! let subscriber = tracing_subscriber::registry().with(
//!     tracing_subscriber::fmt::layer().event_format(TraceIdFormat::new(tracing_subscriber::fmt::format())),
//! );
//! # let _ = subscriber;
//! ```
//! A line then reads
//! `trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 2026-01-01T00:00:00Z  INFO my_service: user loaded`.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// An event formatter that prefixes `inner`'s lines with the current trace and span ids.
#[derive(Clone, Debug, Default)]
pub struct TraceIdFormat<F> {
    inner: F,
}

impl<F> TraceIdFormat<F> {
    /// Wraps `inner`.
    pub fn new(inner: F) -> Self {
        Self { inner }
    }
}

impl<S, N, F> FormatEvent<S, N> for TraceIdFormat<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            write!(
                writer,
                "trace_id={} span_id={} ",
                sc.trace_id(),
                sc.span_id()
            )?;
        }
        self.inner.format_event(ctx, writer, event)
    }
}
