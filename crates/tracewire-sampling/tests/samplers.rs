//! The samplers, deterministically: seeded trace ids and a clock moved by hand.

use std::time::Duration;

use opentelemetry::trace::{SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};
use tracewire_sampling::{
    AdaptiveSampler, ManualClock, NamedSampler, Rule, RuleSampler, sampler_from_names,
};

/// A seeded stream of random trace ids (xorshift64*).
struct Ids(u64);

impl Ids {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn next(&mut self) -> TraceId {
        TraceId::from(u128::from(self.next_u64()) << 64 | u128::from(self.next_u64()))
    }
}

fn sampled(s: &dyn ShouldSample, id: TraceId, attrs: &[KeyValue]) -> bool {
    let r = s.should_sample(None, id, "span", &SpanKind::Server, attrs, &[]);
    matches!(r.decision, SamplingDecision::RecordAndSample)
}

fn route(r: &'static str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("http.route", r),
        KeyValue::new("http.request.method", "GET"),
    ]
}

#[test]
fn ratios_are_accurate_over_100_000_decisions() {
    let mut ids = Ids(42);
    for p in [0.001, 0.01, 0.1, 0.5, 0.9] {
        let rules = RuleSampler::new([Rule::new().ratio(p)]);
        let n = 100_000.0;
        let hits = (0..100_000)
            .filter(|_| sampled(&rules, ids.next(), &[]))
            .count() as f64;
        // Within five standard deviations of the binomial mean.
        let sd = (n * p * (1.0 - p)).sqrt();
        assert!((hits - n * p).abs() < 5.0 * sd, "p={p}: {hits} of {n}");
    }
}

#[test]
fn rules_match_in_order() {
    let rules = RuleSampler::new([
        Rule::path("/health").never(),
        Rule::path_prefix("/api").always(),
        Rule::path_glob("/static/*").never(),
        Rule::new().kind(SpanKind::Client).always(),
        Rule::rpc_method_glob("inventory.Inventory/*").always(),
        Rule::attribute("tenant.id", "acme").always(),
        Rule::new().method("POST").always(),
    ])
    .otherwise(tracewire_sampling::Action::Never);
    let id = TraceId::from(7u128);
    let decide = |kind: SpanKind, attrs: Vec<KeyValue>| rules.decide(id, "x", &kind, &attrs);
    let server = SpanKind::Server;
    assert!(!decide(server.clone(), route("/health")));
    assert!(decide(server.clone(), route("/api")));
    assert!(decide(server.clone(), route("/api/users/{id}")));
    assert!(!decide(server.clone(), route("/apis")), "segment boundary");
    assert!(!decide(server.clone(), route("/static/app.js")));
    assert!(!decide(server.clone(), route("/other")));
    assert!(decide(SpanKind::Client, route("/other")));
    // url.path when there is no route.
    assert!(decide(
        server.clone(),
        vec![KeyValue::new("url.path", "/api/x")]
    ));
    assert!(decide(
        server.clone(),
        vec![KeyValue::new("rpc.method", "inventory.Inventory/Reserve")]
    ));
    assert!(!decide(
        server.clone(),
        vec![KeyValue::new("rpc.method", "payments.Payments/Charge")]
    ));
    assert!(decide(
        server.clone(),
        vec![KeyValue::new("tenant.id", "acme")]
    ));
    assert!(!decide(
        server.clone(),
        vec![KeyValue::new("tenant.id", "other")]
    ));
    assert!(decide(
        server,
        vec![
            KeyValue::new("url.path", "/orders"),
            KeyValue::new("http.request.method", "POST")
        ]
    ));
}

/// Runs `per_second[i]` requests in second `i` (evenly spread) through `sampler` on
/// `route`; returns the sampled count per second.
fn run(
    sampler: &AdaptiveSampler,
    clock: &ManualClock,
    ids: &mut Ids,
    per_second: &[u32],
    attrs: &[KeyValue],
) -> Vec<u32> {
    per_second
        .iter()
        .map(|&n| {
            let mut kept = 0;
            if n == 0 {
                clock.advance(Duration::from_secs(1));
            }
            for _ in 0..n {
                clock.advance(Duration::from_secs(1) / n);
                kept += u32::from(sampled(sampler, ids.next(), attrs));
            }
            kept
        })
        .collect()
}

