//! `cargo run -p tracewire-demo`: three traced services in one process, a handful of orders
//! through them, every trace printed as a tree, then a per-route table (count, p50, p99,
//! errors) read from the layers' metrics. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the same
//! spans and metrics also go over OTLP to a collector (Jaeger, Tempo, an OpenTelemetry
//! Collector).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracewire_demo::{ORDERS, Providers, RouteTable, propagator, send, start};
use tracewire_init::{Exporter, MetricExporter, Setup, TreeExporter};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let printed = Arc::new(Mutex::new(0usize));
    let counter = printed.clone();
    let tree = TreeExporter::with_sink(move |tree| {
        println!("{tree}");
        *counter.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    })
    .show_attributes(["tenant.id", "user.tier", "payment.error"]);
    let mut exporters = vec![Exporter::Tree];
    let otlp = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok()
        || std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_ok();
    if otlp {
        exporters.push(Exporter::Otlp);
    }
    let mut telemetry = Setup::new()
        .service_name("frontend")
        .exporters(exporters)
        .tree_exporter(tree)
        // Metrics go over OTLP with the spans; the table below reads them in process.
        .metric_exporters(if otlp {
            vec![MetricExporter::Otlp]
        } else {
            Vec::new()
        })
        .log_filter("warn,tracewire_demo=info")
        .install()?;
    let table = RouteTable::default();
    let meters = [
        telemetry.service_meter_provider_with("frontend", table.reader("frontend"))?,
        telemetry.service_meter_provider_with("inventory", table.reader("inventory"))?,
        telemetry.service_meter_provider_with("payments", table.reader("payments"))?,
    ];
    let providers = Providers {
        frontend: telemetry.provider().clone(),
        inventory: telemetry.service_provider("inventory")?,
        payments: telemetry.service_provider("payments")?,
        meters: Some(meters.clone()),
    };
    let propagator = propagator(telemetry.propagator());
    let topology = start(&providers, &propagator).await;
    println!(
        "frontend http://{}  inventory grpc://{}  payments http://{}{}\n",
        topology.frontend,
        topology.inventory,
        topology.payments,
        if otlp {
            "  (also exporting over OTLP)"
        } else {
            ""
        }
    );

    let client = reqwest::Client::new();
    for order in &ORDERS {
        let before = *printed.lock().unwrap_or_else(|e| e.into_inner());
        println!("POST /orders ({})", order.label);
        let status = send(&client, &topology, order).await;
        println!("-> {status}");
        // The frontend's span ends once its response body has been sent: wait for its tree.
        for _ in 0..100 {
            if *printed.lock().unwrap_or_else(|e| e.into_inner()) > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let shown = *printed.lock().unwrap_or_else(|e| e.into_inner());
    for meter in &meters {
        meter.force_flush()?;
    }
    println!("per route, from the metrics:\n{}", table.render());
    drop(telemetry); // flushes (and exports over OTLP, when configured)
    if shown < ORDERS.len() {
        return Err(format!("only {shown} of {} traces printed", ORDERS.len()).into());
    }
    Ok(())
}
