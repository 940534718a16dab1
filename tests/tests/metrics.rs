//! Metrics beside the spans, through real layers: the conventions' names, units, buckets and
//! attribute sets per layer and status class; every request counted, sampled or not; the
//! duration to the end of the body; the cardinality guards; the attribute hook and the off
//! switch.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use http::StatusCode;
use opentelemetry::context::FutureExt as _;
use tonic::Code;
use tower::ServiceBuilder;
use tracewire_core::metrics::DURATION_BUCKETS_S;
use tracewire_http::client::HttpClientLayer;
use tracewire_http::server::{HttpServerLayer, SkipHealthChecks};
use tracewire_tests::grpc::pb::EchoRequest;
use tracewire_tests::grpc::{pair, parent, request};
use tracewire_tests::metrics::MetricSink;
use tracewire_tests::*;
use tracewire_tonic::{GrpcClientLayer, GrpcServerLayer, RpcConventions};

fn app<F>(layer: HttpServerLayer<tracewire_http::server::DefaultMakeSpan, (), F>) -> Router
where
    F: tracewire_http::server::Filter<axum::body::Body> + Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move {
                if id == 0 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }),
        )
        .route(
            "/slow",
            get(|| async { axum::body::Body::new(SlowBody::new(3, Duration::from_millis(60))) }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .layer(layer)
}

#[tokio::test(flavor = "current_thread")]
async fn http_server_metrics_count_every_request_with_bounded_attributes() {
    let _t = Telemetry::install();
    let sink = MetricSink::new();
    let addr = serve(app(HttpServerLayer::new()
        .meter_provider(&sink.provider)
        .filter(SkipHealthChecks::new())))
    .await;
    fetch(addr, "/users/1", &[]).await;
    fetch(addr, "/users/2", &[]).await;
    // Unsampled callers count too.
    fetch(
        addr,
        "/users/3",
        &[("traceparent", traceparent("00").as_bytes())],
    )
    .await;
    fetch(addr, "/users/0", &[]).await;
    fetch(addr, "/nowhere/at/all", &[]).await;
    fetch(addr, "/healthz", &[]).await;

    let points = sink.points("http.server.request.duration");
    assert_eq!(points.len(), 3, "{points:#?}");
    let ok = sink
        .point(
            "http.server.request.duration",
            &[
                ("http.route", "/users/{id}"),
                ("http.response.status_code", "200"),
            ],
        )
        .expect("200s");
    assert_eq!(ok.count, 3.0);
    assert_eq!(ok.unit, "s");
    assert_eq!(ok.bounds, DURATION_BUCKETS_S.to_vec());
    assert_eq!(
        ok.attributes.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "http.request.method",
            "http.response.status_code",
            "http.route",
            "network.protocol.version",
            "url.scheme"
        ]
    );
    assert_eq!(ok.attr("http.request.method"), Some("GET"));
    assert_eq!(ok.attr("url.scheme"), Some("http"));
    assert_eq!(ok.attr("network.protocol.version"), Some("1.1"));
    let failed = sink
        .point(
            "http.server.request.duration",
            &[("http.response.status_code", "500")],
        )
        .expect("500");
    assert_eq!(failed.attr("error.type"), Some("500"));
    assert_eq!(failed.attr("http.route"), Some("/users/{id}"));
    // No route matched: no `http.route`, never the raw path.
    let unmatched = sink
        .point(
            "http.server.request.duration",
            &[("http.response.status_code", "404")],
        )
        .expect("404");
    assert_eq!(unmatched.attr("http.route"), None);
    assert_eq!(
        unmatched.attr("error.type"),
        None,
        "4xx is not a server error"
    );
    assert!(
        points
            .iter()
            .all(|p| p.attributes.values().all(|v| !v.contains("/nowhere"))),
        "{points:#?}"
    );
    // Every request that started has ended: none in flight, by method and scheme.
    let active = sink.points("http.server.active_requests");
    assert_eq!(active.len(), 1, "{active:#?}");
    assert_eq!(active[0].count, 0.0);
    assert_eq!(active[0].unit, "{request}");
    assert_eq!(
        active[0]
            .attributes
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["http.request.method", "url.scheme"]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_duration_lasts_to_the_end_of_the_body_and_requests_are_active_until_then() {
    let _t = Telemetry::install();
    let sink = MetricSink::new();
    let addr = serve(app(HttpServerLayer::new().meter_provider(&sink.provider))).await;
    let request = http::Request::get(format!("http://{addr}/slow"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = client().request(request).await.unwrap();
    // The headers are in, the body is not: the request is still in flight.
    let active = sink.points("http.server.active_requests");
    assert_eq!(active[0].count, 1.0, "{active:#?}");
    assert!(sink.points("http.server.request.duration").is_empty());
    http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let done = sink
        .point("http.server.request.duration", &[("http.route", "/slow")])
        .unwrap();
    assert_eq!(done.count, 1.0);
    assert!(done.sum >= 0.15, "{}", done.sum);
    assert_eq!(sink.points("http.server.active_requests")[0].count, 0.0);
}

#[tokio::test(flavor = "current_thread")]
async fn unknown_methods_are_other_and_the_hook_adds_and_drops_attributes() {
    use tower::ServiceExt;
    let _t = Telemetry::install();
    let sink = MetricSink::new();
    let layer = HttpServerLayer::new()
        .meter_provider(&sink.provider)
        .metric_attributes(|attributes: &mut Vec<opentelemetry::KeyValue>| {
            attributes.retain(|kv| kv.key.as_str() != "network.protocol.version");
            attributes.push(opentelemetry::KeyValue::new("app.tier", "edge"));
        });
    let app = Router::new()
        .route("/dav", axum::routing::any(|| async { "ok" }))
        .layer(layer);
    let response = app
        .oneshot(
            http::Request::builder()
                .method("PROPFIND")
                .uri("/dav")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap();
    let point = sink.points("http.server.request.duration").remove(0);
    assert_eq!(point.attr("http.request.method"), Some("_OTHER"));
    assert_eq!(point.attr("app.tier"), Some("edge"));
    assert_eq!(point.attr("network.protocol.version"), None);
}

#[tokio::test(flavor = "current_thread")]
async fn metrics_can_be_turned_off_and_filtered_requests_counted_when_asked() {
    let _t = Telemetry::install();
    let off = MetricSink::new();
    let addr = serve(app(HttpServerLayer::new()
        .meter_provider(&off.provider)
        .metrics(false)))
    .await;
    fetch(addr, "/users/1", &[]).await;
    assert!(off.points("http.server.request.duration").is_empty());

    let counted = MetricSink::new();
    let addr = serve(app(HttpServerLayer::new()
        .meter_provider(&counted.provider)
        .filter(SkipHealthChecks::new())
        .metrics_for_filtered(true)))
    .await;
    fetch(addr, "/healthz", &[]).await;
    assert_eq!(counted.points("http.server.request.duration").len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn http_client_metrics_have_the_server_and_no_route() {
    let _t = Telemetry::install();
    let sink = MetricSink::new();
    let downstream = serve(app(HttpServerLayer::new())).await;
    let layer = HttpClientLayer::new()
        .meter_provider(&sink.provider)
        .active_requests_metric(true);
    get_through(layer.clone(), format!("http://{downstream}/users/4")).await;
    // Unsampled: counted too.
    get_through(layer.clone(), format!("http://{downstream}/nowhere"))
        .with_context(parent("00", &[]))
        .await;
    let ok = sink
        .point(
            "http.client.request.duration",
            &[("http.response.status_code", "200")],
        )
        .expect("200");
    assert_eq!(ok.attr("server.address"), Some("127.0.0.1"));
    assert_eq!(
        ok.attr("server.port"),
        Some(downstream.port().to_string().as_str())
    );
    assert_eq!(ok.attr("http.route"), None);
    assert_eq!(ok.attr("error.type"), None);
    let not_found = sink
        .point(
            "http.client.request.duration",
            &[("http.response.status_code", "404")],
        )
        .expect("404");
    assert_eq!(
        not_found.attr("error.type"),
        Some("404"),
        "4xx fails a client"
    );
    let active = sink.points("http.client.active_requests");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].count, 0.0);
    assert_eq!(active[0].attr("server.address"), Some("127.0.0.1"));

    // A connection refused: `error.type` is `connect`, no status.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut client = ServiceBuilder::new()
        .layer(layer)
        .service(tracewire_tests::client());
    let result = tower::Service::call(
        &mut client,
        http::Request::get(format!("http://{closed}/"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap(),
    )
    .await;
    assert!(result.is_err());
    let refused = sink
        .point("http.client.request.duration", &[("error.type", "connect")])
        .expect("connect error");
    assert_eq!(refused.attr("http.response.status_code"), None);
}

fn with_code(code: Code) -> EchoRequest {
    EchoRequest {
        code: code as i32,
        ..request("x")
    }
}

#[tokio::test(flavor = "current_thread")]
async fn grpc_metrics_on_both_sides_with_the_span_status_attributes() {
    let _t = Telemetry::install();
    let server_sink = MetricSink::new();
    let client_sink = MetricSink::new();
    let (mut client, addr) = pair(
        GrpcServerLayer::new().meter_provider(&server_sink.provider),
        GrpcClientLayer::new().meter_provider(&client_sink.provider),
    )
    .await;
    client.unary(request("hi")).await.unwrap();
    client.unary(with_code(Code::NotFound)).await.unwrap_err();
    // Unsampled calls count too.
    client
        .unary(request("quiet"))
        .with_context(parent("00", &[]))
        .await
        .unwrap();

    let ok = server_sink
        .point(
            "rpc.server.call.duration",
            &[("rpc.response.status_code", "OK")],
        )
        .expect("server OK");
    assert_eq!(ok.count, 2.0);
    assert_eq!(ok.unit, "s");
    assert_eq!(ok.attr("rpc.system.name"), Some("grpc"));
    assert_eq!(ok.attr("rpc.method"), Some("test.echo.v1.Echo/Unary"));
    let server_not_found = server_sink
        .point(
            "rpc.server.call.duration",
            &[("rpc.response.status_code", "NOT_FOUND")],
        )
        .expect("server NOT_FOUND");
    assert_eq!(
        server_not_found.attr("error.type"),
        None,
        "not a server error"
    );
    let client_not_found = client_sink
        .point(
            "rpc.client.call.duration",
            &[("rpc.response.status_code", "NOT_FOUND")],
        )
        .expect("client NOT_FOUND");
    assert_eq!(client_not_found.attr("error.type"), Some("NOT_FOUND"));
    assert_eq!(client_not_found.attr("server.address"), Some("127.0.0.1"));
    assert_eq!(
        client_not_found.attr("server.port"),
        Some(addr.port().to_string().as_str())
    );
    assert!(
        server_sink.points("rpc.server.duration").is_empty(),
        "rpc/old only"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn grpc_older_and_both_conventions() {
    let _t = Telemetry::install();
    for (conventions, current, old) in [
        (RpcConventions::Old, false, true),
        (RpcConventions::Both, true, true),
    ] {
        let sink = MetricSink::new();
        let (mut client, _) = pair(
            GrpcServerLayer::new()
                .conventions(conventions)
                .meter_provider(&sink.provider),
            GrpcClientLayer::new().metrics(false),
        )
        .await;
        client.unary(request("hi")).await.unwrap();
        assert_eq!(
            !sink.points("rpc.server.call.duration").is_empty(),
            current,
            "{conventions:?}"
        );
        let old_points = sink.points("rpc.server.duration");
        assert_eq!(!old_points.is_empty(), old, "{conventions:?}");
        let point = &old_points[0];
        assert_eq!(point.unit, "ms");
        assert_eq!(point.attr("rpc.grpc.status_code"), Some("0"));
        assert_eq!(point.attr("rpc.system"), Some("grpc"));
        assert_eq!(point.attr("rpc.service"), Some("test.echo.v1.Echo"));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_prometheus_endpoint_is_scraped_over_http() {
    use opentelemetry_sdk::metrics::SdkMeterProvider;
    use tracewire_http::prometheus::PrometheusEndpoint;

    let _t = Telemetry::install();
    let (reader, endpoint) = PrometheusEndpoint::new().unwrap();
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let app =
        app(HttpServerLayer::new().meter_provider(&provider)).route_service("/metrics", endpoint);
    let addr = serve(app).await;
    fetch(addr, "/users/1", &[]).await;
    fetch(addr, "/users/0", &[]).await;
    let (response, text) = fetch(addr, "/metrics", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
    );
    // Parse the text format: the count of each labelled series.
    let counts: Vec<(String, f64)> = text
        .lines()
        .filter(|l| l.starts_with("http_server_request_duration_seconds_count{"))
        .map(|l| {
            let (labels, value) = l.rsplit_once(' ').unwrap();
            (labels.to_owned(), value.parse().unwrap())
        })
        .collect();
    assert_eq!(counts.len(), 2, "{text}");
    let ok = counts
        .iter()
        .find(|(labels, _)| labels.contains(r#"http_response_status_code="200""#))
        .expect(&text);
    assert!(ok.0.contains(r#"http_route="/users/{id}""#), "{}", ok.0);
    assert!(ok.0.contains(r#"http_request_method="GET""#), "{}", ok.0);
    assert_eq!(ok.1, 1.0);
    let failed = counts
        .iter()
        .find(|(labels, _)| labels.contains(r#"http_response_status_code="500""#))
        .expect(&text);
    assert!(failed.0.contains(r#"error_type="500""#), "{}", failed.0);
    // The buckets are the conventions'.
    assert!(
        text.contains(r#"le="0.005""#) && text.contains(r#"le="10""#),
        "{text}"
    );
    assert!(
        text.contains("# TYPE http_server_active_requests gauge"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("http_server_active_requests{")
                && l.contains(r#"http_request_method="GET""#)
                && l.ends_with(" 0")),
        "{text}"
    );
    // The scrapes themselves are not measured (the endpoint is outside the traced routes).
    assert!(!text.contains(r#"http_route="/metrics""#));
}

#[tokio::test(flavor = "current_thread")]
async fn body_sizes_when_asked() {
    use tower::ServiceExt;
    let _t = Telemetry::install();
    let sink = MetricSink::new();
    let app = Router::new()
        .route(
            "/echo",
            axum::routing::post(|body: String| async move { format!("{body}{body}") }),
        )
        .layer(
            HttpServerLayer::new()
                .meter_provider(&sink.provider)
                .body_size_metrics(true),
        );
    let response = app
        .oneshot(
            http::Request::post("/echo")
                .header(http::header::CONTENT_LENGTH, "5")
                .body(axum::body::Body::from("hello"))
                .unwrap(),
        )
        .await
        .unwrap();
    http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap();
    let request = sink.points("http.server.request.body.size").remove(0);
    assert_eq!(request.unit, "By");
    assert_eq!((request.count, request.sum), (1.0, 5.0));
    assert_eq!(request.attr("http.route"), Some("/echo"));
    let response = sink.points("http.server.response.body.size").remove(0);
    assert_eq!((response.count, response.sum), (1.0, 10.0));
    // Off by default.
    let quiet = MetricSink::new();
    let addr = serve(app_default(&quiet)).await;
    fetch(addr, "/users/1", &[]).await;
    assert!(quiet.points("http.server.response.body.size").is_empty());
}

fn app_default(sink: &MetricSink) -> Router {
    app(HttpServerLayer::new().meter_provider(&sink.provider))
}

#[tokio::test(flavor = "current_thread")]
async fn reqwest_requests_are_measured_too() {
    let _t = Telemetry::install();
    let sink = MetricSink::new();
    let downstream = serve(app(HttpServerLayer::new())).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(tracewire_reqwest::TracingMiddleware::from_layer(
            &HttpClientLayer::new().meter_provider(&sink.provider),
        ))
        .build();
    let response = client
        .get(format!("http://{downstream}/users/0"))
        .send()
        .with_context(parent("00", &[]))
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    response.bytes().await.unwrap();
    let point = sink
        .point(
            "http.client.request.duration",
            &[("http.response.status_code", "500")],
        )
        .expect("the reqwest request, unsampled");
    assert_eq!(point.attr("error.type"), Some("500"));
    assert_eq!(point.attr("server.address"), Some("127.0.0.1"));
    assert_eq!(point.attr("network.protocol.version"), Some("1.1"));
}
