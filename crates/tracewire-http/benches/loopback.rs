//! Loopback throughput with a real load generator: each variant's axum server on 127.0.0.1,
//! driven by `wrk` (1 thread, 32 connections; a `traceparent` on every request, then in a
//! second set of rounds a `traceparent` and a `tracestate`), rounds alternating the order of
//! the variants so that drift cancels; the median requests per second of each variant, and the
//! median over rounds of its ratio to the server without middleware in the same round.
//!
//! `cargo bench -p tracewire-http --features axum --bench loopback` (needs `wrk`: `apt-get install wrk`).
//! `LOOPBACK_ROUNDS` (default 6) and `LOOPBACK_SECONDS` (default 3) set the length. Sampled
//! variants export through a batch processor to a no-op exporter. With `taskset` and two CPUs
//! the servers run on the first and `wrk` on the second (`LOOPBACK_PIN=0` turns this off).

mod support;

use std::net::SocketAddr;
use std::process::Command;
use support::NoopExporter;

use axum::Router;
use axum::routing::get;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracewire_http::server::HttpServerLayer;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn provider(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_batch_exporter(NoopExporter)
        .build()
}

fn dispatch(provider: &SdkTracerProvider) -> Dispatch {
    Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("loopback"))),
    )
}

fn base() -> Router {
    Router::new().route("/users/{id}", get(|| async { "alice" }))
}

struct Variant {
    name: &'static str,
    make: Box<dyn Fn() -> Router>,
    dispatch: Dispatch,
}

/// Serves `router` on a runtime with one worker whose thread uses `dispatch`.
fn serve(router: Router, dispatch: Dispatch) -> (SocketAddr, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_start(move || {
            // The worker keeps this subscriber for its whole life.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("address");
    rt.spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, rt)
}

/// Pins this process (the servers, their runtimes and the batch exporters' threads, all made
/// later) to the first CPU, leaving the second to `wrk`: the two do not take turns on one core,
/// and the exporter's work counts against the server, as in production. Returns whether it
/// did (`taskset` present, two CPUs or more, `LOOPBACK_PIN` not `0`).
fn pin() -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    if cpus < 2 || std::env::var("LOOPBACK_PIN").is_ok_and(|v| v == "0") {
        return false;
    }
    Command::new("taskset")
        .args(["-a", "-p", "-c", "0", &std::process::id().to_string()])
        .output()
        .is_ok_and(|o| o.status.success())
}

const TRACEPARENT: &str = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACESTATE: &str = "tracestate: congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

/// The header sets measured, each in its own rounds: a `traceparent` alone (most traffic, and
/// the in-process benchmark's case), then with a two-member `tracestate`, which every context
/// of the request must carry as opentelemetry's `TraceState` (one allocation per key and per
/// value). `LOOPBACK_HEADERS=traceparent` or `=tracestate` measures one set.
fn header_sets() -> Vec<(&'static str, Vec<&'static str>)> {
    let all = vec![
        ("traceparent", vec![TRACEPARENT]),
        ("traceparent + tracestate", vec![TRACEPARENT, TRACESTATE]),
    ];
    match std::env::var("LOOPBACK_HEADERS").as_deref() {
        Ok("traceparent") => all.into_iter().take(1).collect(),
        Ok("tracestate") => all.into_iter().skip(1).collect(),
        _ => all,
    }
}

fn wrk(addr: SocketAddr, seconds: u32, pinned: bool, headers: &[&str]) -> Option<f64> {
    let mut command = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", "wrk"]);
        c
    } else {
        Command::new("wrk")
    };
    let out = command
        .args(["-t1", "-c32", &format!("-d{seconds}s")])
        .args(headers.iter().flat_map(|h| ["-H", h]))
        .arg(format!("http://{addr}/users/42"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n.is_multiple_of(2) {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    } else {
        v[n / 2]
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // nothing to list or test: this bench drives wrk
    }
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("loopback: wrk is not installed (apt-get install wrk); skipped");
        return;
    }
    let env = |k: &str, d: u32| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let pinned = pin();
    let rounds = env("LOOPBACK_ROUNDS", 6);
    let seconds = env("LOOPBACK_SECONDS", 3);

    let on = provider(Sampler::AlwaysOn);
    let off = provider(Sampler::AlwaysOff);
    let on_provider = on.clone();
    let variants = [
        Variant {
            name: "none",
            make: Box::new(base),
            dispatch: dispatch(&on),
        },
        Variant {
            name: "tracewire unsampled",
            make: Box::new(|| base().layer(HttpServerLayer::new().sampler(Sampler::AlwaysOff))),
            dispatch: dispatch(&off),
        },
        Variant {
            name: "tracewire sampled",
            make: Box::new(|| base().layer(HttpServerLayer::new())),
            dispatch: dispatch(&on),
        },
        Variant {
            name: "tracewire sampled direct",
            make: Box::new(move || {
                base().layer(HttpServerLayer::new().tracer_provider(&on_provider))
            }),
            dispatch: dispatch(&on),
        },
        Variant {
            name: "axum-tracing-opentelemetry, off",
            make: Box::new(|| {
                base().layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default())
            }),
            dispatch: dispatch(&off),
        },
        Variant {
            name: "axum-tracing-opentelemetry, sampled",
            make: Box::new(|| {
                base().layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default())
            }),
            dispatch: dispatch(&on),
        },
    ];
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );

    for (set, headers) in header_sets() {
        measure(&variants, &headers, set, rounds, seconds, pinned);
    }
}

fn measure(
    variants: &[Variant],
    headers: &[&str],
    set: &str,
    rounds: u32,
    seconds: u32,
    pinned: bool,
) {
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..variants.len()).collect()
        } else {
            (0..variants.len()).rev().collect()
        };
        for i in order {
            let v = &variants[i];
            let (addr, rt) = serve((v.make)(), v.dispatch.clone());
            let rps = wrk(addr, seconds, pinned, headers).unwrap_or(0.0);
            rt.shutdown_background();
            eprintln!("{set}, round {round}: {:<38} {rps:>10.0} req/s", v.name);
            results[i].push(rps);
        }
    }
    // Each round's ratio from that round's own figures, then the median over rounds.
    let base = results[0].clone();
    println!(
        "\nloopback throughput with {set}, median of {rounds} rounds of {seconds} s (wrk -t1 -c32{})",
        if pinned {
            "; server on CPU 0, wrk on CPU 1"
        } else {
            ""
        }
    );
    println!("{:<38} {:>10} {:>8}", "variant", "req/s", "ratio");
    for (v, r) in variants.iter().zip(results) {
        let ratios = r.iter().zip(&base).map(|(x, b)| x / b).collect();
        println!("{:<38} {:>10.0} {:>8.2}", v.name, median(r), median(ratios));
    }
}
