//! The client layer around hyper-util's client, against real servers on 127.0.0.1:0.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, Status};
use tower::{Service, ServiceBuilder, ServiceExt};
use tracewire_http::client::HttpClientLayer;
use tracewire_http::server::HttpServerLayer;
use tracewire_tests::*;

/// Echoes the trace headers it received, one per line.
async fn echo(headers: HeaderMap) -> String {
    ["traceparent", "tracestate", "baggage"]
        .iter()
        .map(|k| {
            format!(
                "{k}={}",
                headers.get(*k).map_or("", |v| v.to_str().unwrap_or("?"))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn downstream() -> Router {
    Router::new()
        .route("/echo", get(echo))
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move { StatusCode::from_u16(code).unwrap() }),
        )
        .route(
            "/sleep",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                "late"
            }),
        )
        .route(
            "/stream",
            get(|| async { axum::body::Body::new(SlowBody::new(3, Duration::from_millis(60))) }),
        )
}

fn line<'a>(body: &'a str, key: &str) -> &'a str {
    body.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or("")
}

/// A remote parent, as a server would have extracted it.
fn parent(flags: &str) -> opentelemetry::Context {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", traceparent(flags).parse().unwrap());
    headers.insert(
        "tracestate",
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7".parse().unwrap(),
    );
    headers.insert("baggage", "tenant=acme,internal=secret".parse().unwrap());
    tracewire_propagation::Propagator::new()
        .extract(&headers)
        .into_context(&opentelemetry::Context::new())
}

async fn call<S>(mut client: S, uri: String, cx: opentelemetry::Context) -> Result<String, S::Error>
where
    S: Service<
            Request<Empty<Bytes>>,
            Response = http::Response<tracewire_http::client::ResponseBody<hyper::body::Incoming>>,
        >,
{
    client.ready().await?;
    // The layer reads the current context when the request is sent, as inside a handler.
    let future = {
        let _guard = cx.clone().attach();
        client.call(Request::get(uri).body(Empty::new()).unwrap())
    };
    let response = future.with_context(cx.clone()).await?;
    let body = response
        .into_body()
        .collect()
        .with_context(cx)
        .await
        .unwrap()
        .to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "current_thread")]
async fn injects_our_span_and_passes_tracestate_but_not_baggage_by_default() {
    let t = Telemetry::install();
    let addr = serve(downstream()).await;
    let client = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service(client());
    let body = call(
        client,
        format!("http://{addr}/echo?sig=secret"),
        parent("01"),
    )
    .await
    .unwrap();
    let spans = t.wait_for(1).await;
    let span = &spans[0];
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.name, "GET");
    assert_eq!(span.span_context.trace_id().to_string(), TRACE);
    assert_eq!(span.parent_span_id.to_string(), SPAN);
    assert_eq!(
        line(&body, "traceparent"),
        format!("00-{TRACE}-{}-01", span.span_context.span_id())
    );
    assert_eq!(
        line(&body, "tracestate"),
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    );
    assert_eq!(line(&body, "baggage"), "", "no baggage unless allowed");
    assert_client_span(span, addr, "/echo?sig=REDACTED");
}

#[tokio::test(flavor = "current_thread")]
async fn baggage_goes_where_it_is_allowed_unchanged() {
    let _t = Telemetry::install();
    let addr = serve(downstream()).await;
    let allowed = ServiceBuilder::new()
        .layer(
            HttpClientLayer::new()
                .send_baggage_to(|uri: &http::Uri| uri.host() == Some("127.0.0.1")),
        )
        .service(client());
    let body = call(allowed, format!("http://{addr}/echo"), parent("01"))
        .await
        .unwrap();
    assert_eq!(line(&body, "baggage"), "tenant=acme,internal=secret");
    let elsewhere = ServiceBuilder::new()
        .layer(
            HttpClientLayer::new()
                .send_baggage_to(|uri: &http::Uri| uri.host() == Some("partner.example")),
        )
        .service(client());
    let body = call(elsewhere, format!("http://{addr}/echo"), parent("01"))
        .await
        .unwrap();
    assert_eq!(line(&body, "baggage"), "");
    assert!(line(&body, "traceparent").starts_with(&format!("00-{TRACE}-")));
}

