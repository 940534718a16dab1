//! The gRPC layers in process, tower-http style: a layer around a `service_fn` that answers
//! as a gRPC server would, one `oneshot` per call, spans read from the SDK's in-memory
//! exporter. The end-to-end tests in `tests/` run the same layers on a real tonic server
//! and channel.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::{ServiceBuilder, ServiceExt};
use tracewire_core::provider::CallIdGenerator;
use tracewire_tonic::{GrpcClientLayer, GrpcServerLayer};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

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

/// A body of fixed frames: a message, then the trailers.
struct Frames(VecDeque<Frame<Bytes>>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}

/// A unary answer: one length-prefixed message and `grpc-status: code` in the trailers.
fn answer(code: u8) -> Response<Frames> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", code.to_string().parse().unwrap());
    let message = Bytes::from_static(&[0, 0, 0, 0, 2, 8, 1]);
    Response::builder()
        .header("content-type", "application/grpc")
        .body(Frames(VecDeque::from([
            Frame::data(message),
            Frame::trailers(trailers),
        ])))
        .unwrap()
}

fn call(traceparent: Option<&str>) -> Request<tonic::body::Body> {
    let mut request = Request::post("/shop.Inventory/Reserve")
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(tp) = traceparent {
        request = request.header("traceparent", tp);
    }
    request.body(tonic::body::Body::empty()).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_call_ends_with_the_status_in_its_trailers() {
    let (provider, exporter) = provider();
    for code in [0, 5, 13] {
        let svc = ServiceBuilder::new()
            .layer(GrpcServerLayer::new().tracer_provider(&provider))
            .service(tower::service_fn(
                move |request: Request<tonic::body::Body>| async move {
                    assert!(request.extensions().get::<Context>().is_some());
                    Ok::<_, Infallible>(answer(code))
                },
            ));
        let response = svc.oneshot(call(Some(TRACEPARENT))).await.unwrap();
        assert!(
            exporter.get_finished_spans().unwrap().len() < 3,
            "open until the trailers"
        );
        response.into_body().collect().await.unwrap();
    }
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 3);
    for (span, (code, error)) in
        spans
            .iter()
            .zip([("OK", false), ("NOT_FOUND", false), ("INTERNAL", true)])
    {
        assert_eq!(span.span_kind, SpanKind::Server);
        assert_eq!(span.name, "shop.Inventory/Reserve");
        assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7");
        assert_eq!(
            attr(span, "rpc.response.status_code"),
            Some(&Value::from(code))
        );
        // A server's NOT_FOUND is the caller's problem, INTERNAL is ours.
        assert_eq!(matches!(span.status, Status::Error { .. }), error, "{code}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn health_checks_get_no_server_span() {
    let (provider, exporter) = provider();
    let svc = ServiceBuilder::new()
        .layer(GrpcServerLayer::new().tracer_provider(&provider))
        .service(tower::service_fn(|_: Request<tonic::body::Body>| async {
            Ok::<_, Infallible>(answer(0))
        }));
    let mut request = call(None);
    *request.uri_mut() = "/grpc.health.v1.Health/Check".parse().unwrap();
    let response = svc.oneshot(request).await.unwrap();
    response.into_body().collect().await.unwrap();
    assert!(exporter.get_finished_spans().unwrap().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_call_sends_its_span_and_reads_the_status() {
    use opentelemetry::context::FutureExt as _;
    let (provider, exporter) = provider();
    let channel = tower::service_fn(|request: Request<tonic::body::Body>| async move {
        let sent = request.headers()["traceparent"]
            .to_str()
            .unwrap()
            .to_owned();
        let mut response = answer(14);
        response
            .headers_mut()
            .insert("x-sent", sent.parse().unwrap());
        Ok::<_, Infallible>(response)
    });
    let client = ServiceBuilder::new()
        .layer(
            GrpcClientLayer::new()
                .tracer_provider(&provider)
                .target("http://inventory.internal:50051"),
        )
        .service(channel);
    let parent = tracewire_propagation::Propagator::new().extract_context(
        &{
            let mut headers = HeaderMap::new();
            headers.insert("traceparent", TRACEPARENT.parse().unwrap());
            headers
        },
        &Context::new(),
    );
    let response = client
        .oneshot(call(None))
        .with_context(parent)
        .await
        .unwrap();
    let sent = response.headers()["x-sent"].to_str().unwrap().to_owned();
    response.into_body().collect().await.unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(
        sent,
        format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
            span.span_context.span_id()
        )
    );
    assert_eq!(
        attr(span, "server.address"),
        Some(&Value::from("inventory.internal"))
    );
    assert_eq!(
        attr(span, "rpc.response.status_code"),
        Some(&Value::from("UNAVAILABLE"))
    );
    assert!(matches!(span.status, Status::Error { .. }));
}
