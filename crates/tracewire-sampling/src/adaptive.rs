//! The adaptive sampler: about a target number of sampled traces per second, whatever the
//! traffic.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingResult, ShouldSample};

use crate::clock::{Clock, SystemClock};
use crate::ratio;

/// At most this many separate budgets (routes); past it, new routes share one.
const MAX_KEYS: usize = 512;

/// Samples about `target` traces per second.
///
/// The observed rate of spans is measured per window (one second by default) and smoothed
/// across windows with an exponentially weighted moving average that accounts for the time
/// elapsed (an idle minute decays the estimate as sixty empty windows would); the probability
/// is `min(1, target / smoothed rate)`. The average is asymmetric: a rise is smoothed (weight
/// 0.3, and one window counts for at most four times the current estimate) while a fall is
/// followed quickly (weight 0.7). So:
///
/// - at low traffic (below the target) everything is sampled, and after traffic drops the
///   probability rises within a few windows;
/// - a one-window burst moves the estimate a little, and within any window at most twice the
///   window's target is sampled, so a burst cannot flood the exporter either;
/// - with [`per_route`](Self::per_route) every route (`http.route`, else `rpc.method`, else
///   the span name) has a budget of its own, so a rare endpoint is not starved by a hot one
///   (the target is then per route; at most 512 routes get their own budget, later ones share
///   one).
///
/// The decision within the probability is made on the trace id, as the SDK's
/// `TraceIdRatioBased` does.
///
/// ```
/// use opentelemetry_sdk::trace::Sampler;
/// use tracewire_sampling::AdaptiveSampler;
///
/// // About 20 traces per second per route; parents' decisions are followed.
/// let sampler = Sampler::ParentBased(Box::new(AdaptiveSampler::new(20.0).per_route()));
/// # let _ = sampler;
/// ```
#[derive(Clone)]
pub struct AdaptiveSampler {
    inner: Arc<Inner>,
}

struct Inner {
    target: f64,
    window: u64,
    smoothing: f64,
    clock: Arc<dyn Clock>,
    per_route: bool,
    shared: Budget,
    routes: RwLock<Routes>,
}

/// One budget's state, updated without locks.
#[derive(Debug)]
struct Budget {
    window_start: AtomicU64,
    seen: AtomicU64,
    kept: AtomicU64,
    /// The smoothed rate (spans per second), as `f64` bits; negative before the first window.
    rate: AtomicU64,
    /// The current probability, as `f64` bits.
    probability: AtomicU64,
}

impl Budget {
    fn new(now: u64) -> Self {
        Self {
            window_start: AtomicU64::new(now),
            seen: AtomicU64::new(0),
            kept: AtomicU64::new(0),
            rate: AtomicU64::new((-1.0f64).to_bits()),
            probability: AtomicU64::new(1.0f64.to_bits()),
        }
    }
}

impl AdaptiveSampler {
    /// About `target` sampled traces per second, one-second windows, smoothing weight 0.3,
    /// the system clock.
    pub fn new(target: f64) -> Self {
        Self::with_clock(target, SystemClock::new())
    }

    /// The same with another clock (a [`ManualClock`](crate::ManualClock) in tests).
    pub fn with_clock(target: f64, clock: impl Clock) -> Self {
        let now = clock.now_nanos();
        Self {
            inner: Arc::new(Inner {
                target: target.max(0.0),
                window: 1_000_000_000,
                smoothing: 0.3,
                clock: Arc::new(clock),
                per_route: false,
                shared: Budget::new(now),
                routes: RwLock::new(Routes::default()),
            }),
        }
    }

    /// The settings, to change: a sampler already shared (cloned) is copied first, with a
    /// fresh state.
    fn inner_mut(&mut self) -> &mut Inner {
        if Arc::get_mut(&mut self.inner).is_none() {
            let now = self.inner.clock.now_nanos();
            self.inner = Arc::new(Inner {
                target: self.inner.target,
                window: self.inner.window,
                smoothing: self.inner.smoothing,
                clock: self.inner.clock.clone(),
                per_route: self.inner.per_route,
                shared: Budget::new(now),
                routes: RwLock::new(Routes::default()),
            });
        }
        Arc::get_mut(&mut self.inner).unwrap_or_else(|| unreachable!("just made unique"))
    }

    /// A budget per route instead of one for everything.
    #[must_use]
    pub fn per_route(mut self) -> Self {
        self.inner_mut().per_route = true;
        self
    }

