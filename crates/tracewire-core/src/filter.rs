//! Which calls get a span.

use http::Request;

/// Decides whether a call is traced. A filtered call gets no span, but its incoming context
/// still flows to the calls its handler makes (and a client's filtered call still sends the
/// current context).
///
/// Any `FnMut(&Request<B>) -> bool` is a filter (`true`: trace it). It takes `&mut self`, as
/// the other hooks do ([`OnRequest`](crate::hooks::OnRequest),
/// [`OnResponse`](crate::hooks::OnResponse)), so a filter can keep state (a counter, say).
///
/// ```
/// use http::Request;
/// use tracewire_core::filter::{Filter, TraceAll};
///
/// let mut not_metrics = |request: &Request<()>| request.uri().path() != "/metrics";
/// let request = Request::get("/metrics").body(()).unwrap();
/// assert!(!not_metrics.trace(&request));
/// assert!(TraceAll.trace(&request));
/// ```
pub trait Filter<B> {
    /// Whether `request` is traced.
    fn trace(&mut self, request: &Request<B>) -> bool;
}

impl<B, F> Filter<B> for F
where
    F: FnMut(&Request<B>) -> bool,
{
    fn trace(&mut self, request: &Request<B>) -> bool {
        self(request)
    }
}

/// Traces everything (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceAll;

impl<B> Filter<B> for TraceAll {
    #[inline]
    fn trace(&mut self, _: &Request<B>) -> bool {
        true
    }
}
