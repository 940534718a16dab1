//! The workspace's end-to-end tests (in `tests/`) and their shared support: a scoped
//! `tracing` subscriber bridged to an SDK tracer provider with an in-memory exporter, real
//! servers on 127.0.0.1:0 and a real hyper client.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::prelude::*;

pub mod grpc;
pub mod metrics;

/// The trace id of the incoming contexts the tests send.
pub const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The parent span id of the incoming contexts the tests send.
pub const SPAN: &str = "00f067aa0ba902b7";

/// A `traceparent` with [`TRACE`], [`SPAN`] and `flags`.
pub fn traceparent(flags: &str) -> String {
    format!("00-{TRACE}-{SPAN}-{flags}")
}

/// A tracer provider with an in-memory exporter, installed as this thread's subscriber.
#[allow(missing_debug_implementations)]
pub struct Telemetry {
    /// The exporter the spans end up in.
    pub exporter: InMemorySpanExporter,
    /// The provider (for the layers' direct mode).
    pub provider: SdkTracerProvider,
    /// Log lines written by the fmt layer.
    pub logs: Arc<Mutex<Vec<u8>>>,
    _guard: DefaultGuard,
}

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Telemetry {
    /// Installs the subscriber for the current thread, with a provider built as the docs
    /// say: spans made by the layers get the ids their sampling decision was made on.
    pub fn install() -> Self {
        Self::install_with(|exporter| {
            SdkTracerProvider::builder()
                .with_id_generator(tracewire_core::provider::CallIdGenerator::new())
                .with_simple_exporter(exporter)
                .build()
        })
    }

    /// Installs the subscriber with a tracer provider of one's own, built around the
    /// in-memory exporter (a sampler, a processor in front of the exporter).
    pub fn install_with(provider: impl FnOnce(InMemorySpanExporter) -> SdkTracerProvider) -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = provider(exporter.clone());
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(logs.clone());
        // The transport's own spans (h2, tonic, tower) are not what the tests look at.
        let quiet = tracing_subscriber::filter::Targets::new()
            .with_default(tracing::Level::TRACE)
            .with_target("h2", tracing::level_filters::LevelFilter::OFF)
            .with_target("tonic", tracing::level_filters::LevelFilter::OFF)
            .with_target("tower", tracing::level_filters::LevelFilter::OFF)
            .with_target("hyper", tracing::level_filters::LevelFilter::OFF);
        let subscriber = tracing_subscriber::registry()
            .with(quiet)
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(tracewire_http::events::SpanEventsLayer::new())
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone())
                    .event_format(tracewire_http::fmt::TraceIdFormat::new(
                        tracing_subscriber::fmt::format(),
                    )),
            );
        let guard = tracing::subscriber::set_default(subscriber);
        Self {
            exporter,
            provider,
            logs,
            _guard: guard,
        }
    }

    /// The spans exported so far.
    pub fn spans(&self) -> Vec<SpanData> {
        let _ = self.provider.force_flush();
        self.exporter.get_finished_spans().unwrap()
    }

    /// Waits (bounded) until `n` spans were exported: a server span ends when its body has
    /// been sent, a moment after the client has read it.
    pub async fn wait_for(&self, n: usize) -> Vec<SpanData> {
        for _ in 0..200 {
            let spans = self.spans();
            if spans.len() >= n {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.spans()
    }

    /// The log lines written so far.
    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&self.logs.lock().unwrap()).into_owned()
    }
}

/// Serves an axum router on 127.0.0.1:0 (with `ConnectInfo`); returns its address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// A hyper-util client.
pub fn client() -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends a GET with `headers`; returns the status, headers and body.
pub async fn fetch(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &[u8])],
) -> (Response<()>, String) {
    let mut req = Request::get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, http::HeaderValue::from_bytes(v).unwrap());
    }
    let resp = client()
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(parts, ()),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// An attribute of `span`.
pub fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a opentelemetry::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// An attribute of `span`, as a string.
pub fn attr_str(span: &SpanData, key: &str) -> Option<String> {
    attr(span, key).map(|v| v.as_str().into_owned())
}

/// The traceparent the handler would send downstream, as the handler's response body.
pub fn outgoing_traceparent() -> String {
    let mut headers = HeaderMap::new();
    tracewire_propagation::Propagator::new()
        .inject_context(&opentelemetry::Context::current(), &mut headers);
    headers
        .get("traceparent")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A body of `left` chunks, `delay` apart.
#[allow(missing_debug_implementations)]
pub struct SlowBody {
    left: usize,
    delay: Duration,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl SlowBody {
    /// `left` chunks, `delay` apart.
    pub fn new(left: usize, delay: Duration) -> Self {
        Self {
            left,
            delay,
            sleep: None,
        }
    }
}

impl http_body::Body for SlowBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::convert::Infallible>>> {
        use std::future::Future;
        use std::task::Poll;
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let delay = self.delay;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
        match sleep.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.sleep = None;
                self.left -= 1;
                Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
                    b"chunk\n",
                )))))
            }
        }
    }
}

/// GETs `uri` through `client` wrapped in `layer` (from inside a handler, say) and returns
/// the body.
pub async fn get_through<L>(layer: L, uri: String) -> String
where
    L: tower::Layer<Client<HttpConnector, Empty<Bytes>>>,
    L::Service: tower::Service<
            Request<Empty<Bytes>>,
            Response = Response<tracewire_http::client::ResponseBody<hyper::body::Incoming>>,
        >,
    <L::Service as tower::Service<Request<Empty<Bytes>>>>::Error: std::fmt::Debug,
{
    use tower::{Service, ServiceExt};
    let mut client = layer.layer(client());
    let response = client
        .ready()
        .await
        .unwrap()
        .call(Request::get(uri).body(Empty::new()).unwrap())
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

/// Asserts the attributes and events every client span of a successful GET to
/// `http://{addr}{path_and_query}` has, whichever client made it.
pub fn assert_client_span(span: &SpanData, addr: SocketAddr, redacted_path_and_query: &str) {
    use opentelemetry::Value;
    assert_eq!(span.span_kind, opentelemetry::trace::SpanKind::Client);
    assert_eq!(span.name, "GET");
    assert_eq!(
        attr_str(span, "url.full").as_deref(),
        Some(format!("http://{addr}{redacted_path_and_query}").as_str())
    );
    assert_eq!(
        attr_str(span, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attr(span, "server.port"),
        Some(&Value::I64(i64::from(addr.port())))
    );
    assert_eq!(
        attr(span, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(
        attr_str(span, "network.protocol.version").as_deref(),
        Some("1.1")
    );
    assert!(
        span.events
            .iter()
            .any(|e| e.name == "http.response.headers")
    );
}

/// A span exporter that drops what it is given, for benchmarks: the cost of export is not
/// the middleware's.
#[derive(Debug)]
pub struct NoopExporter;

impl opentelemetry_sdk::trace::SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        std::hint::black_box(batch);
        Ok(())
    }
}
