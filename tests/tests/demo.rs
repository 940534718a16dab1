//! The demo's topology end to end: each order is one connected tree across HTTP and gRPC,
//! with baggage and the tenant field at the last hop and errors where they belong.

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracewire_demo::{ORDERS, Providers, propagator, send, start};
use tracewire_propagation::Propagator;
use tracewire_tests::{attr, attr_str};

fn provider(service: &'static str, exporter: &InMemorySpanExporter) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build())
        .with_simple_exporter(exporter.clone())
        .build()
}

struct Found<'a> {
    spans: &'a [(&'static str, SpanData)],
}

impl<'a> Found<'a> {
    fn one(&self, service: &str, kind: SpanKind, name: &str) -> &'a SpanData {
        let found: Vec<_> = self
            .spans
            .iter()
            .filter(|(s, d)| *s == service && d.span_kind == kind && d.name == name)
            .map(|(_, d)| d)
            .collect();
        assert_eq!(found.len(), 1, "{service} {kind:?} {name}");
        found[0]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_is_one_connected_tree() {
    let exporters = [(); 3].map(|()| InMemorySpanExporter::default());
    let providers = Providers {
        frontend: provider("frontend", &exporters[0]),
        inventory: provider("inventory", &exporters[1]),
        payments: provider("payments", &exporters[2]),
        meters: None,
    };
    let topology = start(&providers, &propagator(Propagator::new())).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for order in &ORDERS {
        statuses.push(send(&client, &topology, order).await);
    }
    assert_eq!(statuses, [200, 502, 200, 200]);
    // Server spans end when their bodies have been sent: wait for all 5 spans of each order.
    let all = || -> Vec<(&'static str, SpanData)> {
        ["frontend", "inventory", "payments"]
            .into_iter()
            .zip(&exporters)
            .flat_map(|(service, e)| {
                e.get_finished_spans()
                    .unwrap()
                    .into_iter()
                    .map(move |s| (service, s))
            })
            .collect()
    };
    for _ in 0..200 {
        if all().len() >= 5 * ORDERS.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let spans = all();
    assert_eq!(spans.len(), 5 * ORDERS.len());

    let mut trace_ids: Vec<_> = spans
        .iter()
        .map(|(_, s)| s.span_context.trace_id())
        .collect();
    trace_ids.sort_by_key(|t| t.to_bytes());
    trace_ids.dedup();
    assert_eq!(trace_ids.len(), ORDERS.len(), "one trace per order");

    for (n, trace_id) in trace_ids.iter().enumerate() {
        let trace: Vec<(&'static str, SpanData)> = spans
            .iter()
            .filter(|(_, s)| s.span_context.trace_id() == *trace_id)
            .cloned()
            .collect();
        assert_eq!(trace.len(), 5, "trace {n}");
        let f = Found { spans: &trace };
        let root = f.one("frontend", SpanKind::Server, "POST /orders");
        let grpc_client = f.one("frontend", SpanKind::Client, "inventory.Inventory/Reserve");
        let grpc_server = f.one("inventory", SpanKind::Server, "inventory.Inventory/Reserve");
        let http_client = f.one("frontend", SpanKind::Client, "POST");
        let payments = f.one("payments", SpanKind::Server, "POST /charge");
        // Every span's parent is the right span of the previous hop.
        assert_eq!(root.parent_span_id, opentelemetry::trace::SpanId::INVALID);
        assert_eq!(grpc_client.parent_span_id, root.span_context.span_id());
        assert_eq!(
            grpc_server.parent_span_id,
            grpc_client.span_context.span_id()
        );
        assert!(grpc_server.parent_span_is_remote);
        assert_eq!(http_client.parent_span_id, root.span_context.span_id());
        assert_eq!(payments.parent_span_id, http_client.span_context.span_id());

        // Which order is this? The declined one has errors where they belong.
        let declined =
            attr(payments, "http.response.status_code") == Some(&opentelemetry::Value::I64(500));
        if declined {
            assert!(matches!(payments.status, Status::Error { .. }));
            assert_eq!(
                attr_str(payments, "payment.error").as_deref(),
                Some("card_declined")
            );
            assert!(matches!(http_client.status, Status::Error { .. }));
            assert_eq!(
                attr(root, "http.response.status_code"),
                Some(&opentelemetry::Value::I64(502))
            );
            assert!(matches!(root.status, Status::Error { .. }));
            assert_eq!(grpc_server.status, Status::Unset, "inventory did its part");
        } else {
            for span in [root, grpc_client, grpc_server, http_client, payments] {
                assert_eq!(span.status, Status::Unset, "{}", span.name);
            }
        }
        // The tenant field reached the last hops of the order that carried it.
        let tenant = attr_str(root, "tenant.id");
        if tenant.is_some() {
            assert_eq!(tenant.as_deref(), Some("acme"));
            assert_eq!(attr_str(grpc_server, "tenant.id").as_deref(), Some("acme"));
            assert_eq!(attr_str(payments, "tenant.id").as_deref(), Some("acme"));
            // So did its baggage.
            assert_eq!(attr_str(grpc_server, "user.tier").as_deref(), Some("gold"));
            assert_eq!(attr_str(payments, "user.tier").as_deref(), Some("gold"));
        }
    }
    let tenants = spans
        .iter()
        .filter(|(s, d)| *s == "payments" && attr_str(d, "tenant.id").is_some())
        .count();
    assert_eq!(tenants, 1, "only the order that carried a tenant");
}
