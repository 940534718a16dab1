//! The call core every tracewire layer adapts: the per-call pipeline written once, for any
//! side (server, client) and protocol (HTTP, gRPC, or one of your own).
//!
//! A call goes through the same steps whatever carries it:
//!
//! ```text
//! filter ─► extract (propagator, trust policy) ─► Head: ids + the parent the decision is made under
//!        ─► sampling decision, before any span, on the trace id the span will get
//!        ─► Untraced | Unsampled (a context with our own span id) | Sampled (bridged or direct span)
//!        ─► the context current for the inner call; inserted (servers) or injected (clients)
//!        ─► end of call: status, error.type, span end
//! ```
//!
//! The core owns trust ([`TrustPolicy`]), ids and the decision ([`Head`], [`sampling`]), the
//! span in either mode ([`Spans`], [`SampledSpan`], handed to the SDK with the ids it was
//! decided on through [`provider`]), and injection ([`PropagatorChoice`], [`Outbound`]). A
//! protocol adapter supplies the request facts ([`CallFacts`]: the span name, start
//! attributes and the bridged span's fields), carrier access (a `http::HeaderMap`, which
//! tonic's metadata is too), and what ends a call and how it went: an
//! [`EndOfCall`](body::EndOfCall) classifier for the response body, which the core's
//! [`CallBody`](body::CallBody) drives (the end, the trailers, an error, an early drop), and
//! [`error`] for typed `error.type` values. Every layer takes the same [`hooks`] ([`Filter`](filter::Filter),
//! [`OnRequest`](hooks::OnRequest), [`OnResponse`](hooks::OnResponse)), which see the span
//! through [`RequestSpan`] in either mode.
//!
//! The HTTP and gRPC layers of `tracewire-http` and `tracewire-tonic` are such adapters: their
//! server `call` builds its facts, calls [`SpanOptions::start_incoming`], makes the returned
//! context current around the inner call and wraps the response body in a `CallBody` with
//! its protocol's end of call; their client `call` does the same with
//! [`SpanOptions::start_outgoing`] and [`Outbound::inject`].
//!
//! ```
//! use std::borrow::Cow;
//! use opentelemetry::KeyValue;
//! use opentelemetry::trace::SpanKind;
//! use tracewire_core::{CallFacts, Inbound, SpanOptions, TrustPolicy};
//!
//! struct Job;
//!
//! impl CallFacts for Job {
//!     fn sampling_name(&self) -> Cow<'_, str> { "run job".into() }
//!     fn sampling_attributes(&self) -> Vec<KeyValue> { Vec::new() }
//!     fn tracing_span(&mut self) -> tracing::Span {
//!         tracing::info_span!("job", otel.name = "run job", otel.kind = "consumer")
//!     }
//!     fn direct_span(&mut self) -> (Cow<'static, str>, Vec<KeyValue>) { ("run job".into(), Vec::new()) }
//! }
//!
//! let options = SpanOptions::new();
//! let mut headers = http::HeaderMap::new();
//! headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".parse().unwrap());
//! match options.start_incoming(SpanKind::Consumer, TrustPolicy::Trust, &headers, true, || Job) {
//!     Inbound::Unsampled { own, .. } => assert!(!own.unwrap().is_sampled()),
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `fmt` | a `tracing-subscriber` formatter whose log lines carry trace and span ids | no |
//! | `events` | a `tracing-subscriber` layer that records log events on spans made directly with a tracer | no |
//! | `prometheus` | a Prometheus text endpoint for the layers' metrics ([`prometheus`]) | no |
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.88.
//!
//! # Stability
//!
//! OpenTelemetry for Rust is 0.x; each release follows one opentelemetry version (currently
//! 0.33, with tracing-opentelemetry 0.34).

pub mod addr;
pub mod body;
mod context;
pub mod error;
#[cfg(feature = "events")]
pub mod events;
pub mod filter;
#[cfg(feature = "fmt")]
pub mod fmt;
mod head;
pub mod hooks;
pub mod intern;
pub mod metrics;
mod mode;
mod options;
#[cfg(feature = "prometheus")]
pub mod prometheus;
pub mod provider;
pub mod sampling;
mod span;
mod start;
mod trust;

pub use self::context::{Incoming, PropagatorChoice, child_of};
pub use self::head::Head;
pub use self::mode::Spans;
pub use self::options::SpanOptions;
pub use self::span::{ERROR_TYPE, RequestSpan, SampledSpan};
pub use self::start::{CallFacts, Inbound, Outbound};
pub use self::trust::TrustPolicy;
pub use {opentelemetry, opentelemetry_sdk, tracewire_propagation};
