//! The samplers behind the real layers: rules see the attributes the layers set at span start,
//! and the tail buffer keeps a failed request's whole trace across an HTTP hop.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SimpleSpanProcessor};
use tonic::transport::Server;
use tracewire_http::client::HttpClientLayer;
use tracewire_http::server::HttpServerLayer;
use tracewire_sampling::{Action, KeepErrorsAndSlow, Rule, RuleSampler};
use tracewire_tests::grpc::pb::EchoRequest;
use tracewire_tests::grpc::pb::echo_client::EchoClient;
use tracewire_tests::grpc::{channel, echo_server, serve_grpc};
use tracewire_tests::{Telemetry, fetch, get_through, serve};
use tracewire_tonic::GrpcServerLayer;

fn rules() -> Sampler {
    Sampler::ParentBased(Box::new(
        RuleSampler::new([
            Rule::path("/health").never(),
            Rule::path_prefix("/api").always(),
            Rule::rpc_method_glob("test.echo.v1.Echo/Unary").always(),
        ])
        .otherwise(Action::Never),
    ))
}

#[tokio::test(flavor = "current_thread")]
async fn rules_see_routes_and_rpc_methods_at_span_start() {
    let t = Telemetry::install();
    let app = Router::new()
        .route("/api/users/{id}", get(|| async { "alice" }))
        .route("/health", get(|| async { "ok" }))
        .route("/other", get(|| async { "other" }))
        .layer(HttpServerLayer::new().sampler(rules()));
    let addr = serve(app).await;
    for path in ["/api/users/7", "/health", "/other"] {
        let (response, _) = fetch(addr, path, &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let spans = t.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let names: Vec<String> = t.spans().iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["GET /api/users/{id}"], "{spans:#?}");

    // gRPC: the rule on rpc.method; ServerStream matches no rule.
    t.exporter.reset();
    let addr = serve_grpc(
        Server::builder()
            .layer(GrpcServerLayer::new().sampler(rules()))
            .add_service(echo_server()),
    )
    .await;
    // No client layer: the calls arrive without a context, so the server's rules decide.
    let mut client = EchoClient::new(channel(addr).await);
    client.unary(EchoRequest::default()).await.unwrap();
    let mut stream = client
        .server_stream(EchoRequest {
            count: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}
    tokio::time::sleep(Duration::from_millis(20)).await;
    let names: Vec<String> = t.spans().iter().map(|s| s.name.to_string()).collect();
    assert_eq!(
        names,
        ["test.echo.v1.Echo/Unary"],
        "only the call a rule picks"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_tail_buffer_keeps_a_failed_request_across_a_hop() {
    let keep = KeepErrorsAndSlow::new();
    let head = Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
    let t = {
        let keep = keep.clone();
        let head = head.clone();
        Telemetry::install_with(move |exporter| {
            SdkTracerProvider::builder()
                .with_sampler(keep.sampler(head))
                .with_span_processor(keep.processor(SimpleSpanProcessor::new(exporter)))
                .build()
        })
    };
    // The downstream service fails on /fail.
    let downstream = serve(
        Router::new()
            .route("/ok", get(|| async { "fine" }))
            .route(
                "/fail",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "card declined") }),
            )
            .layer(HttpServerLayer::new().sampler(keep.sampler(head.clone()))),
    )
    .await;
    let client_sampler = keep.sampler(head.clone());
    let front =
        serve(
            Router::new()
                .route(
                    "/orders/{outcome}",
                    get(
                        move |axum::extract::Path(outcome): axum::extract::Path<String>| {
                            let layer = HttpClientLayer::new().sampler(client_sampler.clone());
                            async move {
                                get_through(layer, format!("http://{downstream}/{outcome}")).await
                            }
                        },
                    ),
                )
                .layer(HttpServerLayer::new().sampler(keep.sampler(head.clone()))),
        )
        .await;

    for outcome in ["ok", "fail", "ok"] {
        let (response, _) = fetch(front, &format!("/orders/{outcome}"), &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    t.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let spans = t.spans();
    // Only the failed request's trace: front server, client, downstream server.
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let trace = spans[0].span_context.trace_id();
    assert!(spans.iter().all(|s| s.span_context.trace_id() == trace));
    assert!(spans.iter().all(|s| s.span_context.is_sampled()));
    let downstream_span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server && s.name == "GET /fail")
        .unwrap();
    assert!(matches!(downstream_span.status, Status::Error { .. }));
    let client_span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .unwrap();
    assert_eq!(
        downstream_span.parent_span_id,
        client_span.span_context.span_id()
    );
    let front_span = spans
        .iter()
        .find(|s| s.name == "GET /orders/{outcome}")
        .unwrap();
    assert_eq!(
        client_span.parent_span_id,
        front_span.span_context.span_id()
    );
    let stats = keep.stats();
    assert_eq!(
        (stats.kept_traces, stats.discarded_traces),
        (1, 2),
        "{stats:?}"
    );
}
