//! Reading a carrier: every configured format, and the single `traceparent` of the hot path.

use super::otel::CarrierExtractor;
use super::{BAGGAGE, Extracted, Format, Propagator, TRACEPARENT, TRACESTATE};
use http::HeaderName;
use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::TraceContextExt;

use crate::b3::{self, B3Context};
use crate::baggage::Baggage;
use crate::carrier::{Carrier, Probe};
use crate::jaeger;
use crate::traceparent::{TraceParent, TraceParentError};
use crate::tracestate::TraceState;

impl Propagator {
    /// Reads every configured format from `carrier`.
    #[inline]
    pub fn extract<C: Carrier>(&self, carrier: &C) -> Extracted {
        let mut out = Extracted::default();
        let limits = self.inner.limits;
        // The W3C names in one pass over the carrier.
        let mut w3c = [Probe::default(); 3];
        if self.inner.w3c {
            carrier.probe(&W3C_NAMES, &mut w3c);
        }
        let [traceparent, tracestate, baggage] = w3c;
        if self.inner.only_w3c && tracestate.first.is_none() && baggage.first.is_none() {
            // The common request: a traceparent (or nothing) and no other context.
            if self.inner.trace_context {
                out.parent = traceparent_of(traceparent).ok();
            }
            return out;
        }
        for format in &self.inner.formats {
            match format {
                Format::TraceContext => {
                    if out.parent.is_none()
                        && let Ok(p) = traceparent_of(traceparent)
                    {
                        out.parent = Some(p);
                        let state = match tracestate {
                            Probe { first: None, .. } => Ok(TraceState::new()),
                            Probe {
                                first: Some(one),
                                repeated: false,
                            } => TraceState::parse_fields([one]),
                            Probe { repeated: true, .. } => {
                                TraceState::parse_fields(carrier.get_all_values(&TRACESTATE))
                            }
                        }
                        .unwrap_or_default();
                        out.set_trace_state(state);
                    }
                }
                Format::Baggage => {
                    let parsed = match baggage {
                        Probe { first: None, .. } => Baggage::new(),
                        Probe {
                            first: Some(one),
                            repeated: false,
                        } => Baggage::parse_fields([one], limits),
                        Probe { repeated: true, .. } => {
                            Baggage::parse_fields(carrier.get_all_values(&BAGGAGE), limits)
                        }
                    };
                    out.add_baggage(parsed, limits);
                }
                Format::B3 | Format::B3Multi | Format::B3With(_) => {
                    if out.parent.is_none() && !out.deny {
                        match b3::extract(carrier) {
                            Some(B3Context::Span { parent, debug }) => {
                                out.parent = Some(parent);
                                out.debug = debug;
                            }
                            Some(B3Context::Deny) => out.deny = true,
                            None => {}
                        }
                    }
                }
                Format::Jaeger => {
                    if out.parent.is_none()
                        && let Some((parent, debug)) = jaeger::extract(carrier)
                    {
                        out.parent = Some(parent);
                        out.debug = debug;
                    }
                    let mut bag = Baggage::new();
                    jaeger::extract_baggage(carrier, &mut bag, limits);
                    out.add_baggage(bag, limits);
                }
                Format::XRay => {
                    if out.parent.is_none()
                        && let Some(parent) = crate::xray::extract(carrier)
                    {
                        out.parent = Some(parent);
                    }
                }
                Format::Custom(p) => {
                    // Reached through opentelemetry's Context; merge what it found.
                    let extractor = CarrierExtractor(carrier);
                    let cx = p.extract_with_context(&Context::new(), &extractor);
                    let span = cx.span();
                    let sc = span.span_context();
                    if out.parent.is_none() && sc.is_valid() {
                        out.parent = TraceParent::from_span_context(sc);
                        out.set_trace_state(TraceState::from_otel(sc.trace_state()));
                    }
                    out.add_baggage(Baggage::from_otel(cx.baggage(), limits), limits);
                }
            }
        }
        if out.parent.is_some() {
            out.deny = false;
        }
        for field in &self.inner.fields {
            if let Some(v) = field.extract(carrier, out.baggage()) {
                out.rest_mut().fields.push(v);
            }
        }
        out
    }

    /// Extracts into a `Context` derived from `parent`.
    pub fn extract_context<C: Carrier>(&self, carrier: &C, parent: &Context) -> Context {
        self.extract(carrier).into_context(parent)
    }
}

/// Reads the single `traceparent` of a carrier (two fields are invalid).
///
/// The hot path of the layers: no allocation.
///
/// ```
/// use http::HeaderMap;
/// use tracewire_propagation::extract_traceparent;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// assert!(extract_traceparent(&headers).unwrap().is_sampled());
/// ```
#[inline]
pub fn extract_traceparent<C: Carrier + ?Sized>(
    carrier: &C,
) -> Result<TraceParent, TraceParentError> {
    let mut probe = [Probe::default()];
    carrier.probe(std::slice::from_ref(&TRACEPARENT), &mut probe);
    traceparent_of(probe[0])
}

pub(super) const W3C_NAMES: [HeaderName; 3] = [TRACEPARENT, TRACESTATE, BAGGAGE];

#[inline]
pub(super) fn traceparent_of(probe: Probe<'_>) -> Result<TraceParent, TraceParentError> {
    match probe {
        Probe { first: None, .. } => Err(TraceParentError::Missing),
        Probe { repeated: true, .. } => Err(TraceParentError::Duplicate),
        Probe {
            first: Some(value), ..
        } => TraceParent::parse(value),
    }
}
