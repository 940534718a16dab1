//! Which requests get a span.

use std::fmt;

use http::Request;

pub use tracewire_core::filter::{Filter, TraceAll};

/// Skips health and metrics endpoints: `/health`, `/healthz`, `/livez`, `/readyz`, `/ready`,
/// `/live`, `/ping`, `/metrics` (and the same under `/health/`), plus any paths you add.
///
/// ```
/// use tracewire_http::server::{HttpServerLayer, SkipHealthChecks};
///
/// let layer = HttpServerLayer::new().filter(SkipHealthChecks::new().path("/status"));
/// # let _ = layer;
/// ```
#[derive(Clone, Default)]
pub struct SkipHealthChecks {
    extra: Vec<String>,
}

impl SkipHealthChecks {
    /// The common health paths.
    pub const PATHS: &'static [&'static str] = &[
        "/health", "/healthz", "/livez", "/readyz", "/ready", "/live", "/ping", "/metrics",
    ];

    /// The common health paths.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also skips `path`.
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.extra.push(path.into());
        self
    }

    fn skips(&self, path: &str) -> bool {
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        Self::PATHS.contains(&path)
            || path.starts_with("/health/")
            || self.extra.iter().any(|p| p == path)
    }
}

impl<B> Filter<B> for SkipHealthChecks {
    fn trace(&mut self, request: &Request<B>) -> bool {
        !self.skips(request.uri().path())
    }
}

impl fmt::Debug for SkipHealthChecks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkipHealthChecks")
            .field("extra", &self.extra)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_paths() {
        let f = SkipHealthChecks::new().path("/status");
        for p in ["/health", "/healthz/", "/metrics", "/health/db", "/status"] {
            assert!(f.skips(p), "{p}");
        }
        for p in ["/", "/healthy", "/api/health", "/users"] {
            assert!(!f.skips(p), "{p}");
        }
    }
}
