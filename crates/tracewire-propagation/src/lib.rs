//! Strict trace-context propagation for HTTP headers and gRPC metadata.
//!
//! `tracewire-propagation` reads and writes W3C Trace Context (Levels 1 and 2), W3C Baggage,
//! B3 (single and multi-header) and Jaeger, composed into one [`Propagator`], plus custom
//! context fields of your own ([`fields`]). It has no tower dependency: the tracewire layers
//! use it on their hot path, and it plugs into any OpenTelemetry setup as a
//! [`TextMapPropagator`](opentelemetry::propagation::TextMapPropagator).
//!
//! It is strict where the specifications are: a `traceparent` is checked by length and
//! character set (no number parser on unchecked input, no uppercase, no `+`), every field of a
//! header is read (two `traceparent` fields are invalid, all `tracestate` and `baggage` fields
//! are combined), and the Level 2 `random-trace-id` flag is kept.
//!
//! # Extract and inject
//!
//! ```
//! use http::HeaderMap;
//! use opentelemetry::Context;
//! use opentelemetry::trace::TraceContextExt;
//! use tracewire_propagation::Propagator;
//!
//! let propagator = Propagator::new(); // W3C trace context + baggage
//!
//! let mut incoming = HeaderMap::new();
//! incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".parse().unwrap());
//! incoming.insert("tracestate", "congo=t61rcWkgMzE".parse().unwrap());
//!
//! // Cheap and allocation-free for a bare traceparent: decide what to do first...
//! let extracted = propagator.extract(&incoming);
//! assert!(extracted.parent().unwrap().is_sampled());
//! // ...then build the OpenTelemetry context.
//! let cx = extracted.into_context(&Context::new());
//!
//! let mut outgoing = HeaderMap::new();
//! propagator.inject_context(&cx, &mut outgoing);
//! assert_eq!(outgoing["tracestate"], "congo=t61rcWkgMzE");
//! ```
//!
//! # As the global OpenTelemetry propagator
//!
//! ```
//! use tracewire_propagation::Propagator;
//!
//! // An explicit choice of the application; the tracewire layers never rely on globals.
//! opentelemetry::global::set_text_map_propagator(Propagator::from_env().expect("OTEL_PROPAGATORS"));
//! ```
//!
//! # Formats
//!
//! | format | headers | `OTEL_PROPAGATORS` name | module |
//! |---|---|---|---|
//! | W3C Trace Context | `traceparent`, `tracestate` | `tracecontext` | [`traceparent`], [`tracestate`] |
//! | W3C Baggage | `baggage` | `baggage` | [`baggage`] |
//! | B3 single | `b3` | `b3` | [`b3`] |
//! | B3 multi | `x-b3-traceid`, `x-b3-spanid`, `x-b3-parentspanid`, `x-b3-sampled`, `x-b3-flags` | `b3multi` | [`b3`] |
//! | Jaeger | `uber-trace-id`, `uberctx-*` | `jaeger` | [`jaeger`] |
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `tonic` | [`Carrier`](carrier::Carrier) and [`CarrierMut`](carrier::CarrierMut) for tonic's `MetadataMap` | no |
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.88.
//!
//! # Stability
//!
//! OpenTelemetry for Rust is 0.x; each release of this crate follows one opentelemetry
//! version (currently 0.33) and says so.

pub mod b3;
pub mod baggage;
pub mod carrier;
mod class;
pub mod fields;
mod hex;
mod ids;
pub mod jaeger;
mod propagator;
pub mod traceparent;
pub mod tracestate;
pub mod xray;

pub use propagator::{
    BAGGAGE, Extracted, Format, Propagator, PropagatorError, TRACEPARENT, TRACESTATE, baggage_of,
    extract_traceparent, is_random_trace, mark_random_trace_id, trace_state_of,
};
