//! The call core through real layers: the sampling decision and the ids the span gets, the
//! random-trace-id flag of traces we start, a trusted caller's B3 "deny", and calls that end
//! before their body does. Each test fails on the layers as they were before the core.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tower::{Service, ServiceBuilder, ServiceExt};
use tracewire_core::provider::{CallIdGenerator, LayerSampler};
use tracewire_http::client::HttpClientLayer;
use tracewire_http::server::{HttpServerLayer, ResponseHeader};
use tracewire_propagation::{Format, Propagator};
use tracewire_tests::grpc::pb::EchoRequest;
use tracewire_tests::grpc::pb::echo_client::EchoClient;
use tracewire_tests::grpc::{channel, echo_server, serve_grpc};
use tracewire_tests::*;
use tracewire_tonic::{GrpcClientLayer, GrpcServerLayer};

/// A sampled incoming context with [`TRACE`] and [`SPAN`], for client calls under it.
fn sampled_parent() -> opentelemetry::Context {
    let mut headers = http::HeaderMap::new();
    headers.insert("traceparent", traceparent("01").parse().unwrap());
    Propagator::new().extract_context(&headers, &opentelemetry::Context::new())
}

fn half() -> Sampler {
    Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.5)))
}

/// A provider with the same ratio sampler as the layers, as the docs set it up.
fn half_provider(exporter: opentelemetry_sdk::trace::InMemorySpanExporter) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_id_generator(CallIdGenerator::new())
        .with_sampler(half())
        .with_simple_exporter(exporter)
        .build()
}

fn app<M>(layer: HttpServerLayer<M>) -> Router
where
    M: tracewire_http::hooks::MakeSpan<Body> + Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/x", get(|| async { outgoing_traceparent() }))
        .layer(layer.response_header(ResponseHeader::TraceResponse))
}

