//! Spans exported by the `tracewire-init` pipeline arrive at real OTLP receivers (a tonic
//! server on the official `opentelemetry-proto` service definition, and an HTTP endpoint
//! decoding its protobuf messages) with the right resource, names and parents.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tonic::transport::Server;
use tracewire_http::server::HttpServerLayer;
use tracewire_init::Setup;
use tracewire_tests::{fetch, serve, traceparent};

/// Keeps every request it receives.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn string(value: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> Option<String> {
    match value.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// A tracer provider from the `tracewire-init` pipeline, with these variables (read through
/// a lookup, not the process environment).
fn provider_from(vars: Vec<(&'static str, String)>) -> opentelemetry_sdk::trace::SdkTracerProvider {
    Setup::new()
        .env(move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .build()
        .unwrap()
        .provider(None)
        .unwrap()
}

/// Flushes `provider`: it blocks until the exporter has sent, so off the runtime's threads.
async fn flush(provider: &opentelemetry_sdk::trace::SdkTracerProvider) {
    let flushing = provider.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush())
        .await
        .unwrap()
        .unwrap();
}

/// What the receiver got: the first resource's string attributes, and every span.
fn contents(
    requests: &[ExportTraceServiceRequest],
) -> (
    Vec<(String, String)>,
    Vec<opentelemetry_proto::tonic::trace::v1::Span>,
) {
    let resource_spans: Vec<_> = requests.iter().flat_map(|r| &r.resource_spans).collect();
    assert!(!resource_spans.is_empty(), "nothing arrived");
    let resource = resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), string(&kv.value)?)))
        .collect();
    let spans = resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect();
    (resource, spans)
}

fn has(resource: &[(String, String)], key: &str, value: &str) -> bool {
    resource.iter().any(|(k, v)| k == key && v == value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_grpc_receiver() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(async move {
        Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });

    let provider = provider_from(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
        ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
        ("OTEL_SERVICE_NAME", "checkout".to_owned()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=test".to_owned(),
        ),
    ]);

    // A traced request through a real server.
    let app = Router::new()
        .route("/users/{id}", get(|| async { "alice" }))
        .layer(HttpServerLayer::new().tracer_provider(&provider));
    let addr = serve(app).await;
    let (response, _) = fetch(
        addr,
        "/users/7",
        &[("traceparent", traceparent("01").as_bytes())],
    )
    .await;
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(50)).await;

    flush(&provider).await;
    let (resource, spans) = contents(&receiver.0.lock().unwrap());
    assert!(has(&resource, "service.name", "checkout"), "{resource:?}");
    assert!(
        has(&resource, "deployment.environment", "test"),
        "{resource:?}"
    );
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(
        span.trace_id,
        hex("4bf92f3577b34da6a3ce929d0e0e4736"),
        "the caller's trace"
    );
    assert_eq!(
        span.parent_span_id,
        hex("00f067aa0ba902b7"),
        "the caller's span"
    );
    let _ = provider.shutdown();
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_http_receiver() {
    use axum::body::Bytes;
    use axum::routing::post;
    use prost::Message as _;
    // An OTLP/HTTP receiver: protobuf bodies posted to /v1/traces.
    let received = Arc::new(Mutex::new(Vec::<ExportTraceServiceRequest>::new()));
    let store = received.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let store = store.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).unwrap();
                store.lock().unwrap().push(request);
                ExportTraceServiceResponse {
                    partial_success: None,
                }
                .encode_to_vec()
            }
        }),
    );
    let collector = serve(app).await;
    let provider = provider_from(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
        ("OTEL_SERVICE_NAME", "billing".to_owned()),
    ]);
    let app = Router::new()
        .route("/invoices/{id}", get(|| async { "paid" }))
        .layer(HttpServerLayer::new().tracer_provider(&provider));
    let addr = serve(app).await;
    let (response, _) = fetch(addr, "/invoices/9", &[]).await;
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(50)).await;
    flush(&provider).await;
    let (resource, spans) = contents(&received.lock().unwrap());
    assert!(has(&resource, "service.name", "billing"), "{resource:?}");
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["GET /invoices/{id}"]);
    let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
}

// ---- metrics ---------------------------------------------------------------------------

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;

/// Keeps every metrics export it receives.
#[derive(Clone, Default)]
struct MetricsReceiver(Arc<Mutex<Vec<ExportMetricsServiceRequest>>>);

#[tonic::async_trait]
impl MetricsService for MetricsReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demos_metrics_reach_an_otlp_grpc_receiver() {
    use tracewire_demo::{ORDERS, Providers, propagator, send, start};

