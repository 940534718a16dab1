//! A span exporter that prints every finished trace as a tree on the terminal.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry::{Key, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Prints every finished trace as a tree: service, span name, duration, status and the few
/// attributes that matter (status codes, `error.type`, the status message).
///
/// ```text
/// trace 4bf92f3577b34da6a3ce929d0e0e4736  POST /orders  212 ms
/// └─ frontend   POST /orders                    212.4 ms
///    ├─ frontend   inventory.Inventory/Reserve   48.0 ms  OK
///    │  └─ inventory  inventory.Inventory/Reserve   45.1 ms  OK
///    └─ frontend   POST                         150.2 ms  ERROR 502
///       └─ payments   POST /charge              148.0 ms  ERROR 500 card_declined
/// ```
///
/// A trace is printed when its root span (one without a parent in this process's view) ends;
/// so use it with a simple span processor (`with_simple_exporter`), which hands spans over as
/// they end. Clones share one buffer: several tracer providers in one process (one per
/// service, each with its own `service.name`) print into the same trees.
///
/// ```
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracewire_init::TreeExporter;
///
/// let provider = SdkTracerProvider::builder()
///     .with_simple_exporter(TreeExporter::stdout())
///     .build();
/// # let _ = provider;
/// ```
#[derive(Clone)]
pub struct TreeExporter {
    shared: Arc<Mutex<Pending>>,
    sink: Sink,
    service: Arc<str>,
    show: Arc<[String]>,
}

/// Spans waiting for their trace's root, with the service that made each.
#[derive(Default)]
struct Pending {
    traces: HashMap<TraceId, Vec<(Arc<str>, SpanData)>>,
}

/// At most this many unfinished traces are held; past it, some are printed as they are.
const MAX_PENDING: usize = 1000;

impl std::fmt::Debug for TreeExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeExporter")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl TreeExporter {
    /// Prints to standard output.
    pub fn stdout() -> Self {
        Self::with_sink(|tree| {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(tree.as_bytes());
            let _ = out.flush();
        })
    }

    /// Hands each printed tree to `sink` (a test, a log file).
    pub fn with_sink(sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self {
            shared: Arc::default(),
            sink: Arc::new(sink),
            service: Arc::from("unknown_service"),
            show: Arc::from(Vec::new()),
        }
    }

    /// Also prints these attributes, `key=value`, when a span has them (`tenant.id`, say).
    ///
    /// ```
    /// use tracewire_init::TreeExporter;
    ///
    /// let tree = TreeExporter::stdout().show_attributes(["tenant.id", "payment.error"]);
    /// # let _ = tree;
    /// ```
    #[must_use]
    pub fn show_attributes<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.show = keys.into_iter().map(Into::into).collect();
        self
    }

    fn emit(&self, spans: Vec<(Arc<str>, SpanData)>) {
        if !spans.is_empty() {
            (self.sink)(&render(&spans, &self.show));
        }
    }
}

impl SpanExporter for TreeExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut ready = Vec::new();
        if let Ok(mut pending) = self.shared.lock() {
            for span in batch {
                let trace_id = span.span_context.trace_id();
                let root = span.parent_span_id == SpanId::INVALID;
                let spans = pending.traces.entry(trace_id).or_default();
                spans.push((self.service.clone(), span));
                if root && let Some(spans) = pending.traces.remove(&trace_id) {
                    ready.push(spans);
                }
            }
            if pending.traces.len() > MAX_PENDING {
                let overflow: Vec<TraceId> = pending
                    .traces
                    .keys()
                    .take(pending.traces.len() - MAX_PENDING)
                    .copied()
                    .collect();
                for id in overflow {
                    if let Some(spans) = pending.traces.remove(&id) {
                        ready.push(spans);
                    }
                }
            }
        }
        for spans in ready {
            self.emit(spans);
        }
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        // Traces whose root never ended here (it lives in another process) are printed as
        // they are.
        let rest: Vec<_> = self
            .shared
            .lock()
            .map(|mut p| p.traces.drain().map(|(_, spans)| spans).collect())
            .unwrap_or_default();
        for spans in rest {
            self.emit(spans);
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(name) = resource.get(&Key::from_static_str("service.name")) {
            self.service = Arc::from(name.as_str().as_ref());
        }
    }
}

