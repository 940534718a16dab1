//! The layers the set-up wires: one trace across an HTTP server, reqwest and a gRPC hop;
//! sampling decided once (the layer decides, the provider keeps it); metrics into the set-up's
//! meter provider. Each test installs the global subscriber: nextest runs each test in its own
//! process.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tonic::transport::Server;
use tower::ServiceBuilder;
use tracewire_init::{Exporter, Setup, TreeExporter};
use tracewire_tests::grpc::pb::echo_client::EchoClient;
use tracewire_tests::grpc::{channel, echo_server, request, serve_grpc};
use tracewire_tests::{fetch, serve};

/// A set-up whose trees land in `trees`, with `vars` as its environment.
fn setup(trees: &Arc<Mutex<Vec<String>>>, vars: Vec<(&'static str, &'static str)>) -> Setup {
    let sink = trees.clone();
    Setup::new()
        .service_name("edge")
        .exporters([Exporter::Tree])
        .tree_exporter(TreeExporter::with_sink(move |tree| {
            sink.lock().unwrap().push(tree.to_owned());
        }))
        .env(move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_layers_make_one_trace_over_http_reqwest_and_grpc() {
    let trees = Arc::new(Mutex::new(Vec::new()));
    let telemetry = setup(&trees, vec![("OTEL_METRICS_EXPORTER", "prometheus")])
        .install()
        .unwrap();

    let grpc = serve_grpc(
        Server::builder()
            .layer(telemetry.grpc_server_layer())
            .add_service(echo_server()),
    )
    .await;
    let echo = EchoClient::new(
        ServiceBuilder::new()
            .layer(telemetry.grpc_client_layer(&format!("http://{grpc}")))
            .service(channel(grpc).await),
    );
    let backend = serve(
        Router::new()
            .route(
                "/echo",
                get(move || {
                    let mut echo = echo.clone();
                    async move {
                        echo.unary(request("hi")).await.unwrap();
                        "ok"
                    }
                }),
            )
            .layer(telemetry.http_server_layer()),
    )
    .await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(telemetry.reqwest_middleware())
        .build();
    let front = serve(
        Router::new()
            .route(
                "/front",
                get(
                    |State((client, backend)): State<(
                        reqwest_middleware::ClientWithMiddleware,
                        std::net::SocketAddr,
                    )>| async move {
                        client
                            .get(format!("http://{backend}/echo"))
                            .send()
                            .await
                            .unwrap()
                            .text()
                            .await
                            .unwrap()
                    },
                ),
            )
            .with_state((client, backend))
            .layer(telemetry.http_server_layer()),
    )
    .await;
    let (_, body) = fetch(front, "/front", &[]).await;
    assert_eq!(body, "ok");
    for _ in 0..100 {
        if !trees.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let trees = trees.lock().unwrap().clone();
    assert_eq!(trees.len(), 1, "{trees:#?}");
    let tree = &trees[0];
    for part in ["GET /front", "GET /echo", "test.echo.v1.Echo/Unary"] {
        assert!(tree.contains(part), "{part} missing from\n{tree}");
    }
    // Five spans, one tree: server, reqwest client, server, gRPC client, gRPC server.
    assert_eq!(
        tree.lines().filter(|l| l.contains("edge")).count(),
        5,
        "{tree}"
    );

    // The metrics went to the set-up's meter provider.
    let text = telemetry
        .prometheus()
        .expect("the Prometheus endpoint")
        .render();
    for series in [
        r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/front""#,
        "http_client_request_duration_seconds_count{",
        "rpc_server_call_duration_seconds_count{",
        "rpc_client_call_duration_seconds_count{",
    ] {
        assert!(text.contains(series), "{series} missing from\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_layers_sample_new_traces_once_at_the_configured_ratio() {
    let trees = Arc::new(Mutex::new(Vec::new()));
    let telemetry = setup(
        &trees,
        vec![
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ],
    )
    .install()
    .unwrap();
    let app = Router::new()
        .route("/x", get(|| async { "x" }))
        .layer(telemetry.http_server_layer());
    let addr = serve(app).await;
    for _ in 0..400 {
        fetch(addr, "/x", &[]).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let kept = trees.lock().unwrap().len();
    // Decided once at 0.5: about 200 of 400 (sampling twice would keep about 100).
    assert!((150..=250).contains(&kept), "{kept} of 400 kept");
}

#[tokio::test(flavor = "current_thread")]
async fn a_layer_of_ones_own_joins_the_installed_subscriber() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the events it sees, and whether they came with a span.
    struct Counter(Arc<AtomicUsize>, Arc<AtomicUsize>);
    impl<S> tracing_subscriber::Layer<S> for Counter
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            cx: tracing_subscriber::layer::Context<'_, S>,
        ) {
            // This test's own events (the OpenTelemetry crates log at INFO too).
            if event.metadata().target() != module_path!() {
                return;
            }
            self.0.fetch_add(1, Ordering::Relaxed);
            if cx.lookup_current().is_some() {
                self.1.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let (events, in_spans) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let trees = Arc::new(Mutex::new(Vec::new()));
    let _telemetry = setup(&trees, vec![("OTEL_METRICS_EXPORTER", "none")])
        .layer(Counter(events.clone(), in_spans.clone()))
        .log_filter("info")
        .install()
        .unwrap();
    tracing::info!("counted");
    tracing::debug!("filtered out: the log filter applies to the layer too");
    tracing::info_span!("work").in_scope(|| tracing::info!("in a span"));
    assert_eq!(events.load(Ordering::Relaxed), 2);
    assert_eq!(in_spans.load(Ordering::Relaxed), 1);
}
