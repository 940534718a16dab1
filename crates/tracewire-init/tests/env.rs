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

/// The error of a strict set-up (bad values are errors), and the same value's warning in the
/// default, lenient set-up, which must name the variable in the same words.
fn error(vars: &[(&str, &str)]) -> String {
    let message = setup(vars).strict(true).build().unwrap_err().to_string();
    let lenient = setup(vars)
        .build()
        .expect("lenient: a warning and the default");
    let warnings: Vec<String> = lenient.warnings().iter().map(ToString::to_string).collect();
    assert!(warnings.contains(&message), "{message} not in {warnings:?}");
    message
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
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml")],
            "OTEL_EXPORTER_OTLP_PROTOCOL=\"http/xml\"",
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
            &[("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/xml")][..],
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=\"http/xml\"",
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

#[test]
fn bad_values_are_warned_about_and_replaced_by_their_defaults() {
    let built = setup(&[
        ("OTEL_TRACES_EXPORTER", "tree, carrier-pigeon,,"),
        ("OTEL_PROPAGATORS", "TraceContext, nope ,baggage,"),
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "-5"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=a,oops"),
        ("OTEL_SDK_DISABLED", "maybe"),
        ("RUST_LOG", "info,=="),
    ])
    .build()
    .unwrap();
    let warned: Vec<String> = built.warnings().iter().map(ToString::to_string).collect();
    for variable in [
        "OTEL_TRACES_EXPORTER=\"tree, carrier-pigeon,,\"",
        "OTEL_PROPAGATORS=",
        "OTEL_TRACES_SAMPLER_ARG=\"2\"",
        "OTEL_METRIC_EXPORT_INTERVAL=\"-5\"",
        "OTEL_RESOURCE_ATTRIBUTES=\"team=a,oops\"",
        "OTEL_SDK_DISABLED=\"maybe\"",
        "RUST_LOG=",
    ] {
        assert_eq!(
            warned.iter().filter(|w| w.starts_with(variable)).count(),
            1,
            "{variable}: {warned:#?}"
        );
    }
    assert_eq!(warned.len(), 7, "{warned:#?}");
    // The known parts are kept: case-insensitive names, spaces and empty entries ignored.
    assert_eq!(built.propagator().formats().len(), 2);
    assert!(!built.is_disabled());
}

#[test]
fn case_insensitive_names_and_the_resource() {
    let built = setup(&[
        ("OTEL_TRACES_EXPORTER", "OTLP"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "HTTP/PROTOBUF"),
        ("OTEL_PROPAGATORS", "B3,TraceContext"),
        ("OTEL_TRACES_SAMPLER", "ParentBased_Always_Off"),
        ("OTEL_METRICS_EXPORTER", "Prometheus"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attributes,team=a",
        ),
        ("OTEL_SERVICE_NAME", "from-service-name"),
    ])
    .strict(true)
    .build()
    .unwrap();
    assert!(built.warnings().is_empty());
    assert_eq!(built.propagator().formats().len(), 2);
    let (provider, prometheus) = built.meter_provider(None).unwrap();
    let endpoint = prometheus.expect("prometheus, in capitals");
    record_one(&provider);
    let text = endpoint.render();
    // The resource: OTEL_SERVICE_NAME over the attribute, and what the SDK is.
    assert!(
        text.contains(r#"service_name="from-service-name""#),
        "{text}"
    );
    assert!(text.contains(r#"telemetry_sdk_language="rust""#), "{text}");
    assert!(
        text.contains(r#"telemetry_sdk_name="opentelemetry""#),
        "{text}"
    );
    assert!(text.contains(r#"team="a""#), "{text}");
    // The host, the OS and the process; never the command line.
    assert!(text.contains("os_type="), "{text}");
    assert!(text.contains("host_arch="), "{text}");
    assert!(
        text.contains(&format!(r#"process_pid="{}""#, std::process::id())),
        "{text}"
    );
    assert!(!text.contains("process_command"), "{text}");

    // No service name at all: `unknown_service:<executable>`.
    let built = setup(&[("OTEL_METRICS_EXPORTER", "prometheus")])
        .build()
        .unwrap();
    let (provider, endpoint) = built.meter_provider(None).unwrap();
    record_one(&provider);
    let text = endpoint.unwrap().render();
    let exe = std::env::current_exe().unwrap();
    let exe = exe.file_stem().unwrap().to_string_lossy();
    assert!(
        text.contains(&format!(r#"service_name="unknown_service:{exe}""#)),
        "{text}"
    );
}

#[test]
fn the_sdk_can_be_disabled() {
    let printed = std::sync::Arc::new(std::sync::Mutex::new(0usize));
    let sink = printed.clone();
    let built = setup(&[
        ("OTEL_SDK_DISABLED", "TRUE"),
        ("OTEL_TRACES_EXPORTER", "console"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
    ])
    .tree_exporter(TreeExporter::with_sink(move |_| {
        *sink.lock().unwrap() += 1;
    }))
    .build()
    .unwrap();
    assert!(built.is_disabled());
    let provider = built.provider(None).unwrap();
    provider.tracer("t").in_span("work", |_| {});
    assert_eq!(*printed.lock().unwrap(), 0, "nothing exported");
    assert!(
        built.meter_provider(None).unwrap().1.is_none(),
        "no exporter"
    );
    // New traces are not sampled; a caller's decision still is followed.
    let decision = built.sampler().should_sample(
        None,
        opentelemetry::trace::TraceId::from_bytes([1; 16]),
        "root",
        &opentelemetry::trace::SpanKind::Server,
        &[],
        &[],
    );
    assert_eq!(
        decision.decision,
        opentelemetry_sdk::trace::SamplingDecision::Drop
    );
}

/// Records one value, so that the Prometheus text has the resource's `target_info`.
fn record_one(provider: &opentelemetry_sdk::metrics::SdkMeterProvider) {
    use opentelemetry::metrics::MeterProvider as _;
    provider.meter("t").u64_counter("one").build().add(1, &[]);
}

#[test]
fn span_limits_and_batch_settings_come_through_the_lookup() {
    use opentelemetry::KeyValue;
    use opentelemetry::trace::Span as _;
    let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = printed.clone();
    let built = setup(&[
        ("OTEL_TRACES_EXPORTER", "console"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
        ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64"),
    ])
    .tree_exporter(
        TreeExporter::with_sink(move |t| sink.lock().unwrap().push(t.to_owned()))
            .show_attributes(["a1", "a2", "a3", "a4"]),
    )
    .build()
    .unwrap();
    let warned: Vec<String> = built.warnings().iter().map(ToString::to_string).collect();
    assert!(
        warned
            .iter()
            .any(|w| w.starts_with("OTEL_BSP_MAX_QUEUE_SIZE=\"0\"")),
        "{warned:?}"
    );
    assert!(
        warned
            .iter()
            .any(|w| w.starts_with("OTEL_BSP_SCHEDULE_DELAY=\"soon\"")),
        "{warned:?}"
    );
    assert_eq!(warned.len(), 2, "{warned:?}");
    let provider = built.provider(None).unwrap();
    let mut span = provider.tracer("t").start("limited");
    for i in 1..=4 {
        span.set_attribute(KeyValue::new(format!("a{i}"), "x"));
    }
    span.end();
    let printed = printed.lock().unwrap();
    let shown = ["a1=", "a2=", "a3=", "a4="]
        .iter()
        .filter(|a| printed[0].contains(**a))
        .count();
    assert_eq!(shown, 2, "{printed:?}");
}
