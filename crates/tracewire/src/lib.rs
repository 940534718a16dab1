//! Distributed tracing for Rust services, across every hop.
//!
//! `tracewire` is a set of tower middleware and a strict propagation crate that make one
//! connected trace per request across axum/hyper HTTP servers, hyper/reqwest HTTP clients and
//! tonic gRPC servers and clients. This crate is the facade: it re-exports the parts, one
//! feature per part.
//!
//! ```
//! use http::HeaderMap;
//! use opentelemetry::Context;
//! use tracewire::propagation::Propagator;
//!
//! let propagator = Propagator::new(); // W3C trace context + baggage
//! let mut incoming = HeaderMap::new();
//! incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! let cx = propagator.extract(&incoming).into_context(&Context::new());
//!
//! let mut outgoing = HeaderMap::new();
//! propagator.inject_context(&cx, &mut outgoing);
//! assert!(outgoing.contains_key("traceparent"));
//! ```
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `tonic` | carriers for tonic's `MetadataMap` in [`propagation`] | no |
//! | `full` | every part | no |
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.88.
//!
//! # Stability
//!
//! OpenTelemetry for Rust is 0.x; each release of tracewire follows one opentelemetry version
//! (currently 0.33).

#[doc(inline)]
pub use tracewire_propagation as propagation;