/// Sends `n` requests without a `traceparent`; returns the `traceresponse` of each.
async fn roots(app: &Router, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let response = app
            .clone()
            .oneshot(Request::get("/x").body(Body::empty()).unwrap())
            .await
            .unwrap();
        out.push(
            response.headers()["traceresponse"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    out
}

/// Half of 400 new traces are kept (binomial: 200 ± 10); deciding twice on two trace ids, as
/// the layers did, kept a quarter.
fn assert_half_kept(t: &Telemetry, responses: &[String]) {
    let spans = t.spans();
    let servers: Vec<_> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Server)
        .collect();
    assert!(
        (150..=250).contains(&servers.len()),
        "{} of {} roots kept, not about half",
        servers.len(),
        responses.len()
    );
    // Every span has the trace id the layer decided on and told the caller.
    let sampled: Vec<&String> = responses.iter().filter(|r| r.ends_with("-03")).collect();
    assert_eq!(sampled.len(), servers.len());
    for span in servers {
        let id = format!(
            "00-{}-{}-03",
            span.span_context.trace_id(),
            span.span_context.span_id()
        );
        assert!(sampled.contains(&&id), "{id} was not what the layer said");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn roots_are_sampled_once_at_the_ratio_bridged() {
    let t = Telemetry::install_with(half_provider);
    let responses = roots(&app(HttpServerLayer::new().sampler(half())), 400).await;
    assert_half_kept(&t, &responses);
}

#[tokio::test(flavor = "current_thread")]
async fn roots_are_sampled_once_at_the_ratio_direct() {
    let t = Telemetry::install_with(half_provider);
    let layer = HttpServerLayer::new()
        .sampler(half())
        .tracer_provider(&t.provider);
    let responses = roots(&app(layer), 400).await;
    assert_half_kept(&t, &responses);
}

#[tokio::test(flavor = "current_thread")]
async fn with_the_layer_sampler_the_provider_does_not_decide_again() {
    // The provider's own sampler says no to everything: the layer's decision still holds for
    // the spans the layer makes.
    let t = Telemetry::install_with(|exporter| {
        SdkTracerProvider::builder()
            .with_id_generator(CallIdGenerator::new())
            .with_sampler(LayerSampler::new(Sampler::AlwaysOff))
            .with_simple_exporter(exporter)
            .build()
    });
    let responses = roots(&app(HttpServerLayer::new()), 20).await;
    assert!(responses.iter().all(|r| r.ends_with("-03")));
    assert_eq!(t.spans().len(), 20);
}

#[tokio::test(flavor = "current_thread")]
async fn sampled_roots_send_the_random_flag() {
    let t = Telemetry::install();
    // The two modes are two layer types: one router of each.
    for app in [
        app(HttpServerLayer::new()),
        app(HttpServerLayer::new().tracer_provider(&t.provider)),
    ] {
        let response = app
            .oneshot(Request::get("/x").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let traceresponse = response.headers()["traceresponse"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let downstream = String::from_utf8_lossy(&body).into_owned();
        assert!(traceresponse.ends_with("-03"), "{traceresponse}");
        assert!(
            downstream.ends_with("-03"),
            "what the handler sends on: {downstream}"
        );
        // The handler's context is the server span's.
        assert_eq!(downstream, traceresponse);
    }
    // A client call that starts a trace.
    for layer in [
        HttpClientLayer::new(),
        HttpClientLayer::new().tracer_provider(&t.provider),
    ] {
        let svc = ServiceBuilder::new().layer(layer).service_fn(
            |request: Request<Empty<Bytes>>| async move {
                let sent = request.headers()["traceparent"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                Ok::<_, Infallible>(Response::new(sent))
            },
        );
        let response = svc.oneshot(
            Request::get("http://downstream/")
                .body(Empty::new())
                .unwrap(),
        );
        let body = response.await.unwrap().into_body().collect().await.unwrap();
        let sent = String::from_utf8_lossy(&body.to_bytes()).into_owned();
        assert!(sent.ends_with("-03"), "{sent}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn grpc_roots_send_the_random_flag() {
    let t = Telemetry::install();
    let addr = serve_grpc(
        tonic::transport::Server::builder()
            .layer(GrpcServerLayer::new())
            .add_service(echo_server()),
    )
    .await;
    // A root at the server: what its handler sends on.
    let mut plain = EchoClient::new(channel(addr).await);
    let reply = plain
        .unary(EchoRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(reply.outgoing.ends_with("-03"), "{}", reply.outgoing);
    // A root at the client: what it sends.
    let layered = ServiceBuilder::new()
        .layer(GrpcClientLayer::new().target(&format!("http://{addr}")))
        .service(channel(addr).await);
    let reply = EchoClient::new(layered)
        .unary(EchoRequest::default())
        .await
        .unwrap()
        .into_inner();
    let sent = &reply.metadata["traceparent"];
    assert!(sent.ends_with("-03"), "{sent}");
    assert!(reply.outgoing.ends_with("-03"), "{}", reply.outgoing);
    assert_eq!(t.wait_for(3).await.len(), 3);
}

fn b3() -> Propagator {
    Propagator::from_formats([Format::TraceContext, Format::B3])
}

#[tokio::test(flavor = "current_thread")]
async fn a_trusted_b3_deny_is_obeyed_and_forwarded() {
    let t = Telemetry::install();
    let app = Router::new()
        .route(
            "/x",
            get(|| async {
                let mut headers = http::HeaderMap::new();
                b3().inject_context(&opentelemetry::Context::current(), &mut headers);
                format!(
                    "{} {}",
                    headers["b3"].to_str().unwrap(),
                    outgoing_traceparent()
                )
            }),
        )
        .layer(HttpServerLayer::new().propagator(b3()));
    for deny in [("b3", "0"), ("x-b3-sampled", "0")] {
        let response = app
            .clone()
            .oneshot(
                Request::get("/x")
                    .header(deny.0, deny.1)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let sent = String::from_utf8_lossy(&body).into_owned();
        let (b3, traceparent) = sent.split_once(' ').unwrap();
        assert!(
            b3.ends_with("-0"),
            "{deny:?}: downstream must not sample: {b3}"
        );
        assert!(traceparent.ends_with("-02"), "{deny:?}: {traceparent}");
    }
    assert!(t.spans().is_empty(), "no span for a denied request");

    // gRPC: the same deny in the metadata.
    let addr = serve_grpc(
        tonic::transport::Server::builder()
            .layer(GrpcServerLayer::new().propagator(b3()))
            .add_service(echo_server()),
    )
    .await;
    let mut client = EchoClient::new(channel(addr).await);
    let mut request = tonic::Request::new(EchoRequest::default());
    request.metadata_mut().insert("b3", "0".parse().unwrap());
    let reply = client.unary(request).await.unwrap().into_inner();
    assert!(reply.outgoing.ends_with("-02"), "{}", reply.outgoing);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(t.spans().is_empty(), "no span for a denied call");
}

#[tokio::test(flavor = "current_thread")]
async fn a_deny_from_an_edge_caller_is_not_obeyed() {
    // Under OwnSampling a caller can neither force sampling nor turn it off.
    let t = Telemetry::install();
    let app = Router::new().route("/x", get(|| async {})).layer(
        HttpServerLayer::new()
            .propagator(b3())
            .trust_policy(tracewire_http::server::TrustPolicy::OwnSampling),
    );
    app.oneshot(
        Request::get("/x")
            .header("b3", "0")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(t.spans().len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_body_that_fails_makes_the_span_an_error() {
    let t = Telemetry::install();
    // A server whose body fails after its first chunk.
    let failing = || {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"first")),
            Err(std::io::Error::from(std::io::ErrorKind::TimedOut)),
        ];
        Body::from_stream(tokio_stream::iter(chunks))
    };
    let app = Router::new()
        .route("/fail", get(move || async move { failing() }))
        .layer(HttpServerLayer::new());
    let response = app
        .oneshot(Request::get("/fail").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(response.into_body().collect().await.is_err());
    let spans = t.spans();
    assert_eq!(spans.len(), 1);
    assert!(matches!(spans[0].status, Status::Error { .. }));
    assert!(attr_str(&spans[0], "error.type").is_some());
    assert!(spans[0].events.iter().any(|e| e.name == "exception"));

    // A client whose response body fails while it is read.
    let svc = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service_fn(move |_: Request<Empty<Bytes>>| async move {
            Ok::<_, Infallible>(Response::new(failing()))
        });
    let _guard = sampled_parent().attach();
    let response = svc
        .oneshot(
            Request::get("http://downstream/")
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(response.into_body().collect().await.is_err());
    let spans = t.spans();
    let client = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .unwrap();
    assert!(matches!(client.status, Status::Error { .. }));
    assert_eq!(attr_str(client, "error.type").as_deref(), Some("timeout"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_that_stops_reading_is_not_a_client_error() {
    let t = Telemetry::install();
    let mut svc = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service_fn(|_: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Body::from_stream(tokio_stream::iter(vec![
                Ok::<_, Infallible>(Bytes::from_static(b"a")),
                Ok(Bytes::from_static(b"b")),
            ]))))
        });
    let _guard = sampled_parent().attach();
    let response = svc
        .ready()
        .await
        .unwrap()
        .call(
            Request::get("http://downstream/")
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    drop(response);
    let spans = t.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].status, Status::Unset);
    assert!(
        spans[0]
            .events
            .iter()
            .any(|e| e.name == "http.response.body.dropped")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_head_request_ends_with_its_headers() {
    use tower::ServiceExt;
    let t = Telemetry::install();
    // A plain service whose body hyper would never poll for a HEAD request.
    let svc = ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::from_stream(tokio_stream::iter(vec![
                Ok::<_, Infallible>(Bytes::from_static(b"never sent")),
            ]))))
        });
    let response = svc
        .oneshot(Request::head("/x").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let spans = t.spans();
    assert_eq!(spans.len(), 1, "ended with the headers");
    assert_eq!(spans[0].status, Status::Unset);
    drop(response);
    assert_eq!(
        t.spans()[0].status,
        Status::Unset,
        "dropping its body changes nothing"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_oversized_tracestate_is_bounded_on_the_way_out() {
    let _t = Telemetry::install();
    // 32 valid members of 200 bytes: 6.5 KB a caller may send, which would push every
    // downstream gRPC call's headers toward grpc-core's 8 KiB limit.
    let long: Vec<String> = (0..32)
        .map(|i| format!("k{i}={}", "v".repeat(196)))
        .collect();
    let incoming = long.join(",");
    let ordinary = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
    let app = Router::new()
        .route(
            "/x",
            get(|| async {
                let mut headers = http::HeaderMap::new();
                Propagator::new().inject_context(&opentelemetry::Context::current(), &mut headers);
                headers
                    .get("tracestate")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            }),
        )
        .layer(HttpServerLayer::new());
    for (sent, expect_whole) in [(incoming.as_str(), false), (ordinary, true)] {
        let response = app
            .clone()
            .oneshot(
                Request::get("/x")
                    .header("traceparent", traceparent("01"))
                    .header("tracestate", sent)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let out = String::from_utf8_lossy(&body).into_owned();
        assert!(
            out.len() <= Propagator::TRACE_STATE_LIMIT,
            "{} bytes",
            out.len()
        );
        if expect_whole {
            assert_eq!(out, ordinary);
        } else {
            // The leftmost members are kept, whole.
            assert!(out.starts_with(&long[0]), "{out}");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn known_methods_can_be_overridden_and_ipv6_addresses_lose_their_brackets() {
    let t = Telemetry::install();
    let propfind = http::Method::from_bytes(b"PROPFIND").unwrap();
    for (layer, expected) in [
        (HttpServerLayer::new(), ("_OTHER", "HTTP")),
        (
            HttpServerLayer::new().known_methods(["GET", "PROPFIND"]),
            ("PROPFIND", "PROPFIND"),
        ),
    ] {
        let svc = ServiceBuilder::new()
            .layer(layer)
            .service_fn(|_: Request<Body>| async {
                Ok::<_, Infallible>(Response::new(Body::empty()))
            });
        let request = Request::builder()
            .method(propfind.clone())
            .uri("/files")
            .header("host", "[::1]:8443")
            .body(Body::empty())
            .unwrap();
        svc.oneshot(request).await.unwrap();
        let spans = t.spans();
        let span = spans.last().unwrap();
        assert_eq!(
            attr_str(span, "http.request.method").as_deref(),
            Some(expected.0)
        );
        assert_eq!(span.name, expected.1);
        assert_eq!(attr_str(span, "server.address").as_deref(), Some("::1"));
        assert_eq!(
            attr(span, "server.port"),
            Some(&opentelemetry::Value::I64(8443))
        );
    }
    // A client's IPv6 destination.
    let _guard = sampled_parent().attach();
    let svc = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service_fn(|_: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        });
    svc.oneshot(
        Request::get("http://[::1]:8080/x")
            .body(Empty::new())
            .unwrap(),
    )
    .await
    .unwrap();
    let spans = t.spans();
    let client = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .unwrap();
    assert_eq!(attr_str(client, "server.address").as_deref(), Some("::1"));
}

#[tokio::test(flavor = "current_thread")]
async fn the_grpc_host_fallback_keeps_ipv6_whole() {
    use tracewire_tonic::GrpcServerLayer;
    let t = Telemetry::install();
    let svc = ServiceBuilder::new()
        .layer(GrpcServerLayer::new())
        .service_fn(|_: Request<tonic::body::Body>| async {
            let mut response = Response::new(tonic::body::Body::empty());
            response
                .headers_mut()
                .insert("grpc-status", http::HeaderValue::from_static("0"));
            Ok::<_, Infallible>(response)
        });
    let request = Request::post("/echo.Echo/Unary")
        .header("host", "[::1]:50051")
        .header("content-type", "application/grpc")
        .body(tonic::body::Body::empty())
        .unwrap();
    svc.oneshot(request).await.unwrap();
    let spans = t.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        attr_str(&spans[0], "server.address").as_deref(),
        Some("::1")
    );
    assert_eq!(
        attr(&spans[0], "server.port"),
        Some(&opentelemetry::Value::I64(50051))
    );
}

/// An event stream that never ends on its own.
fn event_stream() -> Response<Body> {
    let events = tokio_stream::StreamExt::throttle(
        tokio_stream::iter(std::iter::repeat_with(|| {
            Ok::<_, Infallible>(Bytes::from_static(b"data: tick\n\n"))
        })),
        Duration::from_millis(20),
    );
    Response::builder()
        .header(http::header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(events))
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn an_event_stream_can_end_its_span_at_the_headers() {
    let t = Telemetry::install();
    let app = Router::new()
        .route("/events", get(|| async { event_stream() }))
        .layer(HttpServerLayer::new().end_at_headers(|_, headers| {
            headers
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
        }));
    let addr = serve(app).await;
    let request = Request::get(format!("http://{addr}/events"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let mut body = client().request(request).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    // The stream goes on; the span has ended, without an error.
    let spans = t.wait_for(1).await;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "GET /events");
    assert_eq!(spans[0].status, Status::Unset);
    assert!(body.frame().await.unwrap().unwrap().is_data());
    drop(body);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        t.spans()[0].status,
        Status::Unset,
        "the later drop is not recorded"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_upgrade_ends_its_span_when_it_is_answered() {
    let t = Telemetry::install();
    // A 101 answer whose "body" would be the upgraded connection's bytes.
    let svc = ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service_fn(|_: Request<Body>| async {
            let mut response = event_stream();
            *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
            Ok::<_, Infallible>(response)
        });
    let request = Request::get("/ws")
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::CONNECTION, "upgrade")
        .body(Body::empty())
        .unwrap();
    let response = svc.oneshot(request).await.unwrap();
    let spans = t.spans();
    assert_eq!(spans.len(), 1, "ended with the 101");
    assert_eq!(spans[0].status, Status::Unset);
    assert_eq!(
        attr(&spans[0], "http.response.status_code"),
        Some(&opentelemetry::Value::I64(101))
    );
    drop(response);
}

// ---- the end of a call: chosen per route, by the handler, a tunnel, a WebSocket -----------

/// Fetches `path` from `addr` and reads one frame of the body, keeping the rest open.
async fn first_frame(addr: std::net::SocketAddr, path: &str) -> hyper::body::Incoming {
    let request = Request::get(format!("http://{addr}{path}"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let mut body = client().request(request).await.unwrap().into_body();
    assert!(body.frame().await.unwrap().unwrap().is_data());
    body
}

#[tokio::test(flavor = "current_thread")]
async fn routes_chosen_by_template_end_at_their_headers() {
    let t = Telemetry::install();
    let app = Router::new()
        .route("/events/{topic}", get(|| async { event_stream() }))
        .route("/other", get(|| async { event_stream() }))
        .layer(HttpServerLayer::new().end_at_headers_on_routes(["/events/{topic}"]));
    let addr = serve(app).await;
    let events = first_frame(addr, "/events/news").await;
    let spans = t.wait_for(1).await;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "GET /events/{topic}");
    // Another route's stream keeps its span open until its body ends.
    let other = first_frame(addr, "/other").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(t.spans().len(), 1, "/other is still open");
    drop((events, other));
}

#[tokio::test(flavor = "current_thread")]
async fn a_handler_can_end_its_span_at_the_headers() {
    use tracewire_http::server::EndAtHeaders;
    let t = Telemetry::install();
    let app = Router::new()
        .route(
            "/events",
            get(|| async {
                let mut response = event_stream();
                response.extensions_mut().insert(EndAtHeaders);
                response
            }),
        )
        .layer(HttpServerLayer::new());
    let addr = serve(app).await;
    let body = first_frame(addr, "/events").await;
    let spans = t.wait_for(1).await;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].status, Status::Unset);
    drop(body);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        t.spans()[0].status,
        Status::Unset,
        "the drop is not recorded"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_connect_tunnel_ends_its_span_when_it_is_answered() {
    let t = Telemetry::install();
    let svc = ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service_fn(|request: Request<Body>| async move {
            // A proxy answers 200 and the tunnel's bytes follow; a refusal has a body.
            let mut response = event_stream();
            if request.uri().authority().map(|a| a.as_str()) == Some("refused.example:443") {
                *response.status_mut() = http::StatusCode::FORBIDDEN;
            }
            Ok::<_, Infallible>(response)
        });
    let connect = |authority: &str| Request::connect(authority).body(Body::empty()).unwrap();
    let open = svc
        .clone()
        .oneshot(connect("db.example:443"))
        .await
        .unwrap();
    assert_eq!(t.spans().len(), 1, "ended with the 200");
    assert_eq!(t.spans()[0].name, "CONNECT");
    let refused = svc.oneshot(connect("refused.example:443")).await.unwrap();
    assert_eq!(t.spans().len(), 1, "a refusal's body is part of the call");
    drop((open, refused));
}

#[tokio::test(flavor = "current_thread")]
async fn a_websocket_upgrade_through_axum_ends_its_span_when_it_is_answered() {
    use axum::extract::ws::WebSocketUpgrade;
    use futures_util::{SinkExt, StreamExt};

    let t = Telemetry::install();
    let app = Router::new()
        .route(
            "/ws",
            get(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    while let Some(Ok(message)) = socket.recv().await {
                        if socket.send(message).await.is_err() {
                            break;
                        }
                    }
                })
            }),
        )
        .layer(HttpServerLayer::new());
    let addr = serve(app).await;
    let (mut socket, response) = tokio_tungstenite::client_async(
        format!("ws://{addr}/ws"),
        tokio::net::TcpStream::connect(addr).await.unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    // The span has ended with the 101, while the connection is open and in use.
    let spans = t.wait_for(1).await;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "GET /ws");
    assert_eq!(
        attr(&spans[0], "http.response.status_code"),
        Some(&opentelemetry::Value::I64(101))
    );
    assert_eq!(spans[0].status, Status::Unset);
    socket
        .send(tokio_tungstenite::tungstenite::Message::text("ping"))
        .await
        .unwrap();
    let echoed = socket.next().await.unwrap().unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "ping");
    socket.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let spans = t.spans();
    assert_eq!(spans.len(), 1, "nothing more");
    assert_eq!(spans[0].status, Status::Unset, "closing is not an error");
}

// ---- http.route when the layer is outside the Router -------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn the_route_is_recorded_when_the_layer_is_outside_the_router() {
    use tracewire_http::server::RecordRoute;
    let t = Telemetry::install();
    let router = || {
        Router::new()
            .route("/users/{id}", get(|| async { "alice" }))
            .layer(RecordRoute::new())
    };
    let bridged = ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service(router());
    let direct = ServiceBuilder::new()
        .layer(HttpServerLayer::new().tracer_provider(&t.provider))
        .service(router());
    for response in [
        bridged
            .oneshot(Request::get("/users/7").body(Body::empty()).unwrap())
            .await
            .unwrap(),
        direct
            .oneshot(Request::get("/users/8").body(Body::empty()).unwrap())
            .await
            .unwrap(),
    ] {
        response.into_body().collect().await.unwrap();
    }
    // Without it, the span has no route and is named by the method alone.
    ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service(Router::new().route("/users/{id}", get(|| async { "bob" })))
        .oneshot(Request::get("/users/9").body(Body::empty()).unwrap())
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    let spans = t.wait_for(3).await;
    assert_eq!(spans.len(), 3);
    for span in &spans[..2] {
        assert_eq!(span.name, "GET /users/{id}");
        assert_eq!(attr_str(span, "http.route").as_deref(), Some("/users/{id}"));
    }
    assert_eq!(spans[2].name, "GET");
    assert_eq!(attr(&spans[2], "http.route"), None);
}
