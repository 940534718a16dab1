//! `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`: the standard names and ours.

use std::fmt;

use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingResult, ShouldSample};

use crate::adaptive::AdaptiveSampler;
use crate::rules::{Action, Rule, RuleSampler};

/// A sampler chosen by name: the SDK's own, or one of this crate's.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum NamedSampler {
    /// `always_on`, `always_off`, `traceidratio`, `parentbased_*` of the SDK's: pass the
    /// `Sampler` itself to the layers' `sampler(..)`, whose quick path knows it.
    Sdk(Sampler),
    /// `tracewire_rules`.
    Rules(RuleSampler),
    /// `tracewire_adaptive`.
    Adaptive(AdaptiveSampler),
}

impl ShouldSample for NamedSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        match self {
            Self::Sdk(s) => {
                s.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
            }
            Self::Rules(s) => {
                s.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
            }
            Self::Adaptive(s) => {
                s.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
            }
        }
    }
}

impl NamedSampler {
    /// The sampler as the SDK's `Sampler` where it is one (and ours inside
    /// `Sampler::ParentBased` for the `parentbased_tracewire_*` names).
    pub fn into_sdk(self) -> Result<Sampler, Self> {
        match self {
            Self::Sdk(s) => Ok(s),
            other => Err(other),
        }
    }
}

/// A bad `OTEL_TRACES_SAMPLER` or `OTEL_TRACES_SAMPLER_ARG`: names the variable and the
/// value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamplerError {
    variable: &'static str,
    value: String,
    reason: String,
}

impl fmt::Display for SamplerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.variable, self.value, self.reason)
    }
}

impl std::error::Error for SamplerError {}

const SAMPLER: &str = "OTEL_TRACES_SAMPLER";
const ARG: &str = "OTEL_TRACES_SAMPLER_ARG";

