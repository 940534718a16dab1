//! The HTTP layers in process, tower-http style: a layer around a `service_fn`, one
//! `oneshot` per request, spans read from the SDK's in-memory exporter. The socket end-to-end
//! tests (in `tests/`) cover the same layers on real connections.

use std::convert::Infallible;

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::{ServiceBuilder, ServiceExt};
use tracewire_core::provider::CallIdGenerator;
use tracewire_http::client::HttpClientLayer;
use tracewire_http::server::{HttpServerLayer, ResponseHeader, SkipHealthChecks};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A provider whose spans land in memory, for the direct mode (no subscriber needed).
fn provider() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(CallIdGenerator::new())
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// A handler answering `status`, which reports whether it saw a sampled context.
fn handler(
    status: StatusCode,
) -> impl tower::Service<
    Request<Full<bytes::Bytes>>,
    Response = Response<Full<bytes::Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    tower::service_fn(move |request: Request<Full<bytes::Bytes>>| async move {
        let in_extensions = request.extensions().get::<Context>().is_some();
        let sampled = Context::current().span().span_context().is_sampled();
        let body = format!("extensions={in_extensions} sampled={sampled}");
        Ok::<_, Infallible>(
            Response::builder()
                .status(status)
                .body(Full::from(body))
                .unwrap(),
        )
    })
}

fn get(path: &str, traceparent: Option<&str>) -> Request<Full<bytes::Bytes>> {
    let mut request = Request::get(path);
    if let Some(tp) = traceparent {
        request = request.header("traceparent", tp);
    }
    request.body(Full::default()).unwrap()
}

async fn body_of<B: http_body::Body>(response: Response<B>) -> String
where
    B::Error: std::fmt::Debug,
{
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test(flavor = "current_thread")]
async fn server_span_is_a_child_of_the_caller_with_its_attributes() {
    let (provider, exporter) = provider();
    let svc = ServiceBuilder::new()
        .layer(
            HttpServerLayer::new()
                .tracer_provider(&provider)
                .response_header(ResponseHeader::TraceResponse),
        )
        .service(handler(StatusCode::OK));
    let response = svc
        .oneshot(get("/users/7?sig=secret", Some(TRACEPARENT)))
        .await
        .unwrap();
    let traceresponse = response.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(body_of(response).await, "extensions=true sampled=true");
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.name, "GET");
    assert_eq!(
        span.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert_eq!(
        traceresponse,
        format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
            span.span_context.span_id()
        )
    );
    assert_eq!(attr(span, "http.request.method"), Some(&Value::from("GET")));
    assert_eq!(attr(span, "url.path"), Some(&Value::from("/users/7")));
    assert_eq!(attr(span, "url.query"), Some(&Value::from("sig=REDACTED")));
    assert_eq!(
        attr(span, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(span.status, Status::Unset);
}

#[tokio::test(flavor = "current_thread")]
async fn an_unsampled_caller_gets_no_span_but_its_context_flows() {
    let (provider, exporter) = provider();
    let svc = ServiceBuilder::new()
        .layer(HttpServerLayer::new().tracer_provider(&provider))
        .service(handler(StatusCode::OK));
    let unsampled = TRACEPARENT.replace("-01", "-00");
    let response = svc.oneshot(get("/", Some(&unsampled))).await.unwrap();
    assert_eq!(body_of(response).await, "extensions=true sampled=false");
    assert!(exporter.get_finished_spans().unwrap().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn server_errors_are_errors_and_client_errors_are_not() {
    let (provider, exporter) = provider();
    for status in [StatusCode::NOT_FOUND, StatusCode::BAD_GATEWAY] {
        let svc = ServiceBuilder::new()
            .layer(HttpServerLayer::new().tracer_provider(&provider))
            .service(handler(status));
        body_of(svc.oneshot(get("/", None)).await.unwrap()).await;
    }
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].status, Status::Unset);
    assert!(matches!(spans[1].status, Status::Error { .. }));
    assert_eq!(attr(&spans[1], "error.type"), Some(&Value::from("502")));
}

#[tokio::test(flavor = "current_thread")]
async fn health_checks_are_skipped_when_asked_and_a_dropped_body_is_an_error() {
    let (provider, exporter) = provider();
    let svc = ServiceBuilder::new()
        .layer(
            HttpServerLayer::new()
                .tracer_provider(&provider)
                .filter(SkipHealthChecks::new()),
        )
        .service(handler(StatusCode::OK));
    body_of(svc.clone().oneshot(get("/healthz", None)).await.unwrap()).await;
    assert!(exporter.get_finished_spans().unwrap().is_empty());
    // A response whose body is never sent.
    drop(svc.oneshot(get("/report", None)).await.unwrap());
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    assert!(matches!(spans[0].status, Status::Error { .. }));
    assert_eq!(
        attr(&spans[0], "error.type"),
        Some(&Value::from("body_dropped"))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn client_span_is_injected_and_ends_with_the_body() {
    let (provider, exporter) = provider();
    let backend = tower::service_fn(|request: Request<Full<bytes::Bytes>>| async move {
        let sent = request.headers()["traceparent"]
            .to_str()
            .unwrap()
            .to_owned();
        Ok::<_, Infallible>(
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .body(Full::<bytes::Bytes>::from(sent))
                .unwrap(),
        )
    });
    let client = ServiceBuilder::new()
        .layer(HttpClientLayer::new().tracer_provider(&provider))
        .service(backend);
    let parent = tracewire_propagation::Propagator::new().extract_context(
        &{
            let mut headers = http::HeaderMap::new();
            headers.insert("traceparent", TRACEPARENT.parse().unwrap());
            headers
        },
        &Context::new(),
    );
    // `oneshot` calls the service when polled: the parent must be current then.
    let response = client
        .oneshot(get("http://api.internal:8080/x", None))
        .with_context(parent)
        .await
        .unwrap();
    assert!(
        exporter.get_finished_spans().unwrap().is_empty(),
        "open until the body ends"
    );
    let sent = body_of(response).await;
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert_eq!(
        sent,
        format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
            span.span_context.span_id()
        )
    );
    assert_eq!(
        attr(span, "server.address"),
        Some(&Value::from("api.internal"))
    );
    assert_eq!(attr(span, "server.port"), Some(&Value::I64(8080)));
    assert!(matches!(span.status, Status::Error { .. }));
    assert_eq!(attr(span, "error.type"), Some(&Value::from("503")));
}