    /// The measuring window (default one second; at least a millisecond).
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        let nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        self.inner_mut().window = nanos.max(1_000_000);
        self
    }

    /// The weight of the newest window in the smoothed rate, in (0, 1] (default 0.3; 1 means
    /// no smoothing, as a plain "target / last rate" sampler).
    #[must_use]
    pub fn smoothing(mut self, weight: f64) -> Self {
        self.inner_mut().smoothing = weight.clamp(0.01, 1.0);
        self
    }

    /// The probability currently applied to `route` (or to everything without
    /// [`per_route`](Self::per_route)).
    pub fn probability(&self, route: Option<&str>) -> f64 {
        let budget = match (self.inner.per_route, route) {
            (true, Some(route)) => self
                .inner
                .routes
                .read()
                .ok()
                .and_then(|r| r.get(route).cloned()),
            _ => None,
        };
        let budget = budget.as_deref().unwrap_or(&self.inner.shared);
        f64::from_bits(budget.probability.load(Ordering::Relaxed))
    }

    /// Whether a span with these attributes is sampled.
    fn decide(&self, trace_id: TraceId, attributes: &[KeyValue], name: &str) -> bool {
        if !self.inner.per_route {
            return self.inner.decide_in(&self.inner.shared, trace_id);
        }
        let mut route = None;
        for kv in attributes {
            match kv.key.as_str() {
                "http.route" => {
                    route = Some(kv.value.as_str());
                    break;
                }
                "rpc.method" if route.is_none() => route = Some(kv.value.as_str()),
                _ => {}
            }
        }
        self.decide_for(trace_id, route.as_deref().unwrap_or(name))
    }

    /// Whether a span of `route` is sampled.
    pub(crate) fn decide_for(&self, trace_id: TraceId, route: &str) -> bool {
        let inner = &*self.inner;
        if !inner.per_route {
            return inner.decide_in(&inner.shared, trace_id);
        }
        if let Ok(routes) = inner.routes.read()
            && let Some(budget) = routes.get(route)
        {
            // Decided under the read lock: no reference count to touch.
            return inner.decide_in(budget, trace_id);
        }
        let budget = match inner.routes.write() {
            Ok(mut routes) if routes.len() < MAX_KEYS => routes
                .entry(route.into())
                .or_insert_with(|| Arc::new(Budget::new(inner.clock.now_nanos())))
                .clone(),
            _ => return inner.decide_in(&inner.shared, trace_id),
        };
        inner.decide_in(&budget, trace_id)
    }
}

/// FNV-1a: routes are short strings from our own layers; SipHash's protection against
/// chosen keys is not needed for a table bounded at 512 entries.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

type Routes = HashMap<Box<str>, Arc<Budget>, std::hash::BuildHasherDefault<Fnv>>;

impl Inner {
    fn decide_in(&self, budget: &Budget, trace_id: TraceId) -> bool {
        let now = self.clock.now_nanos();
        let start = budget.window_start.load(Ordering::Acquire);
        if now.saturating_sub(start) >= self.window {
            self.roll(budget, start, now);
        }
        budget.seen.fetch_add(1, Ordering::Relaxed);
        let probability = f64::from_bits(budget.probability.load(Ordering::Relaxed));
        if !ratio::within(probability, trace_id) {
            return false;
        }
        // A burst within a window: at most twice the window's share of the target.
        let cap = (self.target * self.window as f64 / 1e9 * 2.0)
            .ceil()
            .max(1.0) as u64;
        budget.kept.fetch_add(1, Ordering::Relaxed) < cap
    }

    /// Closes the window that started at `start` (once, whichever thread gets there first).
    fn roll(&self, budget: &Budget, start: u64, now: u64) {
        if budget
            .window_start
            .compare_exchange(start, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let seen = budget.seen.swap(0, Ordering::Relaxed);
        budget.kept.store(0, Ordering::Relaxed);
        let elapsed = (now - start) as f64 / 1e9;
        let observed = seen as f64 / elapsed;
        let previous = f64::from_bits(budget.rate.load(Ordering::Relaxed));
        let rate = if previous < 0.0 || self.smoothing >= 1.0 {
            observed
        } else {
            // The weight of what was observed grows with the windows it covers (an idle
            // spell decays the estimate as that many empty windows would).
            let windows = (now - start) as f64 / self.window as f64;
            let (observed, smoothing) = if observed >= previous {
                // Rising: one window counts for at most four times the estimate (or the
                // target), so a single burst moves it a little; the per-window cap bounds
                // what is sampled meanwhile, and a lasting rise gets through in a few
                // windows.
                let ceiling = (previous * 4.0).max(self.target * 4.0);
                (observed.min(ceiling), self.smoothing)
            } else {
                // Falling: followed quickly, so that quieter traffic is not under-sampled.
                (observed, self.smoothing.max(0.7))
            };
            let weight = 1.0 - (1.0 - smoothing).powf(windows);
            weight * observed + (1.0 - weight) * previous
        };
        budget.rate.store(rate.to_bits(), Ordering::Relaxed);
        let probability = if rate <= self.target || rate == 0.0 {
            1.0
        } else {
            self.target / rate
        };
        budget
            .probability
            .store(probability.to_bits(), Ordering::Relaxed);
    }
}

impl ShouldSample for AdaptiveSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        _span_kind: &SpanKind,
        attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        crate::result(self.decide(trace_id, attributes, name), parent_context)
    }
}

impl fmt::Debug for AdaptiveSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveSampler")
            .field("target", &self.inner.target)
            .field("window_nanos", &self.inner.window)
            .field("smoothing", &self.inner.smoothing)
            .field("per_route", &self.inner.per_route)
            .finish()
    }
}
