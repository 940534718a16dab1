//! The rule sampler: an ordered list of rules over what a span carries at its start.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingResult, ShouldSample};

use crate::adaptive::AdaptiveSampler;
use crate::ratio;

/// How a string is matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// The whole string.
    Exact(String),
    /// A prefix, on a path segment boundary when it ends without `/` (`/api` matches `/api`
    /// and `/api/users`, not `/apis`).
    Prefix(String),
    /// `*` matches any run of characters (slashes included), `?` one character.
    Glob(String),
}

impl Pattern {
    /// Whether `value` matches.
    ///
    /// ```
    /// use tracewire_sampling::Pattern;
    ///
    /// assert!(Pattern::Prefix("/api".into()).matches("/api/users"));
    /// assert!(!Pattern::Prefix("/api".into()).matches("/apis"));
    /// assert!(Pattern::Glob("/static/*.css".into()).matches("/static/a/b.css"));
    /// ```
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(p) => p == value,
            Self::Prefix(p) => {
                value.starts_with(p.as_str())
                    && (p.ends_with('/')
                        || value.len() == p.len()
                        || value.as_bytes()[p.len()] == b'/')
            }
            Self::Glob(p) => glob(p.as_bytes(), value.as_bytes()),
        }
    }
}

/// `*` and `?` matching without recursion blow-up (the classic two-pointer walk).
fn glob(pattern: &[u8], value: &[u8]) -> bool {
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, v));
                p += 1;
            }
            Some(&c) if c == b'?' || c == value[v] => {
                p += 1;
                v += 1;
            }
            _ => match star {
                Some((sp, sv)) => {
                    p = sp + 1;
                    v = sv + 1;
                    star = Some((sp, sv + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// What a matching rule decides.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Action {
    /// Sample.
    Always,
    /// Do not sample.
    Never,
    /// Sample this fraction of traces, by trace id (as the SDK's `TraceIdRatioBased`).
    Ratio(f64),
    /// Sample about this many traces per second (see [`AdaptiveSampler`]); each rule with an
    /// adaptive action keeps its own budget.
    Adaptive(AdaptiveSampler),
}

impl Action {
    fn decide(&self, trace_id: TraceId, view: &View<'_>, name: &str) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Ratio(p) => ratio::within(*p, trace_id),
            Self::Adaptive(a) => a.decide_for(trace_id, view.route_key().unwrap_or(name)),
        }
    }
}

/// The start attributes rules look at, each looked up once and only when a rule asks.
pub(crate) struct View<'a> {
    route: OnceCell<Option<Cow<'a, str>>>,
    path: OnceCell<Option<Cow<'a, str>>>,
    method: OnceCell<Option<Cow<'a, str>>>,
    rpc_method: OnceCell<Option<Cow<'a, str>>>,
    attributes: &'a [KeyValue],
}

impl<'a> View<'a> {
    pub(crate) fn new(attributes: &'a [KeyValue]) -> Self {
        Self {
            route: OnceCell::new(),
            path: OnceCell::new(),
            method: OnceCell::new(),
            rpc_method: OnceCell::new(),
            attributes,
        }
    }

    fn get<'s>(&'s self, cell: &'s OnceCell<Option<Cow<'a, str>>>, key: &str) -> Option<&'s str> {
        cell.get_or_init(|| attr(self.attributes, key)).as_deref()
    }

    fn route(&self) -> Option<&str> {
        self.get(&self.route, "http.route")
    }

    fn path(&self) -> Option<&str> {
        self.get(&self.path, "url.path")
    }

    fn method(&self) -> Option<&str> {
        self.get(&self.method, "http.request.method")
    }

    fn rpc_method(&self) -> Option<&str> {
        self.get(&self.rpc_method, "rpc.method")
    }

    /// What a per-route budget is keyed by: `http.route`, else `rpc.method`.
    pub(crate) fn route_key(&self) -> Option<&str> {
        self.route().or_else(|| self.rpc_method())
    }
}