fn millis(span: &SpanData) -> f64 {
    span.end_time
        .duration_since(span.start_time)
        .unwrap_or_default()
        .as_secs_f64()
        * 1e3
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// Status, codes, what went wrong and the attributes asked for, in a few words.
fn outcome(span: &SpanData, show: &[String]) -> String {
    let mut out = String::new();
    let error = matches!(span.status, Status::Error { .. });
    if error {
        out.push_str("ERROR");
    }
    for key in ["http.response.status_code", "rpc.response.status_code"] {
        if let Some(v) = attr(span, key) {
            let _ = write!(out, "{}{v}", if out.is_empty() { "" } else { " " });
        }
    }
    if let Status::Error { description } = &span.status
        && !description.is_empty()
    {
        let _ = write!(out, " {description}");
    } else if let Some(v) = attr(span, "error.type").filter(|_| error) {
        // error.type repeats the status code for HTTP errors: only a different one is news.
        let v = v.as_str();
        if !out.split(' ').any(|word| word == v) {
            let _ = write!(out, " {v}");
        }
    }
    for key in show {
        if let Some(v) = attr(span, key) {
            let _ = write!(out, "{}{key}={v}", if out.is_empty() { "" } else { "  " });
        }
    }
    out
}

/// The tree of one trace, as text.
fn render(spans: &[(Arc<str>, SpanData)], show: &[String]) -> String {
    let ids: HashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, (_, s))| (s.span_context.span_id(), i))
        .collect();
    let mut children: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
    for (i, (_, s)) in spans.iter().enumerate() {
        let parent = ids.get(&s.parent_span_id).copied();
        children.entry(parent).or_default().push(i);
    }
    for list in children.values_mut() {
        list.sort_by_key(|&i| spans[i].1.start_time);
    }
    let roots = children.get(&None).cloned().unwrap_or_default();
    let name_width = spans.iter().map(|(_, s)| s.name.len()).max().unwrap_or(0);

    let mut out = String::new();
    let first = roots.first().map(|&i| &spans[i].1);
    let _ = writeln!(
        out,
        "trace {}  {}  {:.0} ms",
        spans[0].1.span_context.trace_id(),
        first.map_or("", |s| s.name.as_ref()),
        first.map_or(0.0, millis)
    );
    // Walk the tree first, then align the columns.
    let mut rows: Vec<(String, usize)> = Vec::with_capacity(spans.len());
    let mut stack: Vec<(usize, String, bool)> = roots
        .iter()
        .rev()
        .enumerate()
        .map(|(n, &i)| (i, String::new(), n == 0))
        .collect();
    while let Some((i, prefix, last)) = stack.pop() {
        let branch = if last { "└─ " } else { "├─ " };
        rows.push((format!("{prefix}{branch}{}", spans[i].0), i));
        let child_prefix = format!("{prefix}{}", if last { "   " } else { "│  " });
        if let Some(kids) = children.get(&Some(i)) {
            for (n, &k) in kids.iter().enumerate().rev() {
                stack.push((k, child_prefix.clone(), n == kids.len() - 1));
            }
        }
    }
    let first_width = rows
        .iter()
        .map(|(head, _)| head.chars().count())
        .max()
        .unwrap_or(0);
    for (head, i) in rows {
        let span = &spans[i].1;
        let pad = first_width - head.chars().count();
        let _ = writeln!(
            out,
            "{head}{:pad$}  {:<name_width$}  {:>8.1} ms  {}",
            "",
            span.name,
            millis(span),
            outcome(span, show)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    #[test]
    fn prints_one_tree_per_trace_with_services_and_outcomes() {
        let printed = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = printed.clone();
        let tree = TreeExporter::with_sink(move |t| sink.lock().unwrap().push(t.to_owned()));
        let provider = |service: &'static str| {
            SdkTracerProvider::builder()
                .with_resource(Resource::builder().with_service_name(service).build())
                .with_simple_exporter(tree.clone())
                .build()
        };
        let (front, back) = (provider("frontend"), provider("payments"));
        let (ft, bt) = (front.tracer("t"), back.tracer("t"));
        let root = ft.start("POST /orders");
        let cx = Context::new().with_span(root);
        let client = ft.start_with_context("POST", &cx);
        let ccx = cx.with_span(client);
        let mut server = bt.start_with_context("POST /charge", &ccx);
        server.set_attribute(KeyValue::new("http.response.status_code", 500));
        server.set_status(opentelemetry::trace::Status::error("card_declined"));
        server.end();
        ccx.span()
            .set_attribute(KeyValue::new("http.response.status_code", 502));
        ccx.span().end();
        cx.span().end();
        let printed = printed.lock().unwrap();
        assert_eq!(printed.len(), 1);
        let lines: Vec<&str> = printed[0].lines().collect();
        assert!(
            lines[0].starts_with("trace ") && lines[0].contains("POST /orders"),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("└─ frontend"), "{lines:?}");
        assert!(lines[2].starts_with("   └─ frontend"), "{lines:?}");
        assert!(lines[2].ends_with("502"), "{lines:?}");
        assert!(lines[3].starts_with("      └─ payments"), "{lines:?}");
        assert!(lines[3].ends_with("ERROR 500 card_declined"), "{lines:?}");
        // The name column is aligned whatever the depth.
        let column = |l: &str| l[..l.find("POST").unwrap()].chars().count();
        assert_eq!(column(lines[1]), column(lines[3]), "{lines:?}");
    }
}
