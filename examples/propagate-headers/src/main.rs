//! Reads trace context, baggage and a tenant id from an incoming request's headers, then
//! writes them to an outgoing request, in every format `OTEL_PROPAGATORS` names (default:
//! W3C trace context and baggage).
//!
//! ```sh
//! cargo run -p example-propagate-headers
//! OTEL_PROPAGATORS=tracecontext,baggage,b3,jaeger cargo run -p example-propagate-headers
//! ```

use std::process::ExitCode;

use http::HeaderMap;
use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::TraceContextExt;
use tracewire::propagation::Propagator;
use tracewire::propagation::fields::HeaderField;

/// A custom context field: the tenant a request belongs to.
#[derive(Clone, Debug, PartialEq)]
struct TenantId(String);

fn main() -> ExitCode {
    let propagator = match Propagator::from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    }
    .with_field(HeaderField::new(
        "x-tenant-id",
        |s: &str| Some(TenantId(s.to_owned())),
        |t: &TenantId| Some(t.0.clone()),
    ));

    let mut incoming = HeaderMap::new();
    for (name, value) in [
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
        ),
        ("tracestate", "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"),
        ("baggage", "userId=alice,region=eu%20west;ttl=30"),
        ("x-tenant-id", "acme"),
    ] {
        incoming.append(name, value.parse().expect("static header value"));
    }
    println!("incoming:");
    print_headers(&incoming);

    let extracted = propagator.extract(&incoming);
    println!(
        "\nparent: {:?}  sampled: {:?}  tenant: {:?}",
        extracted.parent().map(ToString::to_string),
        extracted.parent().map(|p| p.is_sampled()),
        extracted.field::<TenantId>(),
    );
    let cx = extracted.into_context(&Context::new());
    println!(
        "baggage seen through opentelemetry: region = {:?}",
        cx.baggage().get("region").map(|v| v.as_str())
    );
    assert!(cx.span().span_context().is_remote());

    let mut outgoing = HeaderMap::new();
    propagator.inject_context(&cx, &mut outgoing);
    println!("\noutgoing:");
    print_headers(&outgoing);
    ExitCode::SUCCESS
}

fn print_headers(headers: &HeaderMap) {
    for (name, value) in headers {
        println!("  {name}: {}", value.to_str().unwrap_or("<not UTF-8>"));
    }
}
