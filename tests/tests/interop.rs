//! Interoperability with an independent implementation: the OpenTelemetry Python SDK as the
//! upstream client and the downstream server around `w3c-test-service` (one of our examples),
//! for W3C trace context, B3 (single and multi-header) and Jaeger.
//!
//! Python comes from the virtualenv `scripts/test.sh` makes (`target/interop-venv`, from
//! `tests/interop/requirements.txt`), or from `TRACEWIRE_PYTHON`. If it is missing the test
//! fails and says how to make it: it is never skipped.

use std::path::PathBuf;

use opentelemetry::trace::SpanKind;
use serde_json::Value;
use tracewire_propagation::Propagator;
use tracewire_tests::{Telemetry, serve};

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("TRACEWIRE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/interop-venv/bin/python"));
    assert!(
        python.exists(),
        "no Python with the OpenTelemetry SDK at {}: run `bash scripts/test.sh` (it makes \
         target/interop-venv), or `python3 -m venv target/interop-venv && \
         target/interop-venv/bin/pip install -r tests/interop/requirements.txt` (needs \
         python3 with venv: `apt-get install python3-venv`), or point TRACEWIRE_PYTHON at one",
        python.display()
    );
    python
}

/// Runs the Python side against our service speaking `propagators`; returns its report and
/// our spans.
async fn run(
    propagators: &str,
    format: &str,
    unsampled: bool,
) -> (Value, Vec<opentelemetry_sdk::trace::SpanData>) {
    let t = Telemetry::install();
    let addr = serve(w3c_test_service::app(
        Propagator::from_names(propagators).unwrap(),
    ))
    .await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/interop.py");
    let mut command = tokio::process::Command::new(python());
    command
        .arg(script)
        .args(["--service", &format!("http://{addr}/"), "--format", format]);
    if unsampled {
        command.arg("--unsampled");
    }
    let output = command.output().await.expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    let spans = t.wait_for(2).await;
    (report, spans)
}

fn check(report: &Value, spans: &[opentelemetry_sdk::trace::SpanData], sampled: bool) {
    let up = &report["upstream"];
    let down = &report["downstream"];
    assert_eq!(report["status"], 200, "{report:#}");
    assert_eq!(down["valid"], true, "{report:#}");
    assert_eq!(
        down["trace_id"], up["trace_id"],
        "trace id continuity: {report:#}"
    );
    assert_ne!(
        down["parent_span_id"], up["span_id"],
        "our span sits between: {report:#}"
    );
    assert_eq!(down["sampled"], Value::Bool(sampled), "{report:#}");
    assert_eq!(down["body"], "{\"seq\":1}", "{report:#}");
    assert_eq!(down["baggage"]["tenant"], "acme", "{report:#}");
    assert_eq!(down["baggage"]["user.tier"], "gold", "{report:#}");
    if sampled {
        let client = spans
            .iter()
            .find(|s| s.span_kind == SpanKind::Client)
            .unwrap_or_else(|| panic!("our client span: {spans:#?}"));
        let server = spans
            .iter()
            .find(|s| s.span_kind == SpanKind::Server)
            .unwrap();
        assert_eq!(
            down["parent_span_id"],
            client.span_context.span_id().to_string(),
            "the downstream parent is our client span"
        );
        assert_eq!(client.parent_span_id, server.span_context.span_id());
        assert_eq!(
            server.parent_span_id.to_string(),
            up["span_id"].as_str().unwrap()
        );
        assert_eq!(
            server.span_context.trace_id().to_string(),
            up["trace_id"].as_str().unwrap()
        );
    } else {
        assert!(spans.is_empty(), "unsampled: no spans, {spans:#?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn w3c_trace_context_and_baggage_with_the_python_sdk() {
    let (report, spans) = run("tracecontext,baggage", "tracecontext", false).await;
    check(&report, &spans, true);
    // tracestate and baggage reach the next hop unchanged.
    assert_eq!(
        report["downstream"]["tracestate"], "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
        "{report:#}"
    );
    assert_eq!(
        report["downstream"]["headers"]["baggage"], report["upstream"]["headers"]["baggage"],
        "{report:#}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_unsampled_python_caller_stays_unsampled() {
    let (report, spans) = run("tracecontext,baggage", "tracecontext", true).await;
    check(&report, &spans, false);
}

#[tokio::test(flavor = "current_thread")]
async fn b3_single_and_multi_with_the_python_sdk() {
    for format in ["b3", "b3multi"] {
        let (report, spans) = run(&format!("{format},baggage"), format, false).await;
        check(&report, &spans, true);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn jaeger_with_the_python_sdk() {
    let (report, spans) = run("jaeger", "jaeger", false).await;
    check(&report, &spans, true);
}