/// One rule: conditions (all must hold) and an action. A rule without conditions matches
/// every span.
///
/// The route condition matches `http.route` when the span has one, otherwise `url.path`; the
/// layers set both at span start, so samplers see them.
///
/// ```
/// use opentelemetry::trace::SpanKind;
/// use tracewire_sampling::Rule;
///
/// let api = Rule::path_prefix("/api").always();
/// let health = Rule::path("/health").never();
/// let assets = Rule::path_glob("/static/*").ratio(0.01);
/// let writes = Rule::new().kind(SpanKind::Server).method("POST").ratio(0.5);
/// let inventory = Rule::rpc_method_glob("inventory.Inventory/*").always();
/// let vip = Rule::attribute("tenant.id", "acme").always();
/// # let _ = (api, health, assets, writes, inventory, vip);
/// ```
#[derive(Clone, Debug)]
pub struct Rule {
    kind: Option<SpanKind>,
    route: Option<Pattern>,
    method: Option<String>,
    rpc_method: Option<Pattern>,
    attributes: Vec<(String, String)>,
    action: Action,
}

impl Default for Rule {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule {
    /// A rule that matches every span and samples it (set the action with
    /// [`always`](Self::always), [`never`](Self::never), [`ratio`](Self::ratio) or
    /// [`adaptive`](Self::adaptive)).
    pub fn new() -> Self {
        Self {
            kind: None,
            route: None,
            method: None,
            rpc_method: None,
            attributes: Vec::new(),
            action: Action::Always,
        }
    }

    /// Spans whose route (or path) is exactly `path`.
    pub fn path(path: impl Into<String>) -> Self {
        Self::new().route(Pattern::Exact(path.into()))
    }

    /// Spans whose route (or path) starts with `prefix` (on a segment boundary).
    pub fn path_prefix(prefix: impl Into<String>) -> Self {
        Self::new().route(Pattern::Prefix(prefix.into()))
    }

    /// Spans whose route (or path) matches the glob `pattern`.
    pub fn path_glob(pattern: impl Into<String>) -> Self {
        Self::new().route(Pattern::Glob(pattern.into()))
    }

    /// Spans whose `rpc.method` (`package.Service/Method`) is exactly `method`.
    pub fn rpc_method(method: impl Into<String>) -> Self {
        let mut rule = Self::new();
        rule.rpc_method = Some(Pattern::Exact(method.into()));
        rule
    }

    /// Spans whose `rpc.method` matches the glob `pattern` (`inventory.Inventory/*`).
    pub fn rpc_method_glob(pattern: impl Into<String>) -> Self {
        let mut rule = Self::new();
        rule.rpc_method = Some(Pattern::Glob(pattern.into()));
        rule
    }

    /// Spans with the attribute `key` equal to `value` (compared as strings).
    pub fn attribute(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new().and_attribute(key, value)
    }

    /// Adds a route condition.
    #[must_use]
    pub fn route(mut self, pattern: Pattern) -> Self {
        self.route = Some(pattern);
        self
    }

    /// Adds a span-kind condition.
    #[must_use]
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Adds an `http.request.method` condition (`GET`, `POST`, …).
    #[must_use]
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Adds an attribute condition.
    #[must_use]
    pub fn and_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// Matching spans are sampled.
    #[must_use]
    pub fn always(self) -> Self {
        self.action(Action::Always)
    }

    /// Matching spans are not sampled.
    #[must_use]
    pub fn never(self) -> Self {
        self.action(Action::Never)
    }

    /// This fraction of matching traces is sampled.
    #[must_use]
    pub fn ratio(self, ratio: f64) -> Self {
        self.action(Action::Ratio(ratio))
    }

    /// About `sampler`'s target of matching traces per second is sampled.
    #[must_use]
    pub fn adaptive(self, sampler: AdaptiveSampler) -> Self {
        self.action(Action::Adaptive(sampler))
    }

    /// Sets the action.
    #[must_use]
    pub fn action(mut self, action: Action) -> Self {
        self.action = action;
        self
    }

