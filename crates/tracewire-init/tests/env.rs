//! Settings from variables: what each one does, and a clear error for every bad value.

use std::collections::HashMap;

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use tracewire_init::{Exporter, Setup, TreeExporter};

fn setup(vars: &[(&str, &str)]) -> Setup {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Setup::new().env(move |name| vars.get(name).cloned())
}

fn error(vars: &[(&str, &str)]) -> String {
    setup(vars).build().unwrap_err().to_string()
}

#[test]
fn every_bad_value_names_its_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("OTEL_PROPAGATORS", "tracecontext,nope")],
            "OTEL_PROPAGATORS=\"tracecontext,nope\"",
        ),
        (
            &[("OTEL_TRACES_SAMPLER", "sometimes")],
            "OTEL_TRACES_SAMPLER=\"sometimes\"",
        ),
        (
            &[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ],
            "OTEL_TRACES_SAMPLER_ARG=\"2\"",
        ),
        (
            &[("OTEL_RESOURCE_ATTRIBUTES", "team=a,oops")],
            "OTEL_RESOURCE_ATTRIBUTES=\"team=a,oops\"",
        ),
        (
            &[("OTEL_TRACES_EXPORTER", "otlp,fax")],
            "OTEL_TRACES_EXPORTER=\"otlp,fax\"",
        ),
        (&[("OTEL_TRACES_EXPORTER", "zipkin")], "not supported"),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
            "OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\"",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317")],
            "OTEL_EXPORTER_OTLP_ENDPOINT=\"localhost:4317\"",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x")],
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=\"ftp://x\"",
        ),
        (&[("RUST_LOG", "info,[[[")], "RUST_LOG=\"info,[[[\""),
    ];
    for (vars, expected) in cases {
        let message = error(vars);
        assert!(message.contains(expected), "{vars:?}: {message}");
    }
}

#[test]
fn good_values_build_and_the_resource_carries_the_service() {
    let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = printed.clone();
    let built = setup(&[
        ("OTEL_SERVICE_NAME", "checkout"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=dev,team=pay%20ments",
        ),
        ("OTEL_TRACES_EXPORTER", "console"),
        ("OTEL_PROPAGATORS", "tracecontext,baggage,b3"),
        ("OTEL_TRACES_SAMPLER", "parentbased_tracewire_rules"),
        ("OTEL_TRACES_SAMPLER_ARG", "/health=never;*=always"),
    ])
    .tree_exporter(TreeExporter::with_sink(move |t| {
        sink.lock().unwrap().push(t.to_owned())
    }))
    .build()
    .unwrap();
    assert_eq!(built.propagator().formats().len(), 3);
    let provider = built.provider(None).unwrap();
    provider.tracer("t").in_span("work", |_| {});
    let other = built.provider(Some("payments")).unwrap();
    other.tracer("t").in_span("charge", |_| {});
    let printed = printed.lock().unwrap();
    assert_eq!(printed.len(), 2);
    assert!(
        printed[0].contains("checkout") && printed[0].contains("work"),
        "{printed:?}"
    );
    assert!(
        printed[1].contains("payments") && printed[1].contains("charge"),
        "{printed:?}"
    );

    // Builder settings win over the variables.
    let built = setup(&[("OTEL_TRACES_EXPORTER", "fax")])
        .exporters([Exporter::Tree])
        .build();
    assert!(
        built.is_ok(),
        "the variable is not read when the builder set the exporters"
    );
}

#[test]
fn metric_settings_from_variables_and_their_errors() {
    for (vars, expected) in [
        (
            &[("OTEL_METRICS_EXPORTER", "otlp,statsd")][..],
            "OTEL_METRICS_EXPORTER=\"otlp,statsd\"",
        ),
        (
            &[("OTEL_METRIC_EXPORT_INTERVAL", "0")][..],
            "OTEL_METRIC_EXPORT_INTERVAL=\"0\"",
        ),
        (
            &[("OTEL_METRIC_EXPORT_INTERVAL", "soon")][..],
            "OTEL_METRIC_EXPORT_INTERVAL=\"soon\"",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "collector:4317")][..],
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=\"collector:4317\"",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json")][..],
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=\"http/json\"",
        ),
    ] {
        let message = error(vars);
        assert!(message.contains(expected), "{message}");
    }
    // `prometheus` gives an endpoint that serves what the layers record; `none` none.
    let built = setup(&[
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ])
    .build()
    .unwrap();
    let (provider, endpoint) = built.meter_provider(Some("checkout")).unwrap();
    let endpoint = endpoint.expect("a Prometheus endpoint");
    use opentelemetry::metrics::MeterProvider as _;
    provider
        .meter("test")
        .u64_counter("orders")
        .build()
        .add(3, &[]);
    let text = endpoint.render();
    assert!(text.contains("orders_total"), "{text}");
    assert!(text.contains("service_name=\"checkout\""), "{text}");
    let (_, none) = setup(&[
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ])
    .build()
    .unwrap()
    .meter_provider(None)
    .unwrap();
    assert!(none.is_none());
}
