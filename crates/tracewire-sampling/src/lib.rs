//! Samplers that keep cost down without going blind.
//!
//! Fixed-rate sampling goes blind at low traffic and misses rare errors. This crate's
//! samplers implement `opentelemetry_sdk`'s [`ShouldSample`], so they plug into any tracer
//! provider and into tracewire's layers (`sampler(..)`), which decide before paying for a
//! span:
//!
//! - [`RuleSampler`]: an ordered list of [`Rule`]s on span kind, route or path (exact,
//!   prefix, glob), method, `rpc.method` or any start attribute; each says always, never, a
//!   ratio, or adaptive.
//! - [`AdaptiveSampler`]: about a target of sampled traces per second, smoothed over time,
//!   with a budget per route so a rare endpoint is not starved by a hot one.
//! - Parent-based composition is the SDK's own `Sampler::ParentBased(Box::new(ours))`: a
//!   trusted caller's decision is followed and ours decides for new traces. At a public edge,
//!   combine it with the layers' `TrustPolicy::OwnSampling`, which makes our decision
//!   replace the caller's flag, so a client cannot force sampling.
//! - [`KeepErrorsAndSlow`]: a tail decision inside one process, so errors and slow requests
//!   the head sampler did not pick are still exported.
//! - [`sampler_from_env`]: `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, with the
//!   standard names and ours.
//!
//! ```
//! use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
//! use tracewire_sampling::{AdaptiveSampler, Rule, RuleSampler};
//!
//! // Everything under /api, never /health, 1 % of /static, about 10 traces per second per
//! // route of the rest; callers' decisions are followed.
//! let rules = RuleSampler::new([
//!     Rule::path_prefix("/api").always(),
//!     Rule::path("/health").never(),
//!     Rule::path_glob("/static/*").ratio(0.01),
//! ])
//! .otherwise_adaptive(AdaptiveSampler::new(10.0).per_route());
//! let provider = SdkTracerProvider::builder()
//!     .with_sampler(Sampler::ParentBased(Box::new(rules)))
//!     .build();
//! # let _ = provider;
//! ```
//!
//! Every sampler here decides by the trace id where it decides by chance (as the SDK's
//! `TraceIdRatioBased` does), so services using the same ratio for a trace agree.
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.88.
//!
//! # Stability
//!
//! OpenTelemetry for Rust is 0.x; each release follows one opentelemetry version (currently
//! 0.33).

mod adaptive;
mod clock;
mod env;
mod ratio;
mod rules;
mod tail;

pub use self::adaptive::AdaptiveSampler;
pub use self::clock::{Clock, ManualClock, SystemClock};
pub use self::env::{NamedSampler, SamplerError, sampler_from_env, sampler_from_names};
pub use self::rules::{Action, Pattern, Rule, RuleSampler};
pub use self::tail::{KeepErrorsAndSlow, TailProcessor, TailSampler, TailStats};
pub use opentelemetry_sdk::trace::ShouldSample;

use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt, TraceState};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult};

/// The SDK's result for a decision, keeping the parent's tracestate.
pub(crate) fn result(sampled: bool, parent: Option<&Context>) -> SamplingResult {
    SamplingResult {
        decision: if sampled {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        },
        attributes: Vec::new(),
        trace_state: parent.map_or_else(TraceState::default, |cx| {
            cx.span().span_context().trace_state().clone()
        }),
    }
}
