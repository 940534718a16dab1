//! The formats a [`Propagator`](super::Propagator) speaks, their header names, and the error
//! of a bad `OTEL_PROPAGATORS`.

use std::fmt;
use std::sync::Arc;

use http::HeaderName;
use opentelemetry::propagation::TextMapPropagator;

use crate::b3::{self, B3Encoding};
use crate::jaeger;

/// `traceparent`
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate`
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// `baggage`
pub const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// One propagation format.
#[derive(Clone)]
#[non_exhaustive]
pub enum Format {
    /// W3C Trace Context: `traceparent` and `tracestate` (`tracecontext`).
    TraceContext,
    /// W3C Baggage: `baggage` (`baggage`).
    Baggage,
    /// B3 single header `b3` (`b3`).
    B3,
    /// B3 multi-header `X-B3-*` (`b3multi`).
    B3Multi,
    /// B3 with the given encoding (extraction reads both forms).
    B3With(B3Encoding),
    /// Jaeger `uber-trace-id` and `uberctx-*` baggage (`jaeger`).
    Jaeger,
    /// AWS X-Ray `X-Amzn-Trace-Id` (`xray`).
    XRay,
    /// Any other opentelemetry propagator, reached through its `Extractor`/`Injector` API.
    Custom(Arc<dyn TextMapPropagator + Send + Sync>),
}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TraceContext => f.write_str("TraceContext"),
            Self::Baggage => f.write_str("Baggage"),
            Self::B3 => f.write_str("B3"),
            Self::B3Multi => f.write_str("B3Multi"),
            Self::B3With(e) => f.debug_tuple("B3With").field(e).finish(),
            Self::Jaeger => f.write_str("Jaeger"),
            Self::XRay => f.write_str("XRay"),
            Self::Custom(p) => f.debug_tuple("Custom").field(p).finish(),
        }
    }
}

impl Format {
    pub(super) fn header_names(&self) -> Vec<String> {
        let names: &[&HeaderName] = match self {
            Self::TraceContext => &[&TRACEPARENT, &TRACESTATE],
            Self::Baggage => &[&BAGGAGE],
            Self::B3 => &[&b3::B3],
            Self::B3Multi => &[&b3::TRACE_ID, &b3::SPAN_ID, &b3::SAMPLED, &b3::FLAGS],
            Self::B3With(_) => &[
                &b3::B3,
                &b3::TRACE_ID,
                &b3::SPAN_ID,
                &b3::SAMPLED,
                &b3::FLAGS,
            ],
            Self::Jaeger => &[&jaeger::UBER_TRACE_ID],
            Self::XRay => &[&crate::xray::X_AMZN_TRACE_ID],
            Self::Custom(p) => return p.fields().map(str::to_owned).collect(),
        };
        names.iter().map(|n| n.as_str().to_owned()).collect()
    }
}

/// An unknown or unsupported name in `OTEL_PROPAGATORS`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropagatorError {
    /// A name this crate does not know.
    Unknown {
        /// The name as written.
        name: String,
    },
    /// A name from the OpenTelemetry list that this crate does not implement.
    Unsupported {
        /// The name as written.
        name: String,
    },
    /// `none` together with other names.
    NoneWithOthers,
}

impl fmt::Display for PropagatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KNOWN: &str = "tracecontext, baggage, b3, b3multi, jaeger, xray, none";
        match self {
            Self::Unknown { name } => write!(
                f,
                "OTEL_PROPAGATORS: unknown propagator {name:?} (known: {KNOWN})"
            ),
            Self::Unsupported { name } => write!(
                f,
                "OTEL_PROPAGATORS: propagator {name:?} is not supported (supported: {KNOWN})"
            ),
            Self::NoneWithOthers => {
                f.write_str("OTEL_PROPAGATORS: \"none\" cannot be combined with other propagators")
            }
        }
    }
}

impl std::error::Error for PropagatorError {}
