//! Per-call cost of the gRPC layers: a unary call over loopback (tonic client → tonic server,
//! both in this process on one current-thread runtime), side by side in one run: no layers;
//! our server and client layers unsampled, sampled (bridged `tracing` spans) and sampled
//! direct (`tracer_provider`); tonic-tracing-opentelemetry's server and client layers with
//! sampling off and sampled. "No layers" runs first and last to show the drift of the run, and
//! "a fresh traceparent per call" (a header set by hand, no span) shows what carrying a
//! context over h2 costs by itself.
//!
//! Besides criterion's timings, it prints allocations per call and each variant against "no
//! layers" in alternating rounds (A B A B …), the figure to quote on a machine whose speed
//! drifts. `GRPC_BENCH_ONLY="<variant>"` runs one variant for 50 000 calls, for a profiler.
//!
//! Sampled variants run under a tracer provider with `AlwaysOn` and a simple processor feeding
//! a no-op exporter; unsampled ones under `AlwaysOff`, with our layers' sampler `AlwaysOff`
//! too. The subscriber is `tracing_subscriber::registry()` at level INFO with
//! `tracing-opentelemetry`'s layer only. The client sends no parent context: the client layer
//! decides, the server follows.
//!
//! `cargo bench -p tracewire-tests --bench grpc` prints allocations per call (client and
//! server together) first.

use std::alloc::System;
use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{Criterion, criterion_group};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tonic::transport::{Channel, Server};
use tower::ServiceBuilder;
use tower::util::BoxCloneService;
use tracewire_tests::NoopExporter;
use tracewire_tests::grpc::pb::EchoRequest;
use tracewire_tests::grpc::pb::echo_client::EchoClient;
use tracewire_tests::grpc::pb::echo_server::{Echo, EchoServer};
use tracewire_tests::grpc::pb::{EchoReply, EchoRequest as Req};
use tracewire_tests::grpc::{channel, serve_grpc};
use tracewire_tonic::{GrpcClientLayer, GrpcServerLayer};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

type BoxChannel = BoxCloneService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    Box<dyn std::error::Error + Send + Sync>,
>;

/// A handler that does nothing but answer: what is measured is the layers, not what a
/// handler does with the context they give it.
#[derive(Clone, Copy)]
struct Bare;

#[tonic::async_trait]
impl Echo for Bare {
    async fn unary(
        &self,
        request: tonic::Request<Req>,
    ) -> Result<tonic::Response<EchoReply>, tonic::Status> {
        Ok(tonic::Response::new(EchoReply {
            message: request.into_inner().message,
            ..Default::default()
        }))
    }

    type ServerStreamStream = tokio_stream::Empty<Result<EchoReply, tonic::Status>>;

    async fn server_stream(
        &self,
        _: tonic::Request<Req>,
    ) -> Result<tonic::Response<Self::ServerStreamStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("bench"))
    }

    async fn client_stream(
        &self,
        _: tonic::Request<tonic::Streaming<Req>>,
    ) -> Result<tonic::Response<EchoReply>, tonic::Status> {
        Err(tonic::Status::unimplemented("bench"))
    }

    type BidiStream = tokio_stream::Empty<Result<EchoReply, tonic::Status>>;

    async fn bidi(
        &self,
        _: tonic::Request<tonic::Streaming<Req>>,
    ) -> Result<tonic::Response<Self::BidiStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("bench"))
    }
}

fn echo_server() -> EchoServer<Bare> {
    EchoServer::new(Bare)
}

struct Variant {
    name: &'static str,
    client: EchoClient<BoxChannel>,
    dispatch: Dispatch,
}

fn dispatch(provider: &SdkTracerProvider) -> Dispatch {
    // At INFO, as services run: h2 and tonic make `trace`/`debug` spans of their own on every
    // call, which would otherwise be bridged and exported too.
    Dispatch::new(
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::filter::Targets::new()
                    .with_default(tracing::Level::INFO)
                    // tonic-tracing-opentelemetry makes its spans at TRACE under this target
                    // and asks applications to enable it.
                    .with_target("otel::tracing", tracing::Level::TRACE),
            )
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"))),
    )
}

fn provider(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_simple_exporter(NoopExporter)
        .build()
}

/// Boxes a client stack so that every variant has one type.
fn boxed<S, B>(service: S) -> EchoClient<BoxChannel>
where
    S: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = ServiceBuilder::new()
        .map_err(Into::into)
        .map_response(|r: http::Response<B>| r.map(tonic::body::Body::new))
        .service(service);
    EchoClient::new(BoxCloneService::new(service))
}