fn error(variable: &'static str, value: &str, reason: impl Into<String>) -> SamplerError {
    SamplerError {
        variable,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Reads `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` (see [`sampler_from_names`]);
/// unset means `parentbased_always_on`, the specification's default.
///
/// ```
/// let sampler = tracewire_sampling::sampler_from_env()?;
/// # Ok::<(), tracewire_sampling::SamplerError>(())
/// ```
pub fn sampler_from_env() -> Result<NamedSampler, SamplerError> {
    let name = std::env::var(SAMPLER).ok();
    let arg = std::env::var(ARG).ok();
    match name.as_deref().map(str::trim) {
        None | Some("") => sampler_from_names("parentbased_always_on", arg.as_deref()),
        Some(name) => sampler_from_names(name, arg.as_deref()),
    }
}

/// A sampler by its `OTEL_TRACES_SAMPLER` name and `OTEL_TRACES_SAMPLER_ARG` argument.
///
/// Standard names: `always_on`, `always_off`, `traceidratio` (argument: the ratio, default 1),
/// `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio`. Ours:
/// `tracewire_adaptive` (argument: target traces per second per route, default 10),
/// `tracewire_rules` (argument: rules, `;`-separated, each `pattern=action` where the pattern
/// is a route (`/api/*` is a glob, `/api/` a prefix, anything else exact) or `rpc:` and an
/// `rpc.method` glob, and the action `always`, `never`, a ratio, or `adaptive:N`; `*=action`
/// sets what happens to the rest), and the `parentbased_` forms of both. A bad name or
/// argument is an error naming the variable, never a silent default.
///
/// ```
/// use tracewire_sampling::{NamedSampler, sampler_from_names};
///
/// let rules = sampler_from_names(
///     "parentbased_tracewire_rules",
///     Some("/health=never;/api/=always;/static/*=0.01;rpc:inventory.*=always;*=adaptive:10"),
/// )?;
/// assert!(matches!(rules, NamedSampler::Sdk(_))); // ParentBased around our rules
///
/// let error = sampler_from_names("traceidratio", Some("1.5")).unwrap_err();
/// assert!(error.to_string().starts_with("OTEL_TRACES_SAMPLER_ARG=\"1.5\""));
/// # Ok::<(), tracewire_sampling::SamplerError>(())
/// ```
pub fn sampler_from_names(name: &str, arg: Option<&str>) -> Result<NamedSampler, SamplerError> {
    let arg = arg.map(str::trim).filter(|a| !a.is_empty());
    let ratio = || -> Result<f64, SamplerError> {
        match arg {
            None => Ok(1.0),
            Some(a) => match a.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(error(ARG, a, "not a ratio between 0 and 1")),
            },
        }
    };
    let adaptive = || -> Result<AdaptiveSampler, SamplerError> {
        let target = match arg {
            None => 10.0,
            Some(a) => match a.parse::<f64>() {
                Ok(t) if t.is_finite() && t > 0.0 => t,
                _ => return Err(error(ARG, a, "not a positive number of traces per second")),
            },
        };
        Ok(AdaptiveSampler::new(target).per_route())
    };
    let rules = || -> Result<RuleSampler, SamplerError> {
        let spec = arg.ok_or_else(|| error(ARG, "", "tracewire_rules needs rules"))?;
        parse_rules(spec)
    };
    let parent = |s: Box<dyn ShouldSample>| NamedSampler::Sdk(Sampler::ParentBased(s));
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "always_on" => NamedSampler::Sdk(Sampler::AlwaysOn),
        "always_off" => NamedSampler::Sdk(Sampler::AlwaysOff),
        "traceidratio" => NamedSampler::Sdk(Sampler::TraceIdRatioBased(ratio()?)),
        "parentbased_always_on" => parent(Box::new(Sampler::AlwaysOn)),
        "parentbased_always_off" => parent(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => parent(Box::new(Sampler::TraceIdRatioBased(ratio()?))),
        "tracewire_adaptive" => NamedSampler::Adaptive(adaptive()?),
        "parentbased_tracewire_adaptive" => parent(Box::new(adaptive()?)),
        "tracewire_rules" => NamedSampler::Rules(rules()?),
        "parentbased_tracewire_rules" => parent(Box::new(rules()?)),
        "jaeger_remote" | "parentbased_jaeger_remote" | "xray" => {
            return Err(error(SAMPLER, name, "not supported"));
        }
        _ => return Err(error(SAMPLER, name, "unknown sampler")),
    })
}

fn parse_rules(spec: &str) -> Result<RuleSampler, SamplerError> {
    let mut rules = Vec::new();
    let mut otherwise = Action::Always;
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = |why: &str| error(ARG, spec, format!("rule {part:?}: {why}"));
        let (pattern, action) = part.rsplit_once('=').ok_or_else(|| bad("no '='"))?;
        let (pattern, action) = (pattern.trim(), action.trim());
        let action = match action {
            "always" => Action::Always,
            "never" => Action::Never,
            a => match a.strip_prefix("adaptive:") {
                Some(t) => match t.trim().parse::<f64>() {
                    Ok(t) if t.is_finite() && t > 0.0 => {
                        Action::Adaptive(AdaptiveSampler::new(t).per_route())
                    }
                    _ => return Err(bad("adaptive needs a positive target")),
                },
                None => match a.parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => Action::Ratio(r),
                    _ => return Err(bad("the action is always, never, a ratio or adaptive:N")),
                },
            },
        };
        if pattern == "*" {
            otherwise = action;
            continue;
        }
        let rule = if let Some(rpc) = pattern.strip_prefix("rpc:") {
            Rule::rpc_method_glob(rpc.trim())
        } else if !pattern.starts_with('/') {
            return Err(bad("a route starts with '/' (or use rpc:)"));
        } else if pattern.contains(['*', '?']) {
            Rule::path_glob(pattern)
        } else if pattern.len() > 1 && pattern.ends_with('/') {
            Rule::path_prefix(pattern)
        } else {
            Rule::path(pattern)
        };
        rules.push(rule.action(action));
    }
    Ok(RuleSampler::new(rules).otherwise(otherwise))
}
