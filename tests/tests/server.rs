//! The server layer on real axum and hyper servers, spans asserted through the SDK's
//! in-memory exporter.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use opentelemetry::Value;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt};
use opentelemetry_sdk::trace::Sampler;
use tracewire_http::hooks::RequestSpan;
use tracewire_http::server::{
    HttpServerLayer, PeerAddr, ResponseHeader, SkipHealthChecks, TrustPolicy,
};
use tracewire_tests::*;

async fn user(Extension(cx): Extension<opentelemetry::Context>) -> String {
    tracing::info!("loading user");
    // The handler sees the request's context both ways.
    assert_eq!(
        cx.span().span_context().trace_id(),
        opentelemetry::Context::current()
            .span()
            .span_context()
            .trace_id()
    );
    outgoing_traceparent()
}

fn router<L>(layer: L) -> Router
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service: tower::Service<Request<Body>> + Clone + Send + Sync + 'static,
    <L::Service as tower::Service<Request<Body>>>::Response: axum::response::IntoResponse + 'static,
    <L::Service as tower::Service<Request<Body>>>::Error: Into<Infallible> + 'static,
    <L::Service as tower::Service<Request<Body>>>::Future: Send + 'static,
{
    Router::new()
        .route("/users/{id}", get(user))
        .route("/health", get(user))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .layer(layer)
}

#[tokio::test(flavor = "current_thread")]
async fn child_of_the_incoming_context() {
    let t = Telemetry::install();
    let addr = serve(router(HttpServerLayer::new())).await;
    let (resp, body) = fetch(
        addr,
        "/users/7",
        &[("traceparent", traceparent("01").as_bytes())],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let spans = t.wait_for(1).await;
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.span_context.trace_id().to_string(), TRACE);
    assert_eq!(span.parent_span_id.to_string(), SPAN);
    // The handler's downstream calls are children of the server span.
    assert_eq!(
        body,
        format!("00-{TRACE}-{}-01", span.span_context.span_id())
    );
}

#[tokio::test(flavor = "current_thread")]
async fn root_without_incoming_context() {
    let t = Telemetry::install();
    let addr = serve(router(HttpServerLayer::new())).await;
    let (_, body) = fetch(addr, "/users/7", &[]).await;
    let spans = t.wait_for(1).await;
    assert_eq!(spans.len(), 1);
    assert_eq!(
        spans[0].parent_span_id,
        opentelemetry::trace::SpanId::INVALID
    );
    assert!(spans[0].span_context.is_sampled());
    assert!(body.contains(&spans[0].span_context.trace_id().to_string()));
}

