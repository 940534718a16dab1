//! Writing a carrier: the span, tracestate, baggage and fields of a context, or of a child.

use super::carried::{baggage_with, is_random_trace, trace_state_with};
use super::extracted::Carried;
use super::otel::CarrierInjector;
use super::{BAGGAGE, Format, Propagator, TRACEPARENT, TRACESTATE};
use std::borrow::Cow;

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;

use crate::b3::{self, B3Encoding};
use crate::baggage::Baggage;
use crate::carrier::CarrierMut;
use crate::jaeger;
use crate::traceparent::TraceParent;

impl Propagator {
    /// Writes every configured format for the span, baggage and fields in `cx`.
    ///
    /// Nothing is written for trace context when `cx` has no valid span context; the
    /// `tracestate` and `baggage` headers are never written empty.
    pub fn inject_context<C: CarrierMut>(&self, cx: &Context, carrier: &mut C) {
        self.inject_context_with(cx, carrier, true);
    }

    /// Like [`inject_context`](Self::inject_context), but writes baggage (the `baggage`
    /// header, Jaeger's `uberctx-*`, baggage-carried custom fields) only when `baggage` is
    /// true: for calls to hosts that must not receive internal baggage.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use opentelemetry::Context;
    /// use tracewire_propagation::Propagator;
    ///
    /// let p = Propagator::new();
    /// let mut incoming = HeaderMap::new();
    /// incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
    /// incoming.insert("baggage", "internal=secret".parse().unwrap());
    /// let cx = p.extract(&incoming).into_context(&Context::new());
    ///
    /// let mut outgoing = HeaderMap::new();
    /// p.inject_context_with(&cx, &mut outgoing, false);
    /// assert!(outgoing.contains_key("traceparent"));
    /// assert!(!outgoing.contains_key("baggage"));
    /// ```
    pub fn inject_context_with<C: CarrierMut>(&self, cx: &Context, carrier: &mut C, baggage: bool) {
        self.inject_parts(cx, None, carrier, baggage);
    }

    /// Writes the context of `child`, a span of ours under `cx`'s span (same trace), with
    /// `cx`'s tracestate, baggage and fields: what a caller that makes no span of its own (an
    /// unsampled call with its own span id) sends, without building a `Context` for it.
    /// Baggage is written only when `baggage` is true.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use opentelemetry::Context;
    /// use tracewire_propagation::Propagator;
    /// use tracewire_propagation::traceparent::TraceParent;
    ///
    /// let p = Propagator::new();
    /// let mut incoming = HeaderMap::new();
    /// incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".parse().unwrap());
    /// incoming.insert("tracestate", "vendor=1".parse().unwrap());
    /// let extracted = p.extract(&incoming);
    /// let parent = *extracted.parent().unwrap();
    /// let cx = extracted.into_context(&Context::new());
    ///
    /// let child = TraceParent::new(parent.trace_id(), TraceParent::new_root(false).span_id(), parent.flags()).unwrap();
    /// let mut outgoing = HeaderMap::new();
    /// p.inject_child_with(&cx, child, &mut outgoing, false);
    /// assert_eq!(outgoing["traceparent"], child.to_header_value());
    /// assert_eq!(outgoing["tracestate"], "vendor=1");
    /// ```
    pub fn inject_child_with<C: CarrierMut>(
        &self,
        cx: &Context,
        child: TraceParent,
        carrier: &mut C,
        baggage: bool,
    ) {
        self.inject_parts(cx, Some(child), carrier, baggage);
    }

    /// Writes `cx`, with `child` in place of its span when given.
    fn inject_parts<C: CarrierMut>(
        &self,
        cx: &Context,
        child: Option<TraceParent>,
        carrier: &mut C,
        baggage: bool,
    ) {
        let span = cx.span();
        let sc = span.span_context();
        let parent = child.or_else(|| {
            TraceParent::from_span_context(sc).map(|p| {
                // A span of a trace whose id we drew (the SDK keeps only the sampled flag).
                if !p.is_random() && is_random_trace(cx, p.trace_id()) {
                    p.with_random(true)
                } else {
                    p
                }
            })
        });
        let carried = cx.get::<Carried>();
        let (debug, deny) = match carried {
            Some(c) if self.inner.needs_marks => (
                parent.is_some_and(|p| c.debug == Some(p.trace_id())),
                parent.is_none() && c.deny,
            ),
            _ => (false, false),
        };
        let limits = self.inner.limits;
        let mut bag = if self.inner.needs_baggage && baggage {
            baggage_with(cx, carried, limits)
        } else {
            Cow::Owned(Baggage::new())
        };
        for field in &self.inner.fields {
            field.inject(cx, carrier, bag.to_mut(), limits);
        }

        for format in &self.inner.formats {
            match format {
                Format::TraceContext => {
                    if let Some(p) = &parent {
                        carrier.set_value(&TRACEPARENT, p.to_header_value());
                        let has_state = sc.trace_state().into_iter().next().is_some()
                            || carried.is_some_and(|c| c.trace_state.is_some());
                        if has_state {
                            let mut state = trace_state_with(sc, carried);
                            let limit = self.inner.trace_state_limit;
                            if state.header().len() > limit {
                                state.to_mut().truncate_to(limit);
                            }
                            if let Some(v) = state.to_header_value() {
                                carrier.set_value(&TRACESTATE, v);
                            }
                        }
                    }
                }
                Format::Baggage => {
                    if baggage && let Some(v) = bag.to_header_value() {
                        carrier.set_value(&BAGGAGE, v);
                    }
                }
                Format::B3 => b3::inject(parent.as_ref(), debug, deny, B3Encoding::Single, carrier),
                Format::B3Multi => {
                    b3::inject(parent.as_ref(), debug, deny, B3Encoding::Multi, carrier);
                }
                Format::B3With(encoding) => {
                    b3::inject(parent.as_ref(), debug, deny, *encoding, carrier);
                }
                Format::Jaeger => {
                    if let Some(p) = &parent {
                        jaeger::inject(p, debug, carrier);
                    }
                    if baggage {
                        jaeger::inject_baggage(&bag, carrier);
                    }
                }
                Format::XRay => {
                    if let Some(p) = &parent {
                        crate::xray::inject(p, carrier);
                    }
                }
                Format::Custom(p) => {
                    let mut injector = CarrierInjector(carrier);
                    match child {
                        // Another propagator needs the child as a context of its own.
                        Some(child) => {
                            let child_cx = cx.with_remote_span_context(
                                child.to_span_context(sc.trace_state().clone()),
                            );
                            p.inject_context(&child_cx, &mut injector);
                        }
                        None => p.inject_context(cx, &mut injector),
                    }
                }
            }
        }
    }
}
