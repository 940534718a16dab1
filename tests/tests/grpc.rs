//! The gRPC layers on a real tonic server and client over 127.0.0.1, spans asserted through
//! the SDK's in-memory exporter.

use std::time::Duration;

use opentelemetry::Value;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, Status as SpanStatus};
use opentelemetry_sdk::trace::SpanData;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::{Channel, Server};
use tower::ServiceBuilder;
use tracewire_tests::grpc::pb::echo_client::EchoClient;
use tracewire_tests::grpc::pb::{EchoReply, EchoRequest};
use tracewire_tests::grpc::{channel, echo_server, pair, parent, request, serve_grpc};
use tracewire_tests::{SPAN, TRACE, Telemetry, attr, attr_str, traceparent};
use tracewire_tonic::server::TrustPolicy;
use tracewire_tonic::{GrpcClientLayer, GrpcServerLayer, RpcConventions, TraceContextInterceptor};

fn with_code(code: Code) -> EchoRequest {
    EchoRequest {
        code: code as i32,
        ..request("x")
    }
}

fn of_kind(spans: &[SpanData], kind: SpanKind) -> Vec<&SpanData> {
    spans.iter().filter(|s| s.span_kind == kind).collect()
}

fn one(spans: &[SpanData], kind: SpanKind) -> &SpanData {
    let found = of_kind(spans, kind.clone());
    assert_eq!(found.len(), 1, "one {kind:?} span in {spans:#?}");
    found[0]
}

fn is_error(span: &SpanData) -> bool {
    matches!(span.status, SpanStatus::Error { .. })
}

fn events<'a>(span: &'a SpanData, name: &str) -> Vec<&'a opentelemetry::trace::Event> {
    span.events.iter().filter(|e| e.name == name).collect()
}