#[tokio::test(flavor = "current_thread")]
async fn unsampled_parent_stays_unsampled() {
    let t = Telemetry::install();
    let addr = serve(downstream()).await;
    let client = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service(client());
    let body = call(client, format!("http://{addr}/echo"), parent("02"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(t.spans().is_empty());
    let sent = tracewire_propagation::traceparent::TraceParent::parse(
        line(&body, "traceparent").as_bytes(),
    )
    .unwrap();
    assert_eq!(sent.trace_id().to_string(), TRACE);
    assert_ne!(
        sent.span_id().to_string(),
        SPAN,
        "each request its own parent id"
    );
    assert!(!sent.is_sampled() && sent.is_random());
}

#[tokio::test(flavor = "current_thread")]
async fn client_and_server_errors_are_errors_on_the_client() {
    let t = Telemetry::install();
    let addr = serve(downstream()).await;
    for code in [404, 503] {
        let client = ServiceBuilder::new()
            .layer(HttpClientLayer::new())
            .service(client());
        call(client, format!("http://{addr}/status/{code}"), parent("01"))
            .await
            .unwrap();
    }
    let spans = t.wait_for(2).await;
    for (span, code) in spans.iter().zip(["404", "503"]) {
        assert!(matches!(span.status, Status::Error { .. }), "{code}");
        assert_eq!(attr_str(span, "error.type").as_deref(), Some(code));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn transport_errors_and_timeouts() {
    let t = Telemetry::install();
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let client_svc = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service(client());
    assert!(
        call(client_svc, format!("http://{closed}/x"), parent("01"))
            .await
            .is_err()
    );
    let addr = serve(downstream()).await;
    let timing_out = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(50)))
        .service(client());
    assert!(
        call(timing_out, format!("http://{addr}/sleep"), parent("01"))
            .await
            .is_err()
    );
    let spans = t.wait_for(2).await;
    let connect = &spans[0];
    assert_eq!(attr_str(connect, "error.type").as_deref(), Some("connect"));
    assert!(matches!(connect.status, Status::Error { .. }));
    assert!(connect.events.iter().any(|e| e.name == "exception"));
    assert_eq!(
        attr_str(&spans[1], "error.type").as_deref(),
        Some("timeout")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn span_covers_a_streamed_body_and_cancellation_is_not_an_error() {
    let t = Telemetry::install();
    let addr = serve(downstream()).await;
    let client_svc = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service(client());
    let body = call(client_svc, format!("http://{addr}/stream"), parent("01"))
        .await
        .unwrap();
    assert_eq!(body, "chunk\n".repeat(3));
    let spans = t.wait_for(1).await;
    let duration = spans[0]
        .end_time
        .duration_since(spans[0].start_time)
        .unwrap();
    assert!(duration >= Duration::from_millis(170), "{duration:?}");

    // A caller that gives up.
    let client_svc = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service(client());
    let _ = tokio::time::timeout(
        Duration::from_millis(50),
        call(client_svc, format!("http://{addr}/sleep"), parent("01")),
    )
    .await;
    let spans = t.wait_for(2).await;
    let cancelled = &spans[1];
    assert!(
        cancelled
            .events
            .iter()
            .any(|e| e.name == "http.request.cancelled")
    );
    assert_eq!(cancelled.status, Status::Unset);
}

#[tokio::test(flavor = "current_thread")]
async fn credentials_are_redacted_from_url_full() {
    let t = Telemetry::install();
    let addr = serve(downstream()).await;
    let client_svc = ServiceBuilder::new()
        .layer(HttpClientLayer::new().redact_query_params(["token"]))
        .service(client());
    let uri = format!("http://user:password@{addr}/echo?token=abc&page=2");
    let _ = call(client_svc, uri, parent("01")).await;
    let spans = t.wait_for(1).await;
    assert_eq!(
        attr_str(&spans[0], "url.full").as_deref(),
        Some(format!("http://REDACTED:REDACTED@{addr}/echo?token=REDACTED&page=2").as_str())
    );
}

#[tokio::test(flavor = "current_thread")]
async fn server_to_client_to_server_is_one_trace_in_both_modes() {
    for direct in [false, true] {
        let t = Telemetry::install();
        // The two modes are two layer types (a direct layer has no `make_span_with`).
        if direct {
            one_trace_through(
                &t,
                HttpServerLayer::new().tracer_provider(&t.provider),
                HttpClientLayer::new().tracer_provider(&t.provider),
                direct,
            )
            .await;
        } else {
            one_trace_through(&t, HttpServerLayer::new(), HttpClientLayer::new(), direct).await;
        }
    }
}

async fn one_trace_through<M>(
    t: &Telemetry,
    server_layer: HttpServerLayer<M>,
    client_layer: HttpClientLayer,
    direct: bool,
) where
    M: tracewire_http::hooks::MakeSpan<axum::body::Body> + Clone + Send + Sync + 'static,
{
    {
        let downstream_addr = serve(
            Router::new()
                .route("/echo", get(echo))
                .layer(HttpServerLayer::new()),
        )
        .await;
        let upstream = Router::new()
            .route(
                "/front",
                get(move || {
                    get_through(
                        client_layer.clone(),
                        format!("http://{downstream_addr}/echo"),
                    )
                }),
            )
            .layer(server_layer);
        let addr = serve(upstream).await;
        fetch(
            addr,
            "/front",
            &[("traceparent", traceparent("01").as_bytes())],
        )
        .await;
        let spans = t.wait_for(3).await;
        assert_eq!(spans.len(), 3, "direct={direct}");
        let front = spans.iter().find(|s| s.name == "GET /front").unwrap();
        let client_span = spans
            .iter()
            .find(|s| s.span_kind == SpanKind::Client)
            .unwrap();
        let back = spans.iter().find(|s| s.name == "GET /echo").unwrap();
        assert!(
            spans
                .iter()
                .all(|s| s.span_context.trace_id().to_string() == TRACE)
        );
        assert_eq!(front.parent_span_id.to_string(), SPAN);
        assert_eq!(
            client_span.parent_span_id,
            front.span_context.span_id(),
            "direct={direct}"
        );
        assert_eq!(
            back.parent_span_id,
            client_span.span_context.span_id(),
            "direct={direct}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn context_flows_when_the_subscriber_filters_the_spans_out() {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::prelude::*;

    // The OpenTelemetry layer sees only warnings: our INFO spans never reach it.
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry().with(
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("filtered"))
            .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
    );
    let _guard = tracing::subscriber::set_default(subscriber);

    let downstream_addr = serve(Router::new().route("/echo", get(echo))).await;
    let upstream = Router::new()
        .route(
            "/front",
            get(move || {
                get_through(
                    HttpClientLayer::new(),
                    format!("http://{downstream_addr}/echo"),
                )
            }),
        )
        .layer(HttpServerLayer::new());
    let addr = serve(upstream).await;
    let (_, body) = fetch(
        addr,
        "/front",
        &[("traceparent", traceparent("01").as_bytes())],
    )
    .await;
    // No spans were made, and the downstream call still continues the caller's trace,
    // attached to the caller's span.
    assert!(exporter.get_finished_spans().unwrap().is_empty());
    assert_eq!(line(&body, "traceparent"), traceparent("01"));
}
