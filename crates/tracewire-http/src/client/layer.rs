use std::fmt;
use std::sync::Arc;

use http::Uri;
use opentelemetry_sdk::trace::{Sampler, ShouldSample};
use tower::Layer;
use tracewire_propagation::Propagator;

use super::HttpClient;
use crate::filter::TraceAll;
use crate::sampling::Decider;
use crate::server::{PropagatorChoice, Spans};

type UriPredicate = Arc<dyn Fn(&Uri) -> bool + Send + Sync>;

/// Settings shared by every request (behind one `Arc`).
#[derive(Clone)]
pub(crate) struct ClientConfig {
    pub(crate) spans: Spans,
    pub(crate) propagator: PropagatorChoice,
    pub(crate) sampler: Decider,
    pub(crate) send_context_to: Option<UriPredicate>,
    pub(crate) send_baggage_to: Option<UriPredicate>,
    pub(crate) sensitive_query_keys: Vec<String>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("spans", &self.spans)
            .field("propagator", &self.propagator)
            .field("sampler", &self.sampler)
            .field(
                "send_context_to",
                &self.send_context_to.as_ref().map(|_| "predicate"),
            )
            .field(
                "send_baggage_to",
                &self.send_baggage_to.as_ref().map(|_| "predicate"),
            )
            .field("sensitive_query_keys", &self.sensitive_query_keys)
            .finish()
    }
}

impl ClientConfig {
    pub(crate) fn sends_context(&self, uri: &Uri) -> bool {
        self.send_context_to.as_ref().is_none_or(|p| p(uri))
    }

    pub(crate) fn sends_baggage(&self, uri: &Uri) -> bool {
        self.send_baggage_to.as_ref().is_some_and(|p| p(uri))
    }
}

/// Traces every request sent through the client it wraps: see the [module docs](super).
#[derive(Clone)]
#[must_use]
pub struct HttpClientLayer<R = (), F = TraceAll> {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) on_response: R,
    pub(crate) filter: F,
}

impl Default for HttpClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClientLayer {
    /// W3C trace context (everywhere) and baggage (nowhere until allowed), bridged `tracing`
    /// spans for sampled parents.
    pub fn new() -> Self {
        Self {
            config: Arc::new(ClientConfig {
                spans: Spans::Tracing,
                propagator: PropagatorChoice::Ours(Propagator::new()),
                sampler: Decider::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))),
                send_context_to: None,
                send_baggage_to: None,
                sensitive_query_keys: Vec::new(),
            }),
            on_response: (),
            filter: TraceAll,
        }
    }
}

impl<R, F> HttpClientLayer<R, F> {
    fn config_mut(&mut self) -> &mut ClientConfig {
        Arc::make_mut(&mut self.config)
    }

    /// Writes the context with `propagator` (default: W3C trace context and baggage).
    ///
    /// ```
    /// use tracewire_http::client::HttpClientLayer;
    /// use tracewire_propagation::{Format, Propagator};
    ///
    /// let layer = HttpClientLayer::new()
    ///     .propagator(Propagator::from_formats([Format::TraceContext, Format::B3]));
    /// ```
    pub fn propagator(mut self, propagator: Propagator) -> Self {
        self.config_mut().propagator = PropagatorChoice::Ours(propagator);
        self
    }

    /// Writes the context with the global opentelemetry propagator instead: an explicit
    /// choice. (Baggage withholding applies only to this crate's propagators.)
    ///
    /// ```
    /// use tracewire_http::client::HttpClientLayer;
    ///
    /// let layer = HttpClientLayer::new().global_propagator();
    /// ```
    pub fn global_propagator(mut self) -> Self {
        self.config_mut().propagator = PropagatorChoice::Global;
        self
    }

