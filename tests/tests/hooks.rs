//! The same hooks and the same API shape on every layer: `on_request` and `on_response` on the
//! HTTP server and client and the gRPC server and client, in the bridged and the direct mode;
//! a filter that keeps state; baggage chosen the same way on HTTP and gRPC.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response};
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::SpanData;
use tower::{ServiceBuilder, ServiceExt};
use tracewire_core::RequestSpan;
use tracewire_http::client::HttpClientLayer;
use tracewire_http::server::HttpServerLayer;
use tracewire_tests::grpc::{pair, parent, request};
use tracewire_tests::*;
use tracewire_tonic::{GrpcClientLayer, GrpcServerLayer};

/// Tags the span from the request's `x-tenant` header and renames it.
fn tag_request<B>(request: &Request<B>, span: &RequestSpan<'_>) {
    let tenant = request
        .headers()
        .get("x-tenant")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    span.set_attribute(KeyValue::new("app.tenant", tenant));
    span.set_name("renamed");
}

/// Tags the span from the response.
fn tag_response<B>(response: &Response<B>, latency: Duration, span: &RequestSpan<'_>) {
    let answered = response.headers().contains_key("x-answered");
    span.set_attribute(KeyValue::new("app.answered", answered));
    span.set_attribute(KeyValue::new("app.latency_known", latency > Duration::ZERO));
}

fn assert_tagged(span: &SpanData, tenant: &str, answered: bool, what: &str) {
    assert_eq!(span.name, "renamed", "{what}");
    assert_eq!(
        attr_str(span, "app.tenant").as_deref(),
        Some(tenant),
        "{what}"
    );
    assert_eq!(
        attr(span, "app.answered"),
        Some(&opentelemetry::Value::Bool(answered)),
        "{what}"
    );
    assert_eq!(
        attr(span, "app.latency_known"),
        Some(&opentelemetry::Value::Bool(true)),
        "{what}"
    );
}

fn answered_app<M>(layer: HttpServerLayer<M>) -> Router
where
    M: tracewire_http::hooks::MakeSpan<Body> + Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/x", get(|| async { ([("x-answered", "yes")], "ok") }))
        .layer(layer.on_request(tag_request).on_response(tag_response))
}