fn mean(xs: &[u32]) -> f64 {
    xs.iter().map(|&x| f64::from(x)).sum::<f64>() / xs.len() as f64
}

#[test]
fn adaptive_converges_under_steady_traffic() {
    let clock = ManualClock::new();
    let sampler = AdaptiveSampler::with_clock(10.0, clock.clone());
    let mut ids = Ids(1);
    let kept = run(&sampler, &clock, &mut ids, &[2000; 30], &[]);
    // The first window samples up to its cap; then about the target.
    assert!(kept[0] <= 20, "{kept:?}");
    let settled = mean(&kept[5..]);
    assert!((settled - 10.0).abs() < 2.0, "{settled}: {kept:?}");
    assert!((sampler.probability(None) - 0.005).abs() < 0.001);
}

#[test]
fn at_low_traffic_everything_is_sampled() {
    let clock = ManualClock::new();
    let sampler = AdaptiveSampler::with_clock(10.0, clock.clone());
    let mut ids = Ids(2);
    let kept = run(&sampler, &clock, &mut ids, &[5; 20], &[]);
    assert!(kept.iter().all(|&k| k == 5), "{kept:?}");
}

#[test]
fn a_burst_does_not_swing_the_rate() {
    let clock = ManualClock::new();
    let sampler = AdaptiveSampler::with_clock(10.0, clock.clone());
    let mut ids = Ids(3);
    let mut traffic = vec![200; 20];
    traffic[10] = 20_000;
    let kept = run(&sampler, &clock, &mut ids, &traffic, &[]);
    assert!(kept[10] <= 20, "the burst second is capped: {kept:?}");
    // One burst window moves the smoothed rate, but the sampler recovers within a few windows.
    assert!(mean(&kept[15..]) > 7.0, "{kept:?}");
    // An unsmoothed sampler (weight 1) swings all the way: compare.
    let clock2 = ManualClock::new();
    let plain = AdaptiveSampler::with_clock(10.0, clock2.clone()).smoothing(1.0);
    let kept_plain = run(&plain, &clock2, &mut Ids(3), &traffic, &[]);
    assert!(
        kept_plain[11] < kept[11],
        "smoothing keeps more right after the burst: {kept_plain:?} vs {kept:?}"
    );
}

#[test]
fn when_traffic_drops_the_probability_rises() {
    let clock = ManualClock::new();
    let sampler = AdaptiveSampler::with_clock(10.0, clock.clone());
    let mut ids = Ids(4);
    let mut traffic = vec![5000; 10];
    traffic.extend([0; 5]);
    traffic.extend([8; 10]);
    let kept = run(&sampler, &clock, &mut ids, &traffic, &[]);
    assert!(mean(&kept[3..10]) < 15.0, "{kept:?}");
    // After an idle spell the estimate has decayed: low traffic is sampled whole.
    assert!(kept[17..].iter().all(|&k| k == 8), "{kept:?}");
}

#[test]
fn a_rare_route_is_not_starved_by_a_hot_one() {
    let clock = ManualClock::new();
    let sampler = AdaptiveSampler::with_clock(10.0, clock.clone()).per_route();
    let mut ids = Ids(5);
    let (hot, rare) = (route("/hot"), route("/rare"));
    let mut hot_kept = 0;
    let mut rare_kept = 0;
    for _second in 0..20 {
        for i in 0..2000 {
            clock.advance(Duration::from_micros(500));
            hot_kept += u32::from(sampled(&sampler, ids.next(), &hot));
            if i % 1000 == 0 {
                rare_kept += u32::from(sampled(&sampler, ids.next(), &rare));
            }
        }
    }
    assert_eq!(rare_kept, 40, "every rare request");
    let hot_per_second = f64::from(hot_kept) / 20.0;
    assert!((hot_per_second - 10.0).abs() < 3.0, "{hot_per_second}");
    // One shared budget would have starved the rare route.
    let clock = ManualClock::new();
    let shared = AdaptiveSampler::with_clock(10.0, clock.clone());
    let mut rare_shared = 0;
    for _second in 0..20 {
        for i in 0..2000 {
            clock.advance(Duration::from_micros(500));
            sampled(&shared, ids.next(), &hot);
            if i % 1000 == 0 {
                rare_shared += u32::from(sampled(&shared, ids.next(), &rare));
            }
        }
    }
    assert!(rare_shared < 5, "{rare_shared}");
}