    /// Makes CLIENT spans directly with `provider`'s tracer instead of as bridged `tracing`
    /// spans (see the server layer's
    /// [`tracer_provider`](crate::server::HttpServerLayer::tracer_provider)).
    ///
    /// ```
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    /// use tracewire_http::client::HttpClientLayer;
    ///
    /// let provider = SdkTracerProvider::builder().build();
    /// let layer = HttpClientLayer::new().tracer_provider(&provider);
    /// ```
    pub fn tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: opentelemetry::trace::TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        self.config_mut().spans = Spans::direct(provider);
        self
    }

    /// Decides sampling for requests made outside any trace (default `ParentBased(AlwaysOn)`:
    /// a parent's decision is followed).
    ///
    /// ```
    /// use opentelemetry_sdk::trace::Sampler;
    /// use tracewire_http::client::HttpClientLayer;
    ///
    /// let layer = HttpClientLayer::new().sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)));
    /// ```
    pub fn sampler(mut self, sampler: impl ShouldSample + 'static) -> Self {
        self.config_mut().sampler = Decider::new(sampler);
        self
    }

    /// Sends trace context only to the destinations `predicate` accepts (default: all).
    ///
    /// ```
    /// use tracewire_http::client::HttpClientLayer;
    ///
    /// let layer = HttpClientLayer::new()
    ///     .send_context_to(|uri: &http::Uri| uri.host().is_some_and(|h| h.ends_with(".internal")));
    /// ```
    pub fn send_context_to<P>(mut self, predicate: P) -> Self
    where
        P: Fn(&Uri) -> bool + Send + Sync + 'static,
    {
        self.config_mut().send_context_to = Some(Arc::new(predicate));
        self
    }

    /// Sends baggage only to the destinations `predicate` accepts (default: none, so that a
    /// third party never receives internal baggage).
    ///
    /// ```
    /// use tracewire_http::client::HttpClientLayer;
    ///
    /// let layer = HttpClientLayer::new()
    ///     .send_baggage_to(|uri: &http::Uri| uri.host().is_some_and(|h| h.ends_with(".internal")));
    /// ```
    pub fn send_baggage_to<P>(mut self, predicate: P) -> Self
    where
        P: Fn(&Uri) -> bool + Send + Sync + 'static,
    {
        self.config_mut().send_baggage_to = Some(Arc::new(predicate));
        self
    }

    /// Query parameters whose values are redacted in `url.full`, beyond the built-in list.
    ///
    /// ```
    /// use tracewire_http::client::HttpClientLayer;
    ///
    /// let layer = HttpClientLayer::new().redact_query_params(["api_key"]);
    /// ```
    pub fn redact_query_params<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config_mut().sensitive_query_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The layer's logic for HTTP clients that are not tower services (see
    /// [`ClientTracer`](super::ClientTracer)).
    pub fn tracer(&self) -> super::ClientTracer {
        super::ClientTracer {
            config: self.config.clone(),
        }
    }

    /// Runs when the response headers arrive, for sampled requests (see
    /// [`OnResponse`](crate::hooks::OnResponse)).
    pub fn on_response<R2>(self, on_response: R2) -> HttpClientLayer<R2, F> {
        HttpClientLayer {
            config: self.config,
            on_response,
            filter: self.filter,
        }
    }

    /// Makes spans only for the requests `filter` accepts; the others still carry the
    /// context (see [`Filter`](crate::filter::Filter)).
    pub fn filter<F2>(self, filter: F2) -> HttpClientLayer<R, F2> {
        HttpClientLayer {
            config: self.config,
            on_response: self.on_response,
            filter,
        }
    }
}

impl<S, R: Clone, F: Clone> Layer<S> for HttpClientLayer<R, F> {
    type Service = HttpClient<S, R, F>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpClient {
            inner,
            config: self.config.clone(),
            on_response: self.on_response.clone(),
            filter: self.filter.clone(),
        }
    }
}

impl<R, F> fmt::Debug for HttpClientLayer<R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientLayer")
            .field("config", &self.config)
            .field("on_response", &std::any::type_name::<R>())
            .field("filter", &std::any::type_name::<F>())
            .finish()
    }
}