#[tokio::test(flavor = "current_thread")]
async fn unsampled_incoming_context_stays_unsampled_and_costs_no_span() {
    let t = Telemetry::install();
    let addr = serve(router(HttpServerLayer::new())).await;
    let (resp, body) = fetch(
        addr,
        "/users/7",
        &[("traceparent", traceparent("02").as_bytes())],
    )
    .await;
    assert_eq!(resp.status(), 200);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(t.spans().is_empty(), "no span for an unsampled request");
    // Downstream: same trace, our own span id, unsampled, random flag kept.
    let sent = tracewire_propagation::traceparent::TraceParent::parse(body.as_bytes()).unwrap();
    assert_eq!(sent.trace_id().to_string(), TRACE);
    assert_ne!(sent.span_id().to_string(), SPAN);
    assert!(!sent.is_sampled());
    assert!(sent.is_random());
    // Logs stay correlated.
    assert!(
        t.logs().contains(&format!("trace_id={TRACE}")),
        "{}",
        t.logs()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn attributes_follow_the_conventions() {
    let t = Telemetry::install();
    let addr = serve(router(HttpServerLayer::new())).await;
    fetch(
        addr,
        "/users/7?sig=secret&page=2",
        &[
            ("traceparent", traceparent("01").as_bytes()),
            ("user-agent", b"tests/1.0"),
        ],
    )
    .await;
    let spans = t.wait_for(1).await;
    let s = &spans[0];
    assert_eq!(attr_str(s, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(attr_str(s, "http.route").as_deref(), Some("/users/{id}"));
    assert_eq!(attr_str(s, "url.path").as_deref(), Some("/users/7"));
    assert_eq!(
        attr_str(s, "url.query").as_deref(),
        Some("sig=REDACTED&page=2")
    );
    assert_eq!(attr_str(s, "url.scheme").as_deref(), Some("http"));
    assert_eq!(attr_str(s, "server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(
        attr(s, "server.port"),
        Some(&Value::I64(i64::from(addr.port())))
    );
    assert_eq!(attr_str(s, "client.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(
        attr_str(s, "network.peer.address").as_deref(),
        Some("127.0.0.1")
    );
    assert!(matches!(attr(s, "network.peer.port"), Some(Value::I64(_))));
    assert_eq!(
        attr_str(s, "network.protocol.version").as_deref(),
        Some("1.1")
    );
    assert_eq!(
        attr_str(s, "user_agent.original").as_deref(),
        Some("tests/1.0")
    );
    // Integers reach the exporter as integers.
    assert_eq!(attr(s, "http.response.status_code"), Some(&Value::I64(200)));
    assert_eq!(attr(s, "error.type"), None);
    assert_eq!(s.status, Status::Unset);
}

#[tokio::test(flavor = "current_thread")]
async fn unknown_method_is_other() {
    let t = Telemetry::install();
    let app = Router::new()
        .fallback(|| async { "ok" })
        .layer(HttpServerLayer::new());
    let addr = serve(app).await;
    let req = Request::builder()
        .method("PURGE")
        .uri(format!("http://{addr}/x"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    client()
        .request(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    let spans = t.wait_for(1).await;
    assert_eq!(spans[0].name, "HTTP");
    assert_eq!(
        attr_str(&spans[0], "http.request.method").as_deref(),
        Some("_OTHER")
    );
    assert_eq!(
        attr_str(&spans[0], "http.request.method_original").as_deref(),
        Some("PURGE")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn server_errors_are_errors_client_errors_are_not() {
    let t = Telemetry::install();
    let addr = serve(router(HttpServerLayer::new())).await;
    fetch(addr, "/missing", &[]).await;
    fetch(addr, "/boom", &[]).await;
    let spans = t.wait_for(2).await;
    let missing = spans.iter().find(|s| s.name == "GET /missing").unwrap();
    let boom = spans.iter().find(|s| s.name == "GET /boom").unwrap();
    assert_eq!(missing.status, Status::Unset);
    assert_eq!(
        attr(missing, "http.response.status_code"),
        Some(&Value::I64(404))
    );
    assert_eq!(attr(missing, "error.type"), None);
    assert!(matches!(boom.status, Status::Error { .. }));
    assert_eq!(attr_str(boom, "error.type").as_deref(), Some("500"));
}

fn slow_body(chunks: usize, delay: Duration) -> Body {
    Body::new(SlowBody::new(chunks, delay))
}

#[tokio::test(flavor = "current_thread")]
async fn streaming_body_ends_the_span_after_the_last_chunk() {
    let t = Telemetry::install();
    let app = Router::new()
        .route(
            "/stream",
            get(|| async { slow_body(3, Duration::from_millis(60)) }),
        )
        .layer(HttpServerLayer::new());
    let addr = serve(app).await;
    let (_, body) = fetch(addr, "/stream", &[]).await;
    assert_eq!(body, "chunk\n".repeat(3));
    let spans = t.wait_for(1).await;
    let span = &spans[0];
    let duration = span.end_time.duration_since(span.start_time).unwrap();
    assert!(
        duration >= Duration::from_millis(170),
        "span lasted {duration:?}"
    );
    assert!(
        span.events
            .iter()
            .all(|e| e.name != "http.response.body.dropped")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn client_that_goes_away_mid_stream_is_recorded() {
    let t = Telemetry::install();
    let app = Router::new()
        .route(
            "/stream",
            get(|| async { slow_body(1000, Duration::from_millis(10)) }),
        )
        .layer(HttpServerLayer::new());
    let addr = serve(app).await;
    {
        let req = Request::get(format!("http://{addr}/stream"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let mut body = client().request(req).await.unwrap().into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert!(first.is_data());
        // Dropping the body closes the connection.
    }
    let spans = t.wait_for(1).await;
    assert_eq!(spans.len(), 1);
    assert!(
        spans[0]
            .events
            .iter()
            .any(|e| e.name == "http.response.body.dropped")
    );
    // The response could not be sent completely: an error of the server span (the HTTP
    // conventions), with a low-cardinality `error.type`.
    assert!(matches!(spans[0].status, Status::Error { .. }));
    assert_eq!(
        attr_str(&spans[0], "error.type").as_deref(),
        Some("body_dropped")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn filtered_requests_get_no_span_but_keep_the_context() {
    let t = Telemetry::install();
    let addr = serve(router(
        HttpServerLayer::new().filter(SkipHealthChecks::new()),
    ))
    .await;
    let (_, body) = fetch(
        addr,
        "/health",
        &[("traceparent", traceparent("01").as_bytes())],
    )
    .await;
    fetch(addr, "/users/1", &[]).await;
    let spans = t.wait_for(1).await;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "GET /users/{id}");
    // The health handler's downstream call still continues the caller's trace.
    assert_eq!(body, traceparent("01"));
}

#[tokio::test(flavor = "current_thread")]
async fn trust_policy_new_root_links_the_caller() {
    let t = Telemetry::install();
    let addr = serve(router(
        HttpServerLayer::new().trust_policy(TrustPolicy::NewRoot),
    ))
    .await;
    fetch(
        addr,
        "/users/1",
        &[("traceparent", traceparent("01").as_bytes())],
    )
    .await;
    let spans = t.wait_for(1).await;
    let span = &spans[0];
    assert_ne!(span.span_context.trace_id().to_string(), TRACE);
    assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert_eq!(span.links.links.len(), 1);
    assert_eq!(
        span.links.links[0].span_context.trace_id().to_string(),
        TRACE
    );
    assert_eq!(span.links.links[0].span_context.span_id().to_string(), SPAN);
}

#[tokio::test(flavor = "current_thread")]
async fn trust_policy_own_sampling_ignores_the_callers_flag() {
    let t = Telemetry::install();
    // Caller says sampled, we say no: no span, and downstream sees unsampled.
    let never = HttpServerLayer::new()
        .trust_policy(TrustPolicy::OwnSampling)
        .sampler(Sampler::AlwaysOff);
    let addr = serve(router(never)).await;
    let (_, body) = fetch(
        addr,
        "/users/1",
        &[("traceparent", traceparent("01").as_bytes())],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(t.spans().is_empty());
    assert!(
        body.starts_with(&format!("00-{TRACE}-")) && body.ends_with("-00"),
        "{body}"
    );

    // Caller says unsampled, we sample: a span in the caller's trace.
    let always = HttpServerLayer::new()
        .trust_policy(TrustPolicy::OwnSampling)
        .sampler(Sampler::AlwaysOn);
    let addr = serve(router(always)).await;
    let (_, body) = fetch(
        addr,
        "/users/1",
        &[("traceparent", traceparent("00").as_bytes())],
    )
    .await;
    let spans = t.wait_for(1).await;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].span_context.trace_id().to_string(), TRACE);
    assert_eq!(spans[0].parent_span_id.to_string(), SPAN);
    assert!(body.ends_with("-01"));
}

#[tokio::test(flavor = "current_thread")]
async fn default_trust_follows_the_callers_decision() {
    let t = Telemetry::install();
    let addr = serve(router(
        HttpServerLayer::new().sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff))),
    ))
    .await;
    fetch(
        addr,
        "/users/1",
        &[("traceparent", traceparent("01").as_bytes())],
    )
    .await;
    fetch(addr, "/users/1", &[]).await;
    let spans = t.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(t.spans().len(), 1, "sampled parent followed, root dropped");
    assert_eq!(spans[0].span_context.trace_id().to_string(), TRACE);
}

#[tokio::test(flavor = "current_thread")]
async fn response_headers_tell_the_trace_and_never_echo_baggage() {
    let t = Telemetry::install();
    let addr = serve(router(
        HttpServerLayer::new().response_header(ResponseHeader::TraceResponse),
    ))
    .await;
    let (resp, _) = fetch(
        addr,
        "/users/1",
        &[
            ("traceparent", traceparent("01").as_bytes()),
            ("tracestate", b"congo=1"),
            ("baggage", b"secret=1"),
        ],
    )
    .await;
    let spans = t.wait_for(1).await;
    let expected = format!("00-{TRACE}-{}-01", spans[0].span_context.span_id());
    assert_eq!(resp.headers()["traceresponse"], expected.as_str());
    assert!(resp.headers().get("baggage").is_none());
    assert!(resp.headers().get("tracestate").is_none());

    let named = HttpServerLayer::new().response_header(ResponseHeader::TraceId(
        http::HeaderName::from_static("x-trace-id"),
    ));
    let addr = serve(router(named)).await;
    // Unsampled requests get the header too.
    let (resp, _) = fetch(
        addr,
        "/users/1",
        &[("traceparent", traceparent("00").as_bytes())],
    )
    .await;
    assert_eq!(resp.headers()["x-trace-id"], TRACE);
}

#[tokio::test(flavor = "current_thread")]
async fn captured_headers_are_redacted() {
    let t = Telemetry::install();
    let layer = HttpServerLayer::new()
        .capture_request_headers(["x-request-id", "Authorization", "cookie"])
        .capture_response_headers(["content-type"]);
    let addr = serve(router(layer)).await;
    fetch(
        addr,
        "/users/1",
        &[
            ("x-request-id", b"abc"),
            ("authorization", b"Bearer secret"),
            ("cookie", b"s=1"),
        ],
    )
    .await;
    let spans = t.wait_for(1).await;
    let s = &spans[0];
    let array = |key: &str| match attr(s, key) {
        Some(Value::Array(opentelemetry::Array::String(v))) => {
            v.iter().map(|s| s.as_str().to_owned()).collect::<Vec<_>>()
        }
        other => panic!("{key}: {other:?}"),
    };
    assert_eq!(array("http.request.header.x-request-id"), ["abc"]);
    assert_eq!(array("http.request.header.authorization"), ["REDACTED"]);
    assert_eq!(array("http.request.header.cookie"), ["REDACTED"]);
    assert_eq!(
        array("http.response.header.content-type"),
        ["text/plain; charset=utf-8"]
    );
    assert!(!format!("{:?}", s.attributes).contains("secret"));
}

#[tokio::test(flavor = "current_thread")]
async fn bad_trace_headers_never_break_a_request() {
    let t = Telemetry::install();
    let addr = serve(router(HttpServerLayer::new())).await;
    let long = vec![b'a'; 16 * 1024];
    let mut non_utf8 = traceparent("01").into_bytes();
    non_utf8[5] = 0xff;
    let valid = traceparent("01");
    let upper = format!("00-{}-{SPAN}-01", TRACE.to_uppercase());
    let cases: Vec<Vec<(&str, &[u8])>> = vec![
        vec![("traceparent", b"garbage")],
        vec![
            ("traceparent", valid.as_bytes()),
            ("traceparent", valid.as_bytes()),
        ],
        vec![
            ("traceparent", &long),
            ("tracestate", &long),
            ("baggage", &long),
        ],
        vec![("traceparent", &non_utf8), ("baggage", b"\xff\xfe=1")],
        vec![("traceparent", upper.as_bytes())],
    ];
    let n = cases.len();
    for headers in &cases {
        let (resp, _) = fetch(addr, "/users/1", headers).await;
        assert_eq!(resp.status(), 200);
    }
    let spans = t.wait_for(n).await;
    assert_eq!(spans.len(), n);
    for span in spans {
        assert_eq!(
            span.parent_span_id,
            opentelemetry::trace::SpanId::INVALID,
            "a new root"
        );
        assert_ne!(span.span_context.trace_id().to_string(), TRACE);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn plain_hyper_service() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceBuilder;

    let t = Telemetry::install();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let service = ServiceBuilder::new()
                .map_request(move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(PeerAddr(peer));
                    req
                })
                .layer(HttpServerLayer::new())
                .service_fn(|_req: Request<hyper::body::Incoming>| async {
                    Ok::<_, Infallible>(Response::new(http_body_util::Full::new(Bytes::from(
                        outgoing_traceparent(),
                    ))))
                });
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                    .await;
            });
        }
    });
    let (_, body) = fetch(
        addr,
        "/plain",
        &[("traceparent", traceparent("01").as_bytes())],
    )
    .await;
    let spans = t.wait_for(1).await;
    assert_eq!(spans[0].name, "GET");
    assert_eq!(spans[0].parent_span_id.to_string(), SPAN);
    assert_eq!(
        attr_str(&spans[0], "client.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        body,
        format!("00-{TRACE}-{}-01", spans[0].span_context.span_id())
    );
}

#[tokio::test(flavor = "current_thread")]
async fn inner_service_error_is_an_exception() {
    use tower::{Service, ServiceBuilder, ServiceExt};

    let t = Telemetry::install();
    let mut svc = ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service_fn(|_req: Request<Empty<Bytes>>| async {
            Err::<Response<Empty<Bytes>>, _>(std::io::Error::other("database unreachable"))
        });
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(Request::new(Empty::new()))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "database unreachable");
    let spans = t.spans();
    assert_eq!(spans.len(), 1);
    assert!(matches!(spans[0].status, Status::Error { .. }));
    assert_eq!(
        attr_str(&spans[0], "error.type").as_deref(),
        Some("std::io::error::Error")
    );
    let event = spans[0]
        .events
        .iter()
        .find(|e| e.name == "exception")
        .unwrap();
    assert!(
        event
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "exception.message"
                && kv.value.as_str() == "database unreachable")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn logs_inside_the_handler_carry_the_trace() {
    let t = Telemetry::install();
    let addr = serve(router(HttpServerLayer::new())).await;
    fetch(
        addr,
        "/users/1",
        &[("traceparent", traceparent("01").as_bytes())],
    )
    .await;
    let spans = t.wait_for(1).await;
    let logs = t.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("loading user"))
        .expect(&logs);
    assert!(
        line.starts_with(&format!(
            "trace_id={TRACE} span_id={}",
            spans[0].span_context.span_id()
        )),
        "{line}"
    );
    // The log event is also recorded on the exported span.
    assert!(spans[0].events.iter().any(|e| e.name == "loading user"));
}

#[tokio::test(flavor = "current_thread")]
async fn hooks_rename_and_add_attributes() {
    let t = Telemetry::install();
    let layer = HttpServerLayer::new()
        .make_span_with(
            |_req: &Request<Body>, info: &tracewire_http::server::RequestInfo<'_>| {
                let span = info.default_span();
                span.record("otel.name", format!("api {}", info.name()));
                span
            },
        )
        .on_response(
            |resp: &Response<Body>, _latency: Duration, span: &RequestSpan<'_>| {
                span.set_attribute(opentelemetry::KeyValue::new(
                    "app.status_class",
                    format!("{}xx", resp.status().as_u16() / 100),
                ));
            },
        );
    let app = Router::new()
        .route("/users/{id}", get(|| async { "x" }))
        .layer(layer);
    let addr = serve(app).await;
    fetch(addr, "/users/1", &[]).await;
    let spans = t.wait_for(1).await;
    assert_eq!(spans[0].name, "api GET /users/{id}");
    assert_eq!(
        attr_str(&spans[0], "app.status_class").as_deref(),
        Some("2xx")
    );
}

// ---- the direct mode: spans made with the tracer provider, no `tracing` span --------------

async fn handler_with_child_span() -> String {
    tracing::info!(user = 7, "loading user");
    tracing::info_span!("db query").in_scope(|| tracing::info!("querying"));
    outgoing_traceparent()
}

#[tokio::test(flavor = "current_thread")]
async fn direct_mode_span_has_the_same_shape() {
    let t = Telemetry::install();
    let app = Router::new()
        .route("/users/{id}", get(handler_with_child_span))
        .route("/boom", get(|| async { StatusCode::BAD_GATEWAY }))
        .layer(HttpServerLayer::new().tracer_provider(&t.provider));
    let addr = serve(app).await;
    let (_, body) = fetch(
        addr,
        "/users/7?sig=x",
        &[("traceparent", traceparent("01").as_bytes())],
    )
    .await;
    fetch(addr, "/boom", &[]).await;
    let spans = t.wait_for(3).await;
    let server = spans
        .iter()
        .find(|s| s.name == "GET /users/{id}")
        .expect("server span");
    assert_eq!(server.span_kind, SpanKind::Server);
    assert_eq!(server.span_context.trace_id().to_string(), TRACE);
    assert_eq!(server.parent_span_id.to_string(), SPAN);
    assert_eq!(server.instrumentation_scope.name(), "tracewire-http");
    assert_eq!(
        attr(server, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(
        attr(server, "server.port"),
        Some(&Value::I64(i64::from(addr.port())))
    );
    assert_eq!(
        attr_str(server, "url.query").as_deref(),
        Some("sig=REDACTED")
    );
    assert_eq!(
        attr_str(server, "http.route").as_deref(),
        Some("/users/{id}")
    );
    assert_eq!(
        body,
        format!("00-{TRACE}-{}-01", server.span_context.span_id())
    );
    // A `tracing` span made in the handler is a child of the server span...
    let child = spans
        .iter()
        .find(|s| s.name == "db query")
        .expect("child span");
    assert_eq!(child.parent_span_id, server.span_context.span_id());
    assert_eq!(child.span_context.trace_id().to_string(), TRACE);
    // ...and a log event outside it is an event of the server span.
    let event = server
        .events
        .iter()
        .find(|e| e.name == "loading user")
        .expect("log event");
    assert!(
        event
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "user" && kv.value == Value::I64(7))
    );
    assert!(t.logs().contains(&format!(
        "trace_id={TRACE} span_id={}",
        server.span_context.span_id()
    )));
    let boom = spans.iter().find(|s| s.name == "GET /boom").unwrap();
    assert!(matches!(boom.status, Status::Error { .. }));
    assert_eq!(attr_str(boom, "error.type").as_deref(), Some("502"));
}

#[tokio::test(flavor = "current_thread")]
async fn direct_mode_times_the_body_and_records_early_drops() {
    let t = Telemetry::install();
    let app = Router::new()
        .route(
            "/slow",
            get(|| async { slow_body(3, Duration::from_millis(60)) }),
        )
        .route(
            "/endless",
            get(|| async { slow_body(1000, Duration::from_millis(10)) }),
        )
        .layer(HttpServerLayer::new().tracer_provider(&t.provider));
    let addr = serve(app).await;
    fetch(addr, "/slow", &[]).await;
    {
        let req = Request::get(format!("http://{addr}/endless"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let mut body = client().request(req).await.unwrap().into_body();
        body.frame().await.unwrap().unwrap();
    }
    let spans = t.wait_for(2).await;
    let slow = spans.iter().find(|s| s.name == "GET /slow").unwrap();
    let duration = slow.end_time.duration_since(slow.start_time).unwrap();
    assert!(duration >= Duration::from_millis(170), "{duration:?}");
    let endless = spans.iter().find(|s| s.name == "GET /endless").unwrap();
    assert!(
        endless
            .events
            .iter()
            .any(|e| e.name == "http.response.body.dropped")
    );
    assert!(matches!(endless.status, Status::Error { .. }));
    assert_eq!(
        attr_str(endless, "error.type").as_deref(),
        Some("body_dropped")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn direct_mode_hooks_and_unsampled_requests() {
    let t = Telemetry::install();
    let layer = HttpServerLayer::new()
        .tracer_provider(&t.provider)
        .on_response(
            |_resp: &Response<Body>, _latency: Duration, span: &RequestSpan<'_>| {
                assert!(span.tracing_span().is_none());
                span.set_name("renamed");
                span.set_attribute(opentelemetry::KeyValue::new("user.id", "u-1"));
            },
        );
    let addr = serve(router(layer)).await;
    fetch(addr, "/users/1", &[]).await;
    let (_, body) = fetch(
        addr,
        "/users/1",
        &[("traceparent", traceparent("00").as_bytes())],
    )
    .await;
    let spans = t.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(t.spans().len(), 1, "the unsampled request made no span");
    assert_eq!(spans[0].name, "renamed");
    assert_eq!(attr_str(&spans[0], "user.id").as_deref(), Some("u-1"));
    assert!(body.starts_with(&format!("00-{TRACE}-")) && body.ends_with("-00"));
}

#[tokio::test(flavor = "current_thread")]
async fn code_in_the_inner_services_call_sees_the_context() {
    use tower::{Service, ServiceBuilder, ServiceExt};

    let t = Telemetry::install();
    for (layer, sampled) in [
        (HttpServerLayer::new(), true),
        (HttpServerLayer::new().sampler(Sampler::AlwaysOff), false),
    ] {
        let mut svc =
            ServiceBuilder::new()
                .layer(layer)
                .service_fn(|_req: Request<Empty<Bytes>>| {
                    // Runs in `call`, before the future is polled.
                    let current = opentelemetry::Context::current();
                    let seen = current.span().span_context().clone();
                    async move {
                        Ok::<_, Infallible>(Response::new(Body::from(seen.trace_id().to_string())))
                    }
                });
        let request = Request::builder()
            .header("traceparent", traceparent("01"))
            .body(Empty::new())
            .unwrap();
        let response = svc.ready().await.unwrap().call(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, TRACE, "sampled: {sampled}");
    }
    assert_eq!(t.spans().len(), 1, "one sampled request");
}

#[derive(Clone)]
struct SeenInCall(String);

#[tokio::test(flavor = "current_thread")]
async fn layers_inside_ours_see_the_context_in_their_call() {
    // Under axum, the layer does not switch context around the route service's `call` (it
    // runs nothing); a layer added before ours still runs its `call` with the context current.
    let _t = Telemetry::install();
    for (layer, sampled) in [
        (HttpServerLayer::new(), true),
        (HttpServerLayer::new().sampler(Sampler::AlwaysOff), false),
    ] {
        let app = Router::new()
            .route(
                "/seen",
                get(|Extension(SeenInCall(id)): Extension<SeenInCall>| async move { id }),
            )
            .layer(tower::util::MapRequestLayer::new(
                |mut request: Request<Body>| {
                    // Runs in this layer's `call`.
                    let current = opentelemetry::Context::current();
                    let id = current.span().span_context().trace_id().to_string();
                    request.extensions_mut().insert(SeenInCall(id));
                    request
                },
            ))
            .layer(layer);
        let addr = serve(app).await;
        let (_, body) = fetch(
            addr,
            "/seen",
            &[("traceparent", traceparent("01").as_bytes())],
        )
        .await;
        assert_eq!(body, TRACE, "sampled: {sampled}");
    }
}