    let receiver = MetricsReceiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = listener.local_addr().unwrap();
    let service = MetricsServiceServer::new(receiver.clone());
    tokio::spawn(async move {
        Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
    ];
    let built = Setup::new()
        .env(move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .build()
        .unwrap();
    let meter = |service| built.meter_provider(Some(service)).unwrap().0;
    let meters = [meter("frontend"), meter("inventory"), meter("payments")];
    let providers = Providers {
        frontend: built.provider(Some("frontend")).unwrap(),
        inventory: built.provider(Some("inventory")).unwrap(),
        payments: built.provider(Some("payments")).unwrap(),
        meters: Some(meters.clone()),
    };
    let topology = start(
        &providers,
        &propagator(tracewire_propagation::Propagator::new()),
    )
    .await;
    let client = reqwest::Client::new();
    for order in &ORDERS {
        send(&client, &topology, order).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for meter in meters {
        tokio::task::spawn_blocking(move || meter.force_flush())
            .await
            .unwrap()
            .unwrap();
    }

    let requests = receiver.0.lock().unwrap().clone();
    // service.name -> metric name -> (unit, data points' attributes as key=value strings)
    let mut seen: Vec<(String, String, String, Vec<Vec<String>>)> = Vec::new();
    for request in &requests {
        for rm in &request.resource_metrics {
            let service = rm
                .resource
                .as_ref()
                .and_then(|r| {
                    r.attributes
                        .iter()
                        .find(|kv| kv.key == "service.name")
                        .and_then(|kv| string(&kv.value))
                })
                .unwrap_or_default();
            for sm in &rm.scope_metrics {
                for metric in &sm.metrics {
                    let points = match &metric.data {
                        Some(MetricData::Histogram(h)) => h
                            .data_points
                            .iter()
                            .map(|p| {
                                p.attributes
                                    .iter()
                                    .map(|kv| {
                                        format!(
                                            "{}={}",
                                            kv.key,
                                            string(&kv.value).unwrap_or_else(|| format!(
                                                "{:?}",
                                                kv.value.as_ref().and_then(|v| v.value.clone())
                                            ))
                                        )
                                    })
                                    .collect()
                            })
                            .collect(),
                        _ => Vec::new(),
                    };
                    seen.push((
                        service.clone(),
                        metric.name.clone(),
                        metric.unit.clone(),
                        points,
                    ));
                }
            }
        }
    }
    let find = |service: &str, name: &str| {
        seen.iter()
            .find(|(s, n, _, _)| s == service && n == name)
            .unwrap_or_else(|| panic!("{service} {name} not received: {seen:#?}"))
    };
    let (_, _, unit, points) = find("frontend", "http.server.request.duration");
    assert_eq!(unit, "s");
    assert!(
        points
            .iter()
            .any(|p| p.contains(&"http.route=/orders".to_owned())
                && p.contains(&"http.request.method=POST".to_owned())),
        "{points:?}"
    );
    let (_, _, _, points) = find("inventory", "rpc.server.call.duration");
    assert!(
        points
            .iter()
            .any(|p| p.contains(&"rpc.method=inventory.Inventory/Reserve".to_owned())),
        "{points:?}"
    );
    let (_, _, _, points) = find("frontend", "http.client.request.duration");
    assert!(!points.is_empty());
    find("frontend", "rpc.client.call.duration");
    let (_, _, _, points) = find("payments", "http.server.request.duration");
    assert!(
        points
            .iter()
            .any(|p| p.contains(&"error.type=500".to_owned())),
        "the declined card: {points:?}"
    );
    assert!(
        seen.iter()
            .any(|(s, n, _, _)| s == "frontend" && n == "http.server.active_requests"),
        "{seen:#?}"
    );
}

/// Keeps the `x-tenant` metadata of every trace export.
#[derive(Clone, Default)]
struct HeaderReceiver(Arc<Mutex<Vec<Option<String>>>>);

#[tonic::async_trait]
impl TraceService for HeaderReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let tenant = request
            .metadata()
            .get("x-tenant")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.0.lock().unwrap().push(tenant);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_headers_and_timeout_come_through_the_set_up() {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};

    let receiver = HeaderReceiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(async move {
        Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    let provider = provider_from(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
        ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
        // The signal's variable wins over the general one; values are percent-decoded.
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=general".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "x-tenant=ac%20me,authorization=Bearer%20t".to_owned(),
        ),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "none".to_owned()),
    ]);
    provider.tracer("t").in_span("work", |_| {});
    flush(&provider).await;
    assert_eq!(
        receiver.0.lock().unwrap().as_slice(),
        [Some("ac me".to_owned())]
    );

    // A collector that never answers: the export gives up after OTEL_EXPORTER_OTLP_TIMEOUT.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let provider = provider_from(vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{silent_addr}"),
        ),
        ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "200".to_owned()),
    ]);
    provider.tracer("t").in_span("work", |_| {});
    let started = std::time::Instant::now();
    let flushing = provider.clone();
    let result = tokio::task::spawn_blocking(move || flushing.force_flush())
        .await
        .unwrap();
    assert!(result.is_err(), "nothing was accepted");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn bad_otlp_options_are_warned_about_and_http_json_is_known() {
    let lookup = |vars: Vec<(&'static str, &'static str)>| {
        Setup::new().env(move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    };
    let built = lookup(vec![
        ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ])
    .build()
    .unwrap();
    let warned: Vec<String> = built.warnings().iter().map(ToString::to_string).collect();
    for variable in [
        "OTEL_EXPORTER_OTLP_HEADERS=\"novalue\"",
        "OTEL_EXPORTER_OTLP_TIMEOUT=\"soon\"",
        "OTEL_EXPORTER_OTLP_COMPRESSION=\"brotli\"",
    ] {
        assert!(
            warned.iter().any(|w| w.starts_with(variable)),
            "{variable}: {warned:?}"
        );
    }
    let built = lookup(vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ])
    .strict(true)
    .build()
    .expect("http/json is a protocol");
    assert!(built.provider(None).is_ok());
}