async fn call_once(app: Router) {
    let response = app
        .oneshot(
            Request::get("/x")
                .header("x-tenant", "acme")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    // The span ends with the body.
    http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn http_server_hooks_work_in_both_modes() {
    let t = Telemetry::install();
    call_once(answered_app(HttpServerLayer::new())).await;
    call_once(answered_app(
        HttpServerLayer::new().tracer_provider(&t.provider),
    ))
    .await;
    let spans = t.wait_for(2).await;
    assert_eq!(spans.len(), 2);
    for (span, mode) in spans.iter().zip(["bridged", "direct"]) {
        assert_eq!(span.span_kind, SpanKind::Server);
        assert_tagged(span, "acme", true, mode);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn http_client_hooks_work_in_both_modes() {
    let t = Telemetry::install();
    let backend = tower::service_fn(|request: Request<String>| async move {
        // The hook runs after the context is written: the request carries it.
        assert!(request.headers().contains_key("traceparent"));
        Ok::<_, Infallible>(
            Response::builder()
                .header("x-answered", "1")
                .body(String::from("ok"))
                .unwrap(),
        )
    });
    for layer in [
        HttpClientLayer::new(),
        HttpClientLayer::new().tracer_provider(&t.provider),
    ] {
        let client = ServiceBuilder::new()
            .layer(layer.on_request(tag_request).on_response(tag_response))
            .service(backend);
        let response = client
            .oneshot(
                Request::get("http://backend.internal/x")
                    .header("x-tenant", "initech")
                    .body(String::new())
                    .unwrap(),
            )
            .with_context(parent("01", &[]))
            .await
            .unwrap();
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
    }
    let spans = t.wait_for(2).await;
    assert_eq!(spans.len(), 2);
    for (span, mode) in spans.iter().zip(["bridged", "direct"]) {
        assert_eq!(span.span_kind, SpanKind::Client);
        assert_tagged(span, "initech", true, mode);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn grpc_hooks_work_on_both_sides_in_both_modes() {
    for direct in [false, true] {
        let t = Telemetry::install();
        let (server, client) = if direct {
            (
                GrpcServerLayer::new().tracer_provider(&t.provider),
                GrpcClientLayer::new().tracer_provider(&t.provider),
            )
        } else {
            (GrpcServerLayer::new(), GrpcClientLayer::new())
        };
        let (mut client, _) = pair(
            server.on_request(tag_request).on_response(tag_response),
            client.on_request(tag_request).on_response(tag_response),
        )
        .await;
        let mut call = tonic::Request::new(request("hi"));
        call.metadata_mut()
            .insert("x-tenant", "globex".parse().unwrap());
        client
            .unary(call)
            .with_context(parent("01", &[]))
            .await
            .unwrap();
        let spans = t.wait_for(2).await;
        assert_eq!(spans.len(), 2, "direct={direct}");
        for span in &spans {
            // The echo server sends no `x-answered`: the response hook still ran.
            assert_tagged(
                span,
                "globex",
                false,
                &format!("{:?} direct={direct}", span.span_kind),
            );
            // The status, recorded after the hooks, is still there.
            assert_eq!(
                attr_str(span, "rpc.response.status_code").as_deref(),
                Some("OK"),
                "direct={direct}"
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_filter_can_keep_state() {
    // One service, four calls: every other one is traced.
    let t = Telemetry::install();
    let mut seen = 0;
    let mut svc = ServiceBuilder::new()
        .layer(HttpServerLayer::new().filter(move |_: &Request<Body>| {
            seen += 1;
            seen % 2 == 1
        }))
        .service(tower::service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        }));
    for _ in 0..4 {
        let response = tower::Service::call(
            svc.ready().await.unwrap(),
            Request::get("/x").body(Body::empty()).unwrap(),
        )
        .await
        .unwrap();
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
    }
    assert_eq!(t.spans().len(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn baggage_is_chosen_the_same_way_on_http_and_grpc() {
    let extra = [("baggage", "tenant=acme")];
    // HTTP: `send_baggage(true)` sends it everywhere, as `send_baggage_to(|_| true)` would.
    let _t = Telemetry::install();
    let backend = tower::service_fn(|request: Request<String>| async move {
        let baggage = request
            .headers()
            .get("baggage")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Ok::<_, Infallible>(Response::new(baggage))
    });
    for (layer, expected) in [
        (HttpClientLayer::new(), ""),
        (HttpClientLayer::new().send_baggage(true), "tenant=acme"),
        (
            HttpClientLayer::new().send_baggage_to(|uri: &http::Uri| uri.host() == Some("other")),
            "",
        ),
    ] {
        let response = ServiceBuilder::new()
            .layer(layer)
            .service(backend)
            .oneshot(
                Request::get("http://backend.internal/")
                    .body(String::new())
                    .unwrap(),
            )
            .with_context(parent("01", &extra))
            .await
            .unwrap();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(body, expected.as_bytes());
    }

    // gRPC: the same `send_baggage_to`, given the call's URI (its method path).
    for (layer, sent) in [
        (
            GrpcClientLayer::new()
                .send_baggage_to(|uri: &http::Uri| uri.path().starts_with("/test.echo.")),
            true,
        ),
        (
            GrpcClientLayer::new()
                .send_baggage_to(|uri: &http::Uri| uri.path().starts_with("/shop.")),
            false,
        ),
    ] {
        let (mut client, _) = pair(GrpcServerLayer::new(), layer).await;
        let reply = client
            .unary(request("hi"))
            .with_context(parent("01", &extra))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.metadata.contains_key("baggage"), sent);
    }
}