async fn variants(on: &SdkTracerProvider, off: &SdkTracerProvider) -> Vec<Variant> {
    let (d_on, d_off) = (dispatch(on), dispatch(off));
    let plain = serve_grpc(Server::builder().add_service(echo_server())).await;
    let ours_off = serve_grpc(
        Server::builder()
            .layer(GrpcServerLayer::new().sampler(Sampler::AlwaysOff))
            .add_service(echo_server()),
    )
    .await;
    let ours = serve_grpc(
        Server::builder()
            .layer(GrpcServerLayer::new())
            .add_service(echo_server()),
    )
    .await;
    let direct = serve_grpc(
        Server::builder()
            .layer(GrpcServerLayer::new().tracer_provider(on))
            .add_service(echo_server()),
    )
    .await;
    let theirs = serve_grpc(
        Server::builder()
            .layer(tonic_tracing_opentelemetry::middleware::server::OtelGrpcLayer::default())
            .add_service(echo_server()),
    )
    .await;
    let ch = |addr: SocketAddr| channel(addr);
    let our_client =
        |layer: GrpcClientLayer, ch: Channel| boxed(ServiceBuilder::new().layer(layer).service(ch));
    let their_client = |ch: Channel| {
        boxed(
            ServiceBuilder::new()
                .layer(tonic_tracing_opentelemetry::middleware::client::OtelGrpcLayer)
                .service(ch),
        )
    };
    let v = |name, client, dispatch: &Dispatch| Variant {
        name,
        client,
        dispatch: dispatch.clone(),
    };
    // The floor of any propagating middleware: a fresh traceparent on every call, no span.
    let fresh_header = |mut r: http::Request<tonic::body::Body>| {
        let tp = tracewire_propagation::traceparent::TraceParent::new_root(false);
        r.headers_mut().insert("traceparent", tp.to_header_value());
        r
    };
    let header_only = boxed(
        ServiceBuilder::new()
            .map_request(fresh_header)
            .service(ch(plain).await),
    );
    vec![
        v("no layers", boxed(ch(plain).await), &d_on),
        v(
            "no layers, a fresh traceparent per call",
            header_only,
            &d_off,
        ),
        v(
            "tracewire unsampled",
            our_client(
                GrpcClientLayer::new().sampler(Sampler::AlwaysOff),
                ch(ours_off).await,
            ),
            &d_off,
        ),
        v(
            "tracewire sampled",
            our_client(GrpcClientLayer::new(), ch(ours).await),
            &d_on,
        ),
        v(
            "tracewire sampled direct",
            our_client(GrpcClientLayer::new().tracer_provider(on), ch(direct).await),
            &d_on,
        ),
        v(
            "tonic-tracing-opentelemetry, sampling off",
            their_client(ch(theirs).await),
            &d_off,
        ),
        v(
            "tonic-tracing-opentelemetry, sampled",
            their_client(ch(theirs).await),
            &d_on,
        ),
        v("no layers, again", boxed(ch(plain).await), &d_on),
    ]
}

async fn one_call(client: &mut EchoClient<BoxChannel>) {
    let reply = client
        .unary(EchoRequest {
            message: "hi".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    black_box(reply);
}

fn allocation_report(variants: &mut [Variant], rt: &tokio::runtime::Runtime) {
    println!("\nheap allocations per unary call, client and server (mean of 1000)");
    for v in variants {
        let _guard = tracing::dispatcher::set_default(&v.dispatch);
        rt.block_on(one_call(&mut v.client));
        let region = Region::new(GLOBAL);
        rt.block_on(async {
            for _ in 0..1000 {
                one_call(&mut v.client).await;
            }
        });
        let stats = region.change();
        println!("{:<48} {:>7.1}", v.name, stats.allocations as f64 / 1000.0);
    }
    println!();
}

/// Each variant against "no layers" in alternating rounds (A B A B …), so that the drift of
/// the machine cancels: the median over rounds of the per-call overhead and of the ratio.
fn paired_report(variants: &mut [Variant], rt: &tokio::runtime::Runtime) {
    const ROUNDS: usize = 15;
    const CALLS: u32 = 400;
    let (base, rest) = variants.split_first_mut().expect("no layers first");
    let time = |v: &mut Variant| {
        let _guard = tracing::dispatcher::set_default(&v.dispatch);
        let start = std::time::Instant::now();
        rt.block_on(async {
            for _ in 0..CALLS {
                one_call(&mut v.client).await;
            }
        });
        start.elapsed().as_secs_f64() * 1e6 / f64::from(CALLS)
    };
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    println!("alternating rounds against no layers ({ROUNDS} rounds of {CALLS} calls each)");
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>7}",
        "variant", "none µs", "this µs", "overhead", "ratio"
    );
    for v in rest.iter_mut() {
        let (mut bases, mut these, mut diffs, mut ratios) = (vec![], vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            let a = time(base);
            let b = time(v);
            bases.push(a);
            these.push(b);
            diffs.push(b - a);
            ratios.push(b / a);
        }
        println!(
            "{:<44} {:>10.1} {:>10.1} {:>+10.2} {:>7.3}",
            v.name,
            median(bases),
            median(these),
            median(diffs),
            median(ratios)
        );
    }
    println!();
}

fn bench(c: &mut Criterion) {
    // tonic-tracing-opentelemetry injects and extracts through the global propagator.
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let on = provider(Sampler::AlwaysOn);
    let off = provider(Sampler::AlwaysOff);
    let mut variants = rt.block_on(variants(&on, &off));
    if let Ok(only) = std::env::var("GRPC_BENCH_ONLY") {
        // For a profiler: one variant, 50 000 calls.
        let v = variants
            .iter_mut()
            .find(|v| v.name == only)
            .expect("a variant's name");
        let _guard = tracing::dispatcher::set_default(&v.dispatch);
        rt.block_on(async {
            for _ in 0..50_000 {
                one_call(&mut v.client).await;
            }
        });
        return;
    }
    allocation_report(&mut variants, &rt);
    paired_report(&mut variants, &rt);
    let mut g = c.benchmark_group("grpc");
    for v in &mut variants {
        let _guard = tracing::dispatcher::set_default(&v.dispatch);
        let client = v.client.clone();
        g.bench_function(v.name, |b| {
            b.to_async(&rt).iter(|| {
                let mut client = client.clone();
                async move { one_call(&mut client).await }
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