fn event_attr<'a>(event: &'a opentelemetry::trace::Event, key: &str) -> Option<&'a Value> {
    event
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[tokio::test(flavor = "current_thread")]
async fn unary_call_is_one_trace_client_to_server() {
    let t = Telemetry::install();
    let (mut client, addr) = pair(GrpcServerLayer::new(), GrpcClientLayer::new()).await;
    let reply = client
        .unary(request("hi"))
        .with_context(parent("01", &[]))
        .await
        .unwrap()
        .into_inner();
    let spans = t.wait_for(2).await;
    let client_span = one(&spans, SpanKind::Client);
    let server_span = one(&spans, SpanKind::Server);

    // One trace: caller → client span → server span.
    assert_eq!(client_span.span_context.trace_id().to_string(), TRACE);
    assert_eq!(client_span.parent_span_id.to_string(), SPAN);
    assert_eq!(server_span.span_context.trace_id().to_string(), TRACE);
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id()
    );
    assert!(server_span.parent_span_is_remote);
    // The server received our client span's id, and its handler would send its own.
    assert_eq!(
        reply.metadata["traceparent"],
        format!("00-{TRACE}-{}-01", client_span.span_context.span_id())
    );
    assert_eq!(
        reply.outgoing,
        format!("00-{TRACE}-{}-01", server_span.span_context.span_id())
    );

    for span in [client_span, server_span] {
        assert_eq!(span.name, "test.echo.v1.Echo/Unary");
        assert_eq!(attr_str(span, "rpc.system.name").as_deref(), Some("grpc"));
        assert_eq!(
            attr_str(span, "rpc.method").as_deref(),
            Some("test.echo.v1.Echo/Unary")
        );
        assert_eq!(
            attr_str(span, "rpc.response.status_code").as_deref(),
            Some("OK")
        );
        assert_eq!(span.status, SpanStatus::Unset);
        assert_eq!(attr(span, "rpc.system"), None, "old names only on request");
        assert_eq!(attr(span, "error.type"), None);
    }
    assert_eq!(
        attr_str(client_span, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attr(client_span, "server.port"),
        Some(&Value::I64(i64::from(addr.port())))
    );
    assert_eq!(
        attr_str(server_span, "network.peer.address").as_deref(),
        Some("127.0.0.1")
    );
    assert!(matches!(attr(server_span, "network.peer.port"), Some(Value::I64(p)) if *p > 0));
    assert_eq!(events(client_span, "rpc.response.headers").len(), 1);

    // Log lines inside the handler carry the trace.
    assert!(
        t.logs()
            .lines()
            .any(|l| l.contains("unary call") && l.contains(TRACE)),
        "{}",
        t.logs()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_without_context_starts_a_trace_at_the_client() {
    let t = Telemetry::install();
    let (mut client, _) = pair(GrpcServerLayer::new(), GrpcClientLayer::new()).await;
    client.unary(request("hi")).await.unwrap();
    let spans = t.wait_for(2).await;
    let client_span = one(&spans, SpanKind::Client);
    let server_span = one(&spans, SpanKind::Server);
    assert_eq!(
        client_span.parent_span_id,
        opentelemetry::trace::SpanId::INVALID
    );
    assert_eq!(
        server_span.span_context.trace_id(),
        client_span.span_context.trace_id()
    );
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_unsampled_caller_stays_unsampled_with_our_own_span_ids() {
    let t = Telemetry::install();
    let (mut client, _) = pair(GrpcServerLayer::new(), GrpcClientLayer::new()).await;
    let reply = client
        .unary(request("hi"))
        .with_context(parent("00", &[]))
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(t.spans().is_empty(), "{:#?}", t.spans());
    let sent = &reply.metadata["traceparent"];
    assert!(
        sent.starts_with(&format!("00-{TRACE}-")) && sent.ends_with("-00"),
        "{sent}"
    );
    assert!(!sent.contains(SPAN), "the client call has its own span id");
    assert!(reply.outgoing.starts_with(&format!("00-{TRACE}-")) && reply.outgoing.ends_with("-00"));
    assert_ne!(
        &reply.outgoing, sent,
        "the server call has its own span id too"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn server_streaming_ends_with_the_last_message() {
    let t = Telemetry::install();
    let layer = GrpcServerLayer::new().message_events(true);
    let (mut client, _) = pair(layer, GrpcClientLayer::new().message_events(true)).await;
    let mut stream = client
        .server_stream(EchoRequest {
            count: 3,
            delay_ms: 40,
            ..request("s")
        })
        .with_context(parent("01", &[]))
        .await
        .unwrap()
        .into_inner();
    let mut replies = Vec::new();
    while let Some(reply) = stream.next().await {
        replies.push(reply.unwrap().message);
    }
    assert_eq!(replies, ["s 0", "s 1", "s 2"]);
    let spans = t.wait_for(2).await;
    let server_span = one(&spans, SpanKind::Server);
    let client_span = one(&spans, SpanKind::Client);
    for span in [server_span, client_span] {
        let took = span.end_time.duration_since(span.start_time).unwrap();
        assert!(
            took >= Duration::from_millis(120),
            "{took:?}: timed to the last message"
        );
        assert_eq!(
            attr_str(span, "rpc.response.status_code").as_deref(),
            Some("OK")
        );
    }
    // Message events: ids counted from 1 in each direction.
    let kinds = |span: &SpanData| -> Vec<(String, i64)> {
        events(span, "rpc.message")
            .iter()
            .map(|e| {
                let kind = event_attr(e, "rpc.message.type")
                    .unwrap()
                    .as_str()
                    .into_owned();
                let Some(Value::I64(id)) = event_attr(e, "rpc.message.id") else {
                    panic!("no id")
                };
                (kind, *id)
            })
            .collect()
    };
    let s = |k: &str, id| (k.to_owned(), id);
    assert_eq!(
        kinds(server_span),
        [s("RECEIVED", 1), s("SENT", 1), s("SENT", 2), s("SENT", 3)]
    );
    assert_eq!(
        kinds(client_span),
        [
            s("SENT", 1),
            s("RECEIVED", 1),
            s("RECEIVED", 2),
            s("RECEIVED", 3)
        ]
    );
    let first = events(server_span, "rpc.message")[0];
    assert!(matches!(
        event_attr(first, "rpc.message.uncompressed_size"),
        Some(Value::I64(n)) if *n > 0
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn client_streaming_and_bidi_calls() {
    let t = Telemetry::install();
    let layer = GrpcServerLayer::new().message_events(true);
    let (mut client, _) = pair(layer, GrpcClientLayer::new().message_events(true)).await;
    let outbound = tokio_stream::iter(["a", "b", "c"].map(request));
    let reply = client
        .client_stream(outbound)
        .with_context(parent("01", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.message, "a,b,c");

    let outbound = tokio_stream::iter(["x", "y"].map(request));
    let replies: Vec<EchoReply> = client
        .bidi(outbound)
        .with_context(parent("01", &[]))
        .await
        .unwrap()
        .into_inner()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(replies.len(), 2);

    let spans = t.wait_for(4).await;
    let name_count = |name: &str, kind: SpanKind, sent: usize, received: usize| {
        let span = spans
            .iter()
            .find(|s| s.name == name && s.span_kind == kind)
            .unwrap_or_else(|| panic!("{name} {kind:?}"));
        let count = |k: &str| {
            events(span, "rpc.message")
                .iter()
                .filter(|e| event_attr(e, "rpc.message.type").unwrap().as_str() == k)
                .count()
        };
        assert_eq!(
            (count("SENT"), count("RECEIVED")),
            (sent, received),
            "{name} {kind:?}"
        );
        assert_eq!(
            attr_str(span, "rpc.response.status_code").as_deref(),
            Some("OK")
        );
    };
    name_count("test.echo.v1.Echo/ClientStream", SpanKind::Client, 3, 1);
    name_count("test.echo.v1.Echo/ClientStream", SpanKind::Server, 1, 3);
    name_count("test.echo.v1.Echo/Bidi", SpanKind::Client, 2, 2);
    name_count("test.echo.v1.Echo/Bidi", SpanKind::Server, 2, 2);
}

#[tokio::test(flavor = "current_thread")]
async fn every_status_code_maps_to_errors_per_side() {
    let t = Telemetry::install();
    let (mut client, _) = pair(GrpcServerLayer::new(), GrpcClientLayer::new()).await;
    let server_errors = [
        Code::Unknown,
        Code::DeadlineExceeded,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
    ];
    for n in 1..=16 {
        let code = Code::from_i32(n);
        let status = client
            .unary(with_code(code))
            .with_context(parent("01", &[]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), code);
    }
    let spans = t.wait_for(32).await;
    assert_eq!(spans.len(), 32);
    for n in 1..=16 {
        let code = Code::from_i32(n);
        let name = tracewire_tonic::semconv::code_name(code);
        let client_span = spans
            .iter()
            .find(|s| {
                s.span_kind == SpanKind::Client
                    && attr_str(s, "rpc.response.status_code").as_deref() == Some(name)
            })
            .unwrap_or_else(|| panic!("client {name}"));
        let server_span = spans
            .iter()
            .find(|s| {
                s.span_kind == SpanKind::Server
                    && attr_str(s, "rpc.response.status_code").as_deref() == Some(name)
            })
            .unwrap_or_else(|| panic!("server {name}"));
        assert!(is_error(client_span), "client {name}");
        assert_eq!(attr_str(client_span, "error.type").as_deref(), Some(name));
        let server_error = server_errors.contains(&code);
        assert_eq!(is_error(server_span), server_error, "server {name}");
        assert_eq!(
            attr_str(server_span, "error.type").is_some(),
            server_error,
            "server {name}"
        );
        if server_error {
            assert_eq!(
                server_span.status,
                SpanStatus::error(format!("asked for {n}"))
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn status_from_trailers_only_responses_and_from_trailers_after_messages() {
    use std::sync::{Arc, Mutex};
    let t = Telemetry::install();
    // Looks at what the service answered before our layer sees it.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let stack = ServiceBuilder::new()
        .layer(GrpcServerLayer::new())
        .map_response(move |response: http::Response<tonic::body::Body>| {
            record
                .lock()
                .unwrap()
                .push(response.headers().contains_key("grpc-status"));
            response
        })
        .into_inner();
    let addr = serve_grpc(Server::builder().layer(stack).add_service(echo_server())).await;
    let mut client = EchoClient::new(
        ServiceBuilder::new()
            .layer(GrpcClientLayer::new())
            .service(channel(addr).await),
    );

    // A unary error: tonic answers trailers-only.
    let status = client.unary(with_code(Code::NotFound)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // A stream that fails after two messages: the status is in the trailers.
    let mut stream = client
        .server_stream(EchoRequest {
            count: 2,
            code: Code::Internal as i32,
            ..request("s")
        })
        .await
        .unwrap()
        .into_inner();
    let mut ok = 0;
    let mut failed = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(_) => ok += 1,
            Err(status) => failed = Some(status.code()),
        }
    }
    assert_eq!((ok, failed), (2, Some(Code::Internal)));
    assert_eq!(*seen.lock().unwrap(), [true, false]);

    let spans = t.wait_for(4).await;
    let find = |kind: SpanKind, method: &str| {
        spans
            .iter()
            .find(|s| s.span_kind == kind && s.name.ends_with(method))
            .unwrap()
    };
    let unary_server = find(SpanKind::Server, "/Unary");
    assert_eq!(
        attr_str(unary_server, "rpc.response.status_code").as_deref(),
        Some("NOT_FOUND")
    );
    assert!(!is_error(unary_server), "NOT_FOUND is the caller's problem");
    assert!(is_error(find(SpanKind::Client, "/Unary")));
    for kind in [SpanKind::Server, SpanKind::Client] {
        let span = find(kind.clone(), "/ServerStream");
        assert_eq!(
            attr_str(span, "rpc.response.status_code").as_deref(),
            Some("INTERNAL"),
            "{kind:?}"
        );
        assert!(is_error(span), "{kind:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn deadline_exceeded() {
    let t = Telemetry::install();
    let (mut client, _) = pair(GrpcServerLayer::new(), GrpcClientLayer::new()).await;
    let mut call = tonic::Request::new(EchoRequest {
        delay_ms: 400,
        ..request("slow")
    });
    call.set_timeout(Duration::from_millis(50));
    let status = client
        .unary(call)
        .with_context(parent("01", &[]))
        .await
        .unwrap_err();
    // tonic's server gives up when the caller's deadline passes and answers CANCELLED.
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    let spans = t.wait_for(2).await;
    let server_span = one(&spans, SpanKind::Server);
    assert_eq!(
        attr_str(server_span, "rpc.response.status_code").as_deref(),
        Some("DEADLINE_EXCEEDED"),
        "the server span knows the deadline passed"
    );
    assert!(is_error(server_span));
    assert_eq!(events(server_span, "rpc.cancelled").len(), 1);
    let took = server_span
        .end_time
        .duration_since(server_span.start_time)
        .unwrap();
    assert!(
        took < Duration::from_millis(300),
        "{took:?}: ends at the deadline"
    );
    let client_span = one(&spans, SpanKind::Client);
    assert_eq!(
        attr_str(client_span, "rpc.response.status_code").as_deref(),
        Some("CANCELLED"),
        "the client span records the status the caller saw"
    );
    assert!(is_error(client_span));
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_that_cancels_is_recorded_on_both_sides() {
    let t = Telemetry::install();
    let (mut client, _) = pair(GrpcServerLayer::new(), GrpcClientLayer::new()).await;
    let call = client
        .unary(EchoRequest {
            delay_ms: 500,
            ..request("slow")
        })
        .with_context(parent("01", &[]));
    assert!(
        tokio::time::timeout(Duration::from_millis(60), call)
            .await
            .is_err()
    );
    let spans = t.wait_for(2).await;
    let client_span = one(&spans, SpanKind::Client);
    assert_eq!(
        attr_str(client_span, "rpc.response.status_code").as_deref(),
        Some("CANCELLED")
    );
    assert_eq!(events(client_span, "rpc.cancelled").len(), 1);
    let server_span = one(&spans, SpanKind::Server);
    assert_eq!(
        attr_str(server_span, "rpc.response.status_code").as_deref(),
        Some("CANCELLED")
    );
    assert_eq!(events(server_span, "rpc.cancelled").len(), 1);
    assert!(
        !is_error(server_span),
        "a cancelled call is not the server's failure"
    );
    let took = server_span
        .end_time
        .duration_since(server_span.start_time)
        .unwrap();
    assert!(
        took < Duration::from_millis(400),
        "{took:?}: ends when the client goes away"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_connection_is_unavailable() {
    let t = Telemetry::install();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let mut client = EchoClient::new(
        ServiceBuilder::new()
            .layer(GrpcClientLayer::new())
            .service(channel),
    );
    let status = client
        .unary(request("x"))
        .with_context(parent("01", &[]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    let spans = t.wait_for(1).await;
    let span = one(&spans, SpanKind::Client);
    assert_eq!(
        attr_str(span, "rpc.response.status_code").as_deref(),
        Some("UNAVAILABLE")
    );
    assert!(is_error(span));
    assert_eq!(events(span, "exception").len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn the_interceptor_sends_the_current_context() {
    let t = Telemetry::install();
    let addr = serve_grpc(
        Server::builder()
            .layer(GrpcServerLayer::new())
            .add_service(echo_server()),
    )
    .await;
    let mut client =
        EchoClient::with_interceptor(channel(addr).await, TraceContextInterceptor::new());
    let baggage = [("tracestate", "vendor=abc"), ("baggage", "tenant=acme")];
    let reply = client
        .unary(request("hi"))
        .with_context(parent("01", &baggage))
        .await
        .unwrap()
        .into_inner();
    // No client span: the server's parent is the caller's span.
    assert_eq!(reply.metadata["traceparent"], traceparent("01"));
    assert_eq!(reply.metadata["tracestate"], "vendor=abc");
    assert!(
        !reply.metadata.contains_key("baggage"),
        "withheld by default"
    );
    let spans = t.wait_for(1).await;
    let server_span = one(&spans, SpanKind::Server);
    assert_eq!(server_span.parent_span_id.to_string(), SPAN);
    assert!(of_kind(&spans, SpanKind::Client).is_empty());

    let mut client = EchoClient::with_interceptor(
        channel(addr).await,
        TraceContextInterceptor::new().send_baggage(true),
    );
    let reply = client
        .unary(request("hi"))
        .with_context(parent("01", &baggage))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.metadata["baggage"], "tenant=acme");
}

#[tokio::test(flavor = "current_thread")]
async fn tracestate_and_baggage_travel_in_metadata() {
    let t = Telemetry::install();
    let (mut client, _) = pair(
        GrpcServerLayer::new(),
        GrpcClientLayer::new().send_baggage(true),
    )
    .await;
    let extra = [
        ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        ("baggage", "tenant=acme,user.id=42;p=1"),
    ];
    let reply = client
        .unary(request("hi"))
        .with_context(parent("01", &extra))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.metadata["tracestate"], extra[0].1, "unchanged");
    assert_eq!(reply.metadata["baggage"], extra[1].1, "unchanged");
    t.wait_for(2).await;

    // Without send_baggage, baggage stays home; the tracestate still goes.
    let (mut client, _) = pair(GrpcServerLayer::new(), GrpcClientLayer::new()).await;
    let reply = client
        .unary(request("hi"))
        .with_context(parent("01", &extra))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.metadata["tracestate"], extra[0].1);
    assert!(!reply.metadata.contains_key("baggage"));
}

#[tokio::test(flavor = "current_thread")]
async fn health_checks_are_not_traced_unless_asked() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let t = Telemetry::install();
    for trace_them in [false, true] {
        let (_reporter, health) = tonic_health::server::health_reporter();
        let addr = serve_grpc(
            Server::builder()
                .layer(GrpcServerLayer::new().trace_health_checks(trace_them))
                .add_service(health)
                .add_service(echo_server()),
        )
        .await;
        let mut client = HealthClient::new(
            ServiceBuilder::new()
                .layer(GrpcClientLayer::new().trace_health_checks(trace_them))
                .service(channel(addr).await),
        );
        client
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .with_context(parent("01", &[]))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let spans = t.spans();
        if trace_them {
            assert_eq!(spans.len(), 2);
            assert!(
                spans
                    .iter()
                    .all(|s| s.name == "grpc.health.v1.Health/Check")
            );
        } else {
            assert!(spans.is_empty(), "{spans:#?}");
        }
    }

    // A filter of one's own; the skipped call still carries the context.
    let layer = GrpcServerLayer::new()
        .filter(|r: &http::Request<tonic::body::Body>| !r.uri().path().ends_with("/Unary"));
    let (mut client, _) = pair(layer, GrpcClientLayer::new()).await;
    t.exporter.reset();
    let reply = client
        .unary(request("hi"))
        .with_context(parent("01", &[]))
        .await
        .unwrap()
        .into_inner();
    let spans = t.wait_for(1).await;
    assert_eq!(spans.len(), 1, "only the client span");
    let client_span = one(&spans, SpanKind::Client);
    assert_eq!(
        reply.outgoing,
        format!("00-{TRACE}-{}-01", client_span.span_context.span_id()),
        "the filtered call's handler still continues the trace"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_trace_metadata_starts_a_new_root() {
    let t = Telemetry::install();
    let (_, addr) = pair(GrpcServerLayer::new(), GrpcClientLayer::new()).await;
    let (sampled, unsampled) = (traceparent("01"), traceparent("00"));
    let long = format!("00-{TRACE}-{SPAN}-01{}", "0".repeat(600));
    let bad: Vec<Vec<(&str, &[u8])>> = vec![
        vec![("traceparent", b"garbage")],
        vec![(
            "traceparent",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        )],
        vec![(
            "traceparent",
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        )],
        vec![("traceparent", long.as_bytes())],
        vec![(
            "traceparent",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-\xff1",
        )],
        vec![
            ("traceparent", sampled.as_bytes()),
            ("traceparent", unsampled.as_bytes()),
        ],
        vec![
            ("traceparent", sampled.as_bytes()),
            ("tracestate", b"a=\xff,=b,,"),
        ],
    ];
    for (i, headers) in bad.iter().enumerate() {
        t.exporter.reset();
        // Sent by a plain channel: the client layer would replace the metadata.
        let mut plain = EchoClient::new(channel(addr).await);
        let mut call = tonic::Request::new(request("hi"));
        for (k, v) in headers {
            call.metadata_mut()
                .append(*k, tonic::metadata::MetadataValue::try_from(*v).unwrap());
        }
        let reply = plain.unary(call).await.unwrap().into_inner();
        assert_eq!(reply.message, "hi", "case {i}: the call goes on");
        let spans = t.wait_for(1).await;
        let server_span = one(&spans, SpanKind::Server);
        if i == 6 {
            // A valid traceparent with a broken tracestate: the trace continues, the
            // tracestate is dropped.
            assert_eq!(server_span.span_context.trace_id().to_string(), TRACE);
            assert_eq!(server_span.span_context.trace_state().header(), "");
        } else {
            assert_eq!(
                server_span.parent_span_id,
                opentelemetry::trace::SpanId::INVALID,
                "case {i}: a new root"
            );
            assert_ne!(
                server_span.span_context.trace_id().to_string(),
                TRACE,
                "case {i}"
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn trust_policies_at_a_public_endpoint() {
    use opentelemetry_sdk::trace::Sampler;
    let t = Telemetry::install();

    // NewRoot: a new trace, linked to the caller's span.
    let layer = GrpcServerLayer::new().trust_policy(TrustPolicy::NewRoot);
    let addr = serve_grpc(Server::builder().layer(layer).add_service(echo_server())).await;
    let mut client =
        EchoClient::with_interceptor(channel(addr).await, TraceContextInterceptor::new());
    client
        .unary(request("hi"))
        .with_context(parent("01", &[]))
        .await
        .unwrap();
    let spans = t.wait_for(1).await;
    let span = one(&spans, SpanKind::Server);
    assert_ne!(span.span_context.trace_id().to_string(), TRACE);
    assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert_eq!(span.links.len(), 1);
    assert_eq!(span.links[0].span_context.trace_id().to_string(), TRACE);

    // OwnSampling: a caller's sampled flag does not force a span.
    t.exporter.reset();
    let layer = GrpcServerLayer::new()
        .trust_policy(TrustPolicy::OwnSampling)
        .sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)));
    let addr = serve_grpc(Server::builder().layer(layer).add_service(echo_server())).await;
    let mut client =
        EchoClient::with_interceptor(channel(addr).await, TraceContextInterceptor::new());
    let reply = client
        .unary(request("hi"))
        .with_context(parent("01", &[]))
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(t.spans().is_empty());
    assert!(
        reply.outgoing.starts_with(&format!("00-{TRACE}-")) && reply.outgoing.ends_with("-00"),
        "same trace, our decision: {}",
        reply.outgoing
    );
}

#[tokio::test(flavor = "current_thread")]
async fn direct_spans_and_older_conventions() {
    let t = Telemetry::install();
    let server = GrpcServerLayer::new()
        .tracer_provider(&t.provider)
        .conventions(RpcConventions::Old);
    let client = GrpcClientLayer::new()
        .tracer_provider(&t.provider)
        .conventions(RpcConventions::Both);
    let (mut client, _) = pair(server, client).await;
    client
        .unary(with_code(Code::NotFound))
        .with_context(parent("01", &[]))
        .await
        .unwrap_err();
    let spans = t.wait_for(2).await;
    let server_span = one(&spans, SpanKind::Server);
    let client_span = one(&spans, SpanKind::Client);
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id()
    );
    assert_eq!(client_span.parent_span_id.to_string(), SPAN);
    assert_eq!(server_span.instrumentation_scope.name(), "tracewire-tonic");

    // Old: rpc.system, rpc.service, rpc.method = Method, numeric status.
    assert_eq!(attr_str(server_span, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        attr_str(server_span, "rpc.service").as_deref(),
        Some("test.echo.v1.Echo")
    );
    assert_eq!(
        attr_str(server_span, "rpc.method").as_deref(),
        Some("Unary")
    );
    assert_eq!(
        attr(server_span, "rpc.grpc.status_code"),
        Some(&Value::I64(5))
    );
    assert_eq!(attr(server_span, "rpc.system.name"), None);
    assert_eq!(attr(server_span, "rpc.response.status_code"), None);
    // Both: every name, rpc.method holding the current value.
    assert_eq!(
        attr_str(client_span, "rpc.system.name").as_deref(),
        Some("grpc")
    );
    assert_eq!(attr_str(client_span, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        attr_str(client_span, "rpc.method").as_deref(),
        Some("test.echo.v1.Echo/Unary")
    );
    assert_eq!(
        attr_str(client_span, "rpc.service").as_deref(),
        Some("test.echo.v1.Echo")
    );
    assert_eq!(
        attr(client_span, "rpc.grpc.status_code"),
        Some(&Value::I64(5))
    );
    assert_eq!(
        attr_str(client_span, "rpc.response.status_code").as_deref(),
        Some("NOT_FOUND")
    );
    assert!(is_error(client_span));
    assert!(!is_error(server_span));
}

#[tokio::test(flavor = "current_thread")]
async fn a_gateway_makes_one_trace_http_to_grpc() {
    use axum::routing::get;
    use tracewire_http::server::HttpServerLayer;
    let t = Telemetry::install();
    let (grpc_client, _) = pair(GrpcServerLayer::new(), GrpcClientLayer::new()).await;
    let app = axum::Router::new()
        .route(
            "/orders/{id}",
            get(move || {
                let mut client = grpc_client.clone();
                async move {
                    let reply = client.unary(request("reserve")).await.unwrap().into_inner();
                    reply.message
                }
            }),
        )
        .layer(HttpServerLayer::new());
    let addr = tracewire_tests::serve(app).await;
    let (response, body) = tracewire_tests::fetch(
        addr,
        "/orders/7",
        &[("traceparent", traceparent("01").as_bytes())],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(body, "reserve");
    let spans = t.wait_for(3).await;
    let http_span = spans.iter().find(|s| s.name == "GET /orders/{id}").unwrap();
    let grpc_client_span = one(&spans, SpanKind::Client);
    let grpc_server_span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server && s.name == "test.echo.v1.Echo/Unary")
        .unwrap();
    assert_eq!(http_span.parent_span_id.to_string(), SPAN);
    assert_eq!(
        grpc_client_span.parent_span_id,
        http_span.span_context.span_id()
    );
    assert_eq!(
        grpc_server_span.parent_span_id,
        grpc_client_span.span_context.span_id()
    );
    for span in [http_span, grpc_client_span, grpc_server_span] {
        assert_eq!(span.span_context.trace_id().to_string(), TRACE);
    }
}