    fn matches(&self, kind: &SpanKind, view: &View<'_>) -> bool {
        if self.kind.as_ref().is_some_and(|k| k != kind) {
            return false;
        }
        if let Some(route) = &self.route
            && !view
                .route()
                .or_else(|| view.path())
                .is_some_and(|v| route.matches(v))
        {
            return false;
        }
        if let Some(method) = &self.method
            && view.method() != Some(method.as_str())
        {
            return false;
        }
        if let Some(rpc) = &self.rpc_method
            && !view.rpc_method().is_some_and(|v| rpc.matches(v))
        {
            return false;
        }
        self.attributes
            .iter()
            .all(|(k, v)| attr(view.attributes, k).is_some_and(|a| a == v.as_str()))
    }
}

/// An attribute's value as a string (borrowed for string values).
pub(crate) fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<std::borrow::Cow<'a, str>> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str())
}

/// Samples by the first matching rule, else by its default action. It decides for every
/// span it is asked about; put it inside `Sampler::ParentBased` to follow a parent's decision
/// and use it for roots only (the usual setup):
///
/// ```
/// use opentelemetry_sdk::trace::Sampler;
/// use tracewire_sampling::{AdaptiveSampler, Rule, RuleSampler};
///
/// let rules = RuleSampler::new([
///     Rule::path_prefix("/api").always(),
///     Rule::path("/health").never(),
///     Rule::path_glob("/static/*").ratio(0.01),
/// ])
/// .otherwise_adaptive(AdaptiveSampler::new(10.0));
/// let sampler = Sampler::ParentBased(Box::new(rules));
/// # let _ = sampler;
/// ```
#[derive(Clone)]
pub struct RuleSampler {
    rules: Vec<Rule>,
    default: Action,
}

impl RuleSampler {
    /// The rules, in order; spans no rule matches are sampled (see
    /// [`otherwise`](Self::otherwise)).
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Self {
        Self {
            rules: rules.into_iter().collect(),
            default: Action::Always,
        }
    }

    /// What happens to spans no rule matches.
    #[must_use]
    pub fn otherwise(mut self, action: Action) -> Self {
        self.default = action;
        self
    }

    /// Spans no rule matches are sampled adaptively.
    #[must_use]
    pub fn otherwise_adaptive(self, sampler: AdaptiveSampler) -> Self {
        self.otherwise(Action::Adaptive(sampler))
    }

    /// Whether a span is sampled (the decision without the SDK's result type).
    pub fn decide(
        &self,
        trace_id: TraceId,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
    ) -> bool {
        let view = View::new(attributes);
        self.rules
            .iter()
            .find(|r| r.matches(kind, &view))
            .map_or(&self.default, |r| &r.action)
            .decide(trace_id, &view, name)
    }
}

impl ShouldSample for RuleSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let sampled = self.decide(trace_id, name, span_kind, attributes);
        crate::result(sampled, parent_context)
    }
}

impl fmt::Debug for RuleSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleSampler")
            .field("rules", &self.rules)
            .field("default", &self.default)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = |p: &str, v: &str| glob(p.as_bytes(), v.as_bytes());
        assert!(g("*", ""));
        assert!(g("/static/*", "/static/a/b.js"));
        assert!(g("/a/*/c", "/a/b/c"));
        assert!(g("/a/?", "/a/b"));
        assert!(!g("/a/?", "/a/bc"));
        assert!(g("*.css", "x.css"));
        assert!(!g("*.css", "x.cssx"));
        assert!(g("a*b*c", "aXXbYYc"));
        assert!(!g("a*b*c", "aXXbYY"));
        // No exponential blow-up on adversarial input.
        let long = "a".repeat(10_000);
        assert!(!g("*a*a*a*a*a*a*a*b", &long));
    }

    #[test]
    fn prefixes_respect_segments() {
        let p = Pattern::Prefix("/api".into());
        assert!(p.matches("/api"));
        assert!(p.matches("/api/v1"));
        assert!(!p.matches("/apis"));
        assert!(Pattern::Prefix("/api/".into()).matches("/api/x"));
    }
}
