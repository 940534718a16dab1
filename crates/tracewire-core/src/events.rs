//! Log events as span events, for spans made directly with a tracer.
//!
//! `tracing-opentelemetry` records a log event on the `tracing` span that is current. In a
//! layer's direct mode (its `tracer_provider` option) a call has no `tracing` span: [`SpanEventsLayer`] records the events that have no current
//! `tracing` span on the current OpenTelemetry span instead, when it is recording.
//!
//! ```
//! use tracing_subscriber::prelude::*;
//! use tracewire_core::events::SpanEventsLayer;
//!
//! let subscriber = tracing_subscriber::registry()
//!     .with(tracing_opentelemetry::layer())
//!     .with(SpanEventsLayer::new());
//! # let _ = subscriber;
//! ```

use std::fmt;

use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Records log events without a current `tracing` span on the current OpenTelemetry span.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpanEventsLayer {
    _private: (),
}

impl SpanEventsLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for SpanEventsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if ctx.lookup_current().is_some() {
            // tracing-opentelemetry records it on that span.
            return;
        }
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        if !span.is_recording() {
            return;
        }
        let meta = event.metadata();
        let mut visitor = EventVisitor {
            message: None,
            attributes: vec![
                KeyValue::new("level", meta.level().as_str()),
                KeyValue::new("target", meta.target().to_owned()),
            ],
        };
        event.record(&mut visitor);
        let name = visitor.message.unwrap_or_else(|| meta.name().to_owned());
        span.add_event(name, visitor.attributes);
    }
}

struct EventVisitor {
    message: Option<String>,
    attributes: Vec<KeyValue>,
}

impl Visit for EventVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.attributes
                .push(KeyValue::new(field.name(), value.to_owned()));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.attributes.push(KeyValue::new(field.name(), v)),
            Err(_) => self
                .attributes
                .push(KeyValue::new(field.name(), value.to_string())),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.attributes.push(KeyValue::new(field.name(), text));
        }
    }
}