#[test]
fn parent_based_composition_follows_the_parent() {
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceState};
    let sampler = Sampler::ParentBased(Box::new(RuleSampler::new([Rule::new().never()])));
    let id = TraceId::from(9u128);
    let parent = |flags| {
        Context::new().with_remote_span_context(SpanContext::new(
            id,
            SpanId::from(1u64),
            flags,
            true,
            TraceState::default(),
        ))
    };
    let decide = |cx: Option<&Context>| {
        let r = sampler.should_sample(cx, id, "x", &SpanKind::Server, &[], &[]);
        matches!(r.decision, SamplingDecision::RecordAndSample)
    };
    assert!(
        decide(Some(&parent(TraceFlags::SAMPLED))),
        "the caller's yes"
    );
    assert!(!decide(Some(&parent(TraceFlags::default()))));
    assert!(!decide(None), "roots: our rules");
}

#[test]
fn samplers_by_name() {
    let ok = |n: &str, a: Option<&str>| sampler_from_names(n, a).unwrap();
    assert!(matches!(
        ok("always_on", None),
        NamedSampler::Sdk(Sampler::AlwaysOn)
    ));
    assert!(matches!(
        ok("ALWAYS_OFF", None),
        NamedSampler::Sdk(Sampler::AlwaysOff)
    ));
    assert!(matches!(
        ok("traceidratio", Some("0.25")),
        NamedSampler::Sdk(Sampler::TraceIdRatioBased(r)) if r == 0.25
    ));
    assert!(matches!(
        ok("parentbased_traceidratio", None),
        NamedSampler::Sdk(Sampler::ParentBased(_))
    ));
    assert!(matches!(
        ok("tracewire_adaptive", Some("5")),
        NamedSampler::Adaptive(_)
    ));
    let rules = ok(
        "tracewire_rules",
        Some("/health=never; /api/=always; /static/*=0; *=never"),
    );
    let NamedSampler::Rules(rules) = rules else {
        panic!()
    };
    let id = TraceId::from(3u128);
    assert!(rules.decide(id, "x", &SpanKind::Server, &route("/api/users")));
    assert!(!rules.decide(id, "x", &SpanKind::Server, &route("/health")));
    assert!(!rules.decide(id, "x", &SpanKind::Server, &route("/static/a.css")));
    assert!(!rules.decide(id, "x", &SpanKind::Server, &route("/other")));

    let err = |n: &str, a: Option<&str>| sampler_from_names(n, a).unwrap_err().to_string();
    assert_eq!(
        err("sometimes", None),
        "OTEL_TRACES_SAMPLER=\"sometimes\": unknown sampler"
    );
    assert_eq!(
        err("xray", None),
        "OTEL_TRACES_SAMPLER=\"xray\": not supported"
    );
    assert!(err("traceidratio", Some("2")).starts_with("OTEL_TRACES_SAMPLER_ARG=\"2\""));
    assert!(err("traceidratio", Some("half")).contains("not a ratio"));
    assert!(err("tracewire_adaptive", Some("-1")).starts_with("OTEL_TRACES_SAMPLER_ARG"));
    assert!(err("tracewire_rules", None).contains("needs rules"));
    assert!(err("tracewire_rules", Some("/a=sometimes")).contains("rule \"/a=sometimes\""));
    assert!(err("tracewire_rules", Some("api=always")).contains("starts with '/'"));
}
