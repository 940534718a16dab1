//! The reqwest middleware against real servers on 127.0.0.1:0: the same spans as the client
//! layer, one per retry attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::{HeaderMap, StatusCode};
use opentelemetry::Value;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, Status};
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use tracewire_http::client::HttpClientLayer;
use tracewire_reqwest::TracingMiddleware;
use tracewire_tests::*;

fn remote_parent() -> opentelemetry::Context {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", traceparent("01").parse().unwrap());
    headers.insert("baggage", "tenant=acme".parse().unwrap());
    tracewire_propagation::Propagator::new()
        .extract(&headers)
        .into_context(&opentelemetry::Context::new())
}

fn downstream(flaky_failures: usize) -> Router {
    let calls = Arc::new(AtomicUsize::new(0));
    Router::new()
        .route(
            "/echo",
            get(|headers: HeaderMap| async move {
                headers
                    .get("traceparent")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            }),
        )
        .route(
            "/flaky",
            get(move || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < flaky_failures {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        )
        .route(
            "/stream",
            get(|| async { axum::body::Body::new(SlowBody::new(3, Duration::from_millis(60))) }),
        )
}

#[tokio::test(flavor = "current_thread")]
async fn same_span_as_the_client_layer_and_the_url_is_kept() {
    let t = Telemetry::install();
    let addr = serve(downstream(0)).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new())
        .build();
    let url = format!("http://{addr}/echo?sig=secret");
    // As inside a handler: the context is current while the request is sent.
    let response = client.get(&url).send().with_context(remote_parent());
    let response = response.await.unwrap();
    assert_eq!(response.url().as_str(), url);
    let sent = response.text().await.unwrap();
    let spans = t.wait_for(1).await;
    let span = &spans[0];
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.name, "GET");
    assert_eq!(span.parent_span_id.to_string(), SPAN);
    assert_eq!(
        sent,
        format!("00-{TRACE}-{}-01", span.span_context.span_id())
    );
    assert_client_span(span, addr, "/echo?sig=REDACTED");
    assert_eq!(attr(span, "http.request.resend_count"), None);
}

#[tokio::test(flavor = "current_thread")]
async fn every_retry_is_a_span_with_its_resend_count() {
    let t = Telemetry::install();
    let addr = serve(downstream(2)).await;
    let policy = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(1), Duration::from_millis(5))
        .build_with_max_retries(3);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryTransientMiddleware::new_with_policy(policy))
        .with(TracingMiddleware::from_layer(&HttpClientLayer::new()))
        .build();
    // As inside a handler: the context is current while the request is sent.
    let response = client
        .get(format!("http://{addr}/flaky"))
        .send()
        .with_context(remote_parent());
    assert_eq!(response.await.unwrap().status(), 200);
    let spans = t.wait_for(3).await;
    assert_eq!(spans.len(), 3);
    let counts: Vec<_> = spans
        .iter()
        .map(|s| attr(s, "http.request.resend_count").cloned())
        .collect();
    assert_eq!(counts, [None, Some(Value::I64(1)), Some(Value::I64(2))]);
    assert!(matches!(spans[0].status, Status::Error { .. }));
    assert_eq!(attr_str(&spans[0], "error.type").as_deref(), Some("503"));
    assert_eq!(spans[2].status, Status::Unset);
    assert!(spans.iter().all(|s| s.parent_span_id.to_string() == SPAN));
}

#[tokio::test(flavor = "current_thread")]
async fn span_lasts_until_the_body_is_read_and_connect_errors_are_typed() {
    let t = Telemetry::install();
    let addr = serve(downstream(0)).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new())
        .build();
    // As inside a handler: the context is current while the request is sent.
    let response = client
        .get(format!("http://{addr}/stream"))
        .send()
        .with_context(remote_parent());
    let body = response.await.unwrap().text().await.unwrap();
    assert_eq!(body, "chunk\n".repeat(3));
    let spans = t.wait_for(1).await;
    let duration = spans[0]
        .end_time
        .duration_since(spans[0].start_time)
        .unwrap();
    assert!(duration >= Duration::from_millis(170), "{duration:?}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // As inside a handler: the context is current while the request is sent.
    let failed = client
        .get(format!("http://{closed}/x"))
        .send()
        .with_context(remote_parent());
    assert!(failed.await.is_err());
    let spans = t.wait_for(2).await;
    assert_eq!(
        attr_str(&spans[1], "error.type").as_deref(),
        Some("connect")
    );
    assert!(matches!(spans[1].status, Status::Error { .. }));
}

#[tokio::test(flavor = "current_thread")]
async fn hyper_client_and_reqwest_make_the_same_span() {
    use http_body_util::{BodyExt, Empty};
    use tower::{Service, ServiceBuilder, ServiceExt};

    let t = Telemetry::install();
    let addr = serve(downstream(0)).await;
    let url = format!("http://{addr}/echo?page=2");

    let reqwest_client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new())
        .build();
    reqwest_client
        .get(&url)
        .send()
        .with_context(remote_parent())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let mut hyper_client = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service(client());
    hyper_client.ready().await.unwrap();
    let future = {
        let _guard = remote_parent().attach();
        hyper_client.call(
            http::Request::get(&url)
                .body(Empty::<bytes::Bytes>::new())
                .unwrap(),
        )
    };
    let response = future.with_context(remote_parent()).await.unwrap();
    response.into_body().collect().await.unwrap();

    let spans = t.wait_for(2).await;
    assert_eq!(spans.len(), 2);
    let shape = |s: &opentelemetry_sdk::trace::SpanData| {
        let mut attrs: Vec<(String, String)> = s
            .attributes
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect();
        attrs.sort();
        let events: Vec<String> = s.events.iter().map(|e| e.name.to_string()).collect();
        (
            s.name.clone(),
            s.span_kind.clone(),
            s.status.clone(),
            s.parent_span_id,
            attrs,
            events,
        )
    };
    let (a, b) = (shape(&spans[0]), shape(&spans[1]));
    // Same name, kind, status, parent, events and attributes; the timing fields of the
    // `tracing` bridge (busy_ns, idle_ns) and code locations may differ.
    assert_eq!(
        (&a.0, &a.1, &a.2, &a.3, &a.5),
        (&b.0, &b.1, &b.2, &b.3, &b.5)
    );
    let semconv = |attrs: &[(String, String)]| -> Vec<(String, String)> {
        attrs
            .iter()
            .filter(|(k, _)| {
                k.starts_with("http.")
                    || k.starts_with("url.")
                    || k.starts_with("server.")
                    || k.starts_with("network.")
                    || k.starts_with("error.")
            })
            .cloned()
            .collect()
    };
    assert_eq!(semconv(&a.4), semconv(&b.4));
    assert!(semconv(&a.4).len() >= 6, "{:?}", a.4);
}
